import { describe, expect, it } from '@jest/globals';
import { lvcreateThinCommand } from '../../../../../../src/satellite/layers/storage/lvm-thin/commands.js';

describe('LVM_THIN argv builders', () => {
  const request = { vg: 'vg0', thinPool: 'thinpool', name: 'pvc-1_00000', sizeKib: 1048576n };

  it('lvcreate: a thin volume of a virtual size in KiB in VG/THINPOOL, tagged', () => {
    expect(lvcreateThinCommand(request, { metadataOnly: false })).toEqual([
      'lvcreate', '-V', '1048576k', '-T', 'vg0/thinpool', '-n', 'pvc-1_00000', '--addtag', 'blockplane',
    ]);
  });

  it('metadata-only mode adds --driverloaded n after the program', () => {
    expect(lvcreateThinCommand(request, { metadataOnly: true })).toEqual([
      'lvcreate', '--driverloaded', 'n', '-V', '1048576k', '-T', 'vg0/thinpool', '-n', 'pvc-1_00000', '--addtag', 'blockplane',
    ]);
  });
});
