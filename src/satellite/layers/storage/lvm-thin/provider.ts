import { ApiError, ErrorCode } from '../../../../common/api-rc.js';
import type { Capacity, PoolSpec, ProviderOptions } from '../provider.js';
import { BLOCKPLANE_LV_TAG, type LvSizeRequest } from '../lvm/commands.js';
import type { LvRecord } from '../lvm/parse.js';
import { LvmProviderBase } from '../lvm/provider.js';
import { lvcreateThinCommand } from './commands.js';
import { isThinPool, isThinVolume, thinPoolCapacity, thinVolumeAllocatedKib } from './parse.js';

/**
 * LVM_THIN storage pool: thin volumes in the thin pool `StorDriver/ThinPool` of the VG `StorDriver/LvmVg`, tagged
 * `blockplane`. Capacity is the thin pool's data space (lv_size, free = lv_size x unused data_percent), as LINSTOR's
 * LvmThinProvider reports it; allocated space per volume comes from the thin volume's own data_percent. Only tagged
 * thin volumes of this very thin pool are ours: thick LVs and thin volumes of other thin pools in the same VG are not.
 */
export class LvmThinProvider extends LvmProviderBase {
  readonly kind = 'LVM_THIN' as const;

  /** Constructs without running anything; props must hold `StorDriver/LvmVg` and `StorDriver/ThinPool`. */
  constructor(pool: PoolSpec, options: ProviderOptions) {
    super(pool, options);
  }

  /** The thin pool LV inside the VG, from `StorDriver/ThinPool`. */
  protected get thinPool(): string {
    return this.requiredProp('StorDriver/ThinPool', 'the thin pool LV inside the volume group');
  }

  /** Checks that the VG exists and holds a thin pool of the configured name (one `lvs` of the VG). */
  async check(): Promise<void> {
    await this.readThinPool('check thin pool');
  }

  /** The thin pool's data size and unused data space, in KiB (rounded down). */
  async capacity(): Promise<Capacity> {
    return thinPoolCapacity(await this.readThinPool('read capacity'));
  }

  protected foreignReason(lv: LvRecord): string | null {
    if (!lv.tags.includes(BLOCKPLANE_LV_TAG)) return `the LV has no '${BLOCKPLANE_LV_TAG}' tag, so blockplane did not create it`;
    if (!isThinVolume(lv)) return 'it is not a thin volume, so it belongs to an LVM storage pool';
    if (lv.poolLv !== this.thinPool) return `it is a thin volume of thin pool '${lv.poolLv}', not of '${this.thinPool}'`;
    return null;
  }

  protected createCommand(request: LvSizeRequest): string[] {
    return lvcreateThinCommand({ ...request, thinPool: this.thinPool }, this.commandOptions);
  }

  protected allocatedKib(lv: LvRecord): bigint {
    return thinVolumeAllocatedKib(lv);
  }

  private async readThinPool(purpose: string): Promise<LvRecord> {
    const thinPool = this.thinPool;
    const lvs = await this.readLvs(purpose);
    const lv = lvs.find((candidate) => candidate.name === thinPool);
    if (!lv || !isThinPool(lv)) {
      const where = `of storage pool '${this.pool.name}' (LVM_THIN)`;
      throw new ApiError({
        code: ErrorCode.NOT_FOUND,
        message: lv
          ? `The LV ${this.vg}/${thinPool} named by StorDriver/ThinPool ${where} is not a thin pool (lv_attr '${lv.attr}').`
          : `The thin pool ${this.vg}/${thinPool} ${where} does not exist on this node.`,
        field: 'props["StorDriver/ThinPool"]',
        correction: `Create it (lvcreate -l 100%FREE -T ${this.vg}/${thinPool}), or set the property StorDriver/ThinPool of storage pool '${this.pool.name}' to an existing thin pool of volume group '${this.vg}'.`,
        details: { pool: this.pool.name, property: 'StorDriver/ThinPool', value: thinPool, volumeGroup: this.vg },
      });
    }
    return lv;
  }
}
