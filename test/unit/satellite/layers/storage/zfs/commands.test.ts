import { describe, expect, it } from '@jest/globals';
import {
  zfsCreateCommand,
  zfsDestroyCommand,
  zfsListPoolCommand,
  zfsListVolumesCommand,
  zfsSetVolsizeCommand,
  zvolSizeKib,
} from '../../../../../../src/satellite/layers/storage/zfs/commands.js';

describe('ZFS argv builders', () => {
  it('zfs list of the pool dataset: name, used, available, tab-separated exact bytes', () => {
    expect(zfsListPoolCommand('tank')).toEqual(['zfs', 'list', '-Hp', '-o', 'name,used,available', 'tank']);
  });

  it('zfs list of every zvol below the dataset with our marker property', () => {
    expect(zfsListVolumesCommand('tank/bp')).toEqual([
      'zfs', 'list', '-Hp', '-o', 'name,volsize,used,refer,refreservation,blockplane:managed', '-t', 'volume', '-r', 'tank/bp',
    ]);
  });

  it('zfs create: thick zvol marked as ours', () => {
    expect(zfsCreateCommand({ dataset: 'tank', name: 'pvc-1_00000', sizeKib: 1048576n, thin: false })).toEqual([
      'zfs', 'create', '-V', '1048576K', '-o', 'blockplane:managed=yes', 'tank/pvc-1_00000',
    ]);
  });

  it('zfs create -s: sparse zvol', () => {
    expect(zfsCreateCommand({ dataset: 'tank', name: 'pvc-1_00000', sizeKib: 1048576n, thin: true })).toEqual([
      'zfs', 'create', '-V', '1048576K', '-s', '-o', 'blockplane:managed=yes', 'tank/pvc-1_00000',
    ]);
  });

  it('zfs set volsize and zfs destroy (without -r, so snapshots are never destroyed along)', () => {
    expect(zfsSetVolsizeCommand('tank', 'pvc-1_00000', 2097152n)).toEqual(['zfs', 'set', 'volsize=2097152K', 'tank/pvc-1_00000']);
    expect(zfsDestroyCommand('tank', 'pvc-1_00000')).toEqual(['zfs', 'destroy', 'tank/pvc-1_00000']);
  });

  it('rounds sizes up to 16 KiB, a multiple of the default volblocksize (8 KiB before OpenZFS 2.2, 16 KiB since)', () => {
    expect([1n, 16n, 17n, 1000n, 1048576n].map(zvolSizeKib)).toEqual([16n, 16n, 32n, 1008n, 1048576n]);
    expect(zfsCreateCommand({ dataset: 'tank', name: 'x_00000', sizeKib: 1000n, thin: false })[3]).toBe('1008K');
    expect(zfsSetVolsizeCommand('tank', 'x_00000', 1001n)[2]).toBe('volsize=1008K');
  });
});
