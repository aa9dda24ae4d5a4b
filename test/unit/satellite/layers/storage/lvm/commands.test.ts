import { describe, expect, it } from '@jest/globals';
import {
  lvcreateThickCommand,
  lvextendCommand,
  lvremoveCommand,
  lvsCommand,
  vgsCommand,
} from '../../../../../../src/satellite/layers/storage/lvm/commands.js';

const normal = { metadataOnly: false };
const metadataOnly = { metadataOnly: true };
const FIELDS = 'lv_name,vg_name,lv_size,lv_tags,lv_attr,pool_lv,data_percent,metadata_percent';

describe('LVM argv builders', () => {
  it('lvs: one JSON report of the whole VG in exact bytes', () => {
    expect(lvsCommand('vg0', normal)).toEqual(['lvs', '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', FIELDS, 'vg0']);
  });

  it('vgs: size and free space of one VG in exact bytes', () => {
    expect(vgsCommand('vg0', normal)).toEqual([
      'vgs', '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'vg_name,vg_size,vg_free', 'vg0',
    ]);
  });

  it('lvcreate: thick LV in KiB, tagged, stale signatures wiped without a prompt', () => {
    expect(lvcreateThickCommand({ vg: 'vg0', name: 'pvc-1_00000', sizeKib: 1048576n }, normal)).toEqual([
      'lvcreate', '--size', '1048576k', '-n', 'pvc-1_00000', '-y', '--wipesignatures', 'y', '--addtag', 'blockplane', 'vg0',
    ]);
  });

  it('lvextend: grows VG/NAME to a size in KiB', () => {
    expect(lvextendCommand({ vg: 'vg0', name: 'pvc-1_00000', sizeKib: 2097152n }, normal)).toEqual([
      'lvextend', '--size', '2097152k', 'vg0/pvc-1_00000',
    ]);
  });

  it('lvremove: forced (no prompt) removal of VG/NAME', () => {
    expect(lvremoveCommand({ vg: 'vg0', name: 'pvc-1_00000' }, normal)).toEqual(['lvremove', '-f', 'vg0/pvc-1_00000']);
  });

  it('metadata-only mode puts the global option --driverloaded n right after the program, on every command', () => {
    const request = { vg: 'vg0', name: 'r_00000', sizeKib: 4096n };
    const all = [
      lvsCommand('vg0', metadataOnly),
      vgsCommand('vg0', metadataOnly),
      lvcreateThickCommand(request, metadataOnly),
      lvextendCommand(request, metadataOnly),
      lvremoveCommand(request, metadataOnly),
    ];
    for (const argv of all) expect(argv.slice(1, 3)).toEqual(['--driverloaded', 'n']);
    expect(lvextendCommand(request, metadataOnly)).toEqual(['lvextend', '--driverloaded', 'n', '--size', '4096k', 'vg0/r_00000']);
    // ...and never in normal mode.
    for (const argv of [lvsCommand('vg0', normal), lvcreateThickCommand(request, normal), lvremoveCommand(request, normal)]) {
      expect(argv).not.toContain('--driverloaded');
    }
  });
});
