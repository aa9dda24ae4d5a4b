import { describe, expect, it } from '@jest/globals';
import { zfsCreateSparseCommand } from '../../../../../../src/satellite/layers/storage/zfs-thin/commands.js';

describe('ZFS_THIN argv builders', () => {
  it('zfs create -s: a sparse zvol marked as ours, size rounded up to 16 KiB', () => {
    expect(zfsCreateSparseCommand('tank', 'pvc-1_00000', 1048575n)).toEqual([
      'zfs', 'create', '-V', '1048576K', '-s', '-o', 'blockplane:managed=yes', 'tank/pvc-1_00000',
    ]);
  });
});
