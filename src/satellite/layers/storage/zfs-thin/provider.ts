import type { PoolSpec, ProviderOptions } from '../provider.js';
import { ZfsProviderBase } from '../zfs/provider.js';
import { zfsCreateSparseCommand } from './commands.js';

/**
 * ZFS_THIN storage pool: sparse zvols (`zfs create -s`, no refreservation) directly below the dataset
 * `StorDriver/ZPoolThin`, marked with `blockplane:managed=yes`. Capacity is the dataset's used + available space;
 * a volume's allocated space is its `used` (written data), so the controller can oversubscribe. Reads the same
 * `zfs list` output as ZFS (../zfs/parse.ts): a zvol is sparse when its refreservation is 0.
 */
export class ZfsThinProvider extends ZfsProviderBase {
  readonly kind = 'ZFS_THIN' as const;
  protected readonly poolProperty = 'StorDriver/ZPoolThin' as const;
  protected readonly sparse = true;

  /** Constructs without running anything; props must hold `StorDriver/ZPoolThin`. */
  constructor(pool: PoolSpec, options: ProviderOptions) {
    super(pool, options);
  }

  protected createCommand(name: string, sizeKib: bigint): string[] {
    return zfsCreateSparseCommand(this.dataset, name, sizeKib);
  }
}
