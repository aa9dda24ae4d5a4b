/**
 * Pure argv builders for the ZFS_THIN provider. Listing, resizing and destroying are the ZFS provider's
 * (../zfs/commands.ts); only creation differs.
 */
import { zfsCreateCommand } from '../zfs/commands.js';

/**
 * `zfs create -V <n>K -s -o blockplane:managed=yes POOL/NAME`: a sparse zvol (`-s`: no refreservation, blocks are
 * allocated on write), which is what makes the pool thin and lets the controller oversubscribe it.
 */
export function zfsCreateSparseCommand(dataset: string, name: string, sizeKib: bigint): string[] {
  return zfsCreateCommand({ dataset, name, sizeKib, thin: true });
}
