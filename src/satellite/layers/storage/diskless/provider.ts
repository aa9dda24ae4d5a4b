import { ImplementationError } from '../../../../common/api-rc.js';
import type { ActualVolume, Capacity, PoolSpec, ProviderOptions, StorageProvider, VolumeSpec } from '../provider.js';

/**
 * DISKLESS: the pool of resources that have no local storage (DRBD diskless clients and tie-breakers). There is
 * nothing on the host to check, create or delete, so every operation succeeds without running a command.
 *
 * Capacity is reported as 0/0. That is not "full": the controller treats DISKLESS pools as unlimited (LINSTOR does the
 * same) and never compares their capacity with a volume size, so the numbers are never used for placement.
 */
export class DisklessProvider implements StorageProvider {
  readonly kind = 'DISKLESS' as const;

  /** @param _options accepted for the common factory signature; a diskless pool runs no commands. */
  constructor(
    readonly pool: PoolSpec,
    _options?: ProviderOptions,
  ) {
    if (pool.providerKind !== 'DISKLESS') {
      throw new ImplementationError(`DISKLESS provider constructed for pool '${pool.name}' of kind ${pool.providerKind}`);
    }
  }

  /** Always passes: a diskless pool depends on nothing on the host. */
  async check(): Promise<void> {}

  /** Always 0/0; see the class comment for why that means "unlimited" to the controller. */
  async capacity(): Promise<Capacity> {
    return { totalKib: 0n, freeKib: 0n };
  }

  /** Always empty: diskless resources have no backing volumes. */
  async list(): Promise<ActualVolume[]> {
    return [];
  }

  /**
   * Nothing to create: returns a volume of size 0 without a device, because DRBD attaches a diskless volume to
   * no local disk at all.
   */
  async create(volume: VolumeSpec): Promise<ActualVolume> {
    return { name: volume.name, sizeKib: 0n, allocatedKib: 0n, devicePath: null };
  }

  /** Nothing to grow; like {@link create}, reports no local size and no device. */
  async resize(volume: VolumeSpec): Promise<ActualVolume> {
    return { name: volume.name, sizeKib: 0n, allocatedKib: 0n, devicePath: null };
  }

  /** Nothing to delete. */
  async delete(_name: string): Promise<void> {}
}
