import { ApiError, ErrorCode } from '../../../../common/api-rc.js';
import { POOL_PROP_EXAMPLES } from '../../../../common/storage.js';
import type { ProviderKind } from '../../../../common/vocabulary.js';
import { CommandError, type CommandResult } from '../../../exec/command-runner.js';
import type { ActualVolume, Capacity, PoolSpec, ProviderOptions, StorageProvider, VolumeSpec } from '../provider.js';
import {
  BLOCKPLANE_ZFS_PROPERTY,
  BLOCKPLANE_ZFS_VALUE,
  zfsCreateCommand,
  zfsDestroyCommand,
  zfsListPoolCommand,
  zfsListVolumesCommand,
  zfsSetVolsizeCommand,
} from './commands.js';
import { isDatasetMissing, isSparseZvol, parseZfsPoolList, parseZfsVolumeList, type ZvolRecord } from './parse.js';

/** `zfs list` only reads; a minute is plenty even for pools with many datasets. */
export const ZFS_REPORT_TIMEOUT_MS = 60_000;
/** create/set/destroy wait for a transaction group sync, which a busy pool can delay for many seconds. */
export const ZFS_CHANGE_TIMEOUT_MS = 180_000;

/** Pool properties that name the dataset of a ZFS or ZFS_THIN pool. */
export type ZfsPoolProperty = 'StorDriver/ZPool' | 'StorDriver/ZPoolThin';

/**
 * What ZFS and ZFS_THIN have in common: zvols directly below the dataset named by the pool property, marked with the
 * user property `blockplane:managed=yes`, read with one `zfs list` per operation, grown with `zfs set volsize`.
 * Subclasses choose the pool property, thick or sparse creation, and which zvols are theirs.
 *
 * Every mutating operation first reads the actual state and acts only on the difference, so the reconcile loop may
 * repeat any call (STYLE rule 7).
 */
export abstract class ZfsProviderBase implements StorageProvider {
  abstract readonly kind: ProviderKind;
  /** The pool property naming the dataset (LINSTOR: `StorDriver/ZPool` for ZFS, `StorDriver/ZPoolThin` for ZFS_THIN). */
  protected abstract readonly poolProperty: ZfsPoolProperty;
  /** Whether this pool's zvols are sparse (`zfs create -s`). */
  protected abstract readonly sparse: boolean;

  /**
   * @param pool the storage pool; its props must hold the pool property (checked when first needed, so that a
   *   misconfigured pool still yields a provider whose check() explains the problem)
   * @param options the command runner (`lvmMetadataOnly` does not apply to ZFS)
   */
  constructor(
    readonly pool: PoolSpec,
    protected readonly options: ProviderOptions,
  ) {}

  /** argv that creates the zvol `dataset/name`, marked as ours. */
  protected abstract createCommand(name: string, sizeKib: bigint): string[];

  /** The dataset (zpool or a dataset inside it) from the pool property. */
  protected get dataset(): string {
    const key = this.poolProperty;
    const value = this.pool.props[key];
    if (value === undefined || value.trim() === '') {
      throw new ApiError({
        code: ErrorCode.INVALID_PROPERTY,
        message: `Storage pool '${this.pool.name}' (${this.pool.providerKind}) has no property ${key} (the zpool or dataset that holds its zvols).`,
        field: `props["${key}"]`,
        correction: `Set ${key} on storage pool '${this.pool.name}', e.g. ${key}=${POOL_PROP_EXAMPLES[key] ?? '<value>'}.`,
        details: { pool: this.pool.name, property: key },
      });
    }
    // A trailing slash ("tank/") would make every child name "tank//x"; zfs names never end in one.
    return value.replace(/\/+$/, '');
  }

  /** Checks that the dataset exists (`zfs list` of it). */
  async check(): Promise<void> {
    await this.readPool('check pool dataset');
  }

  /** total = used + available of the dataset, free = available (what zfs would let new zvols take), in KiB. */
  async capacity(): Promise<Capacity> {
    const pool = await this.readPool('read capacity');
    return { totalKib: (pool.usedBytes + pool.availableBytes) / 1024n, freeKib: pool.availableBytes / 1024n };
  }

  /** Our zvols directly below the dataset; foreign ones (unmarked, other kind, deeper down) are never listed. */
  async list(): Promise<ActualVolume[]> {
    const zvols = await this.readVolumes('list volumes');
    return zvols.filter((z) => this.isChild(z) && this.foreignReason(z) === null).map((z) => this.toActual(z));
  }

  /**
   * Creates the zvol, or reuses ours when it already exists: as is when at least as large as asked, grown when
   * smaller. Refuses when a zvol of that name exists that is not ours.
   */
  async create(volume: VolumeSpec): Promise<ActualVolume> {
    requirePositiveSize(volume);
    const existing = await this.findZvol(volume.name, `create volume ${volume.name}`);
    if (existing) {
      this.refuseForeign(existing, volume.name, 'create');
      if (existing.volsizeBytes >= volume.sizeKib * 1024n) return this.toActual(existing);
      await this.setVolsize(volume);
    } else {
      await this.run(this.createCommand(volume.name, volume.sizeKib), `create volume ${volume.name}`, ZFS_CHANGE_TIMEOUT_MS);
    }
    return this.readBack(volume.name, 'create');
  }

  /** Grows the zvol to at least `sizeKib`; never shrinks, and does nothing when it is already that large. */
  async resize(volume: VolumeSpec): Promise<ActualVolume> {
    requirePositiveSize(volume);
    const existing = await this.findZvol(volume.name, `resize volume ${volume.name}`);
    if (!existing) {
      throw new ApiError({
        code: ErrorCode.NOT_FOUND,
        message: `The zvol ${this.dataset}/${volume.name} of storage pool '${this.pool.name}' does not exist, so it cannot be resized.`,
        correction: 'Create the volume first.',
        details: { pool: this.pool.name, volume: volume.name },
      });
    }
    this.refuseForeign(existing, volume.name, 'resize');
    if (existing.volsizeBytes >= volume.sizeKib * 1024n) return this.toActual(existing);
    await this.setVolsize(volume);
    return this.readBack(volume.name, 'resize');
  }

  /** Destroys our zvol; no-op when there is none of that name; refuses a zvol that is not ours. */
  async delete(name: string): Promise<void> {
    const existing = await this.findZvol(name, `delete volume ${name}`);
    if (!existing) return;
    this.refuseForeign(existing, name, 'delete');
    await this.run(zfsDestroyCommand(this.dataset, name), `delete volume ${name}`, ZFS_CHANGE_TIMEOUT_MS);
  }

  /** Why `zvol` is not a volume of this pool (for refusals), or null when it is ours. */
  protected foreignReason(zvol: ZvolRecord): string | null {
    if (zvol.managed !== BLOCKPLANE_ZFS_VALUE) {
      return `it has no ${BLOCKPLANE_ZFS_PROPERTY}=${BLOCKPLANE_ZFS_VALUE} property, so blockplane did not create it`;
    }
    if (isSparseZvol(zvol) !== this.sparse) {
      return this.sparse
        ? 'it is a thick zvol (it has a refreservation), which belongs to a ZFS storage pool'
        : 'it is a sparse zvol (no refreservation), which belongs to a ZFS_THIN storage pool';
    }
    return null;
  }

  private run(argv: string[], purpose: string, timeoutMs: number): Promise<CommandResult> {
    return this.options.runner.run({ argv, purpose: `${this.pool.name}: ${purpose}`, timeoutMs });
  }

  /** Runs a `zfs list` of the dataset; a missing dataset becomes the readable {@link datasetMissing} error. */
  private async runList(argv: string[], purpose: string): Promise<string> {
    const dataset = this.dataset;
    try {
      return (await this.run(argv, purpose, ZFS_REPORT_TIMEOUT_MS)).stdout;
    } catch (error) {
      if (error instanceof CommandError && isDatasetMissing(error.stderr, dataset)) throw this.datasetMissing();
      throw error;
    }
  }

  private async readPool(purpose: string): Promise<{ usedBytes: bigint; availableBytes: bigint }> {
    const dataset = this.dataset;
    const record = parseZfsPoolList(await this.runList(zfsListPoolCommand(dataset), purpose)).find((r) => r.name === dataset);
    if (!record) throw this.datasetMissing();
    return record;
  }

  private async readVolumes(purpose: string): Promise<ZvolRecord[]> {
    return parseZfsVolumeList(await this.runList(zfsListVolumesCommand(this.dataset), purpose));
  }

  private async findZvol(name: string, purpose: string): Promise<ZvolRecord | undefined> {
    const full = `${this.dataset}/${name}`;
    return (await this.readVolumes(purpose)).find((z) => z.name === full);
  }

  /** A direct child of the dataset: `-r` also lists zvols of nested datasets, which other pools may own. */
  private isChild(zvol: ZvolRecord): boolean {
    const prefix = `${this.dataset}/`;
    return zvol.name.startsWith(prefix) && !zvol.name.slice(prefix.length).includes('/');
  }

  private async setVolsize(volume: VolumeSpec): Promise<void> {
    await this.run(zfsSetVolsizeCommand(this.dataset, volume.name, volume.sizeKib), `resize volume ${volume.name}`, ZFS_CHANGE_TIMEOUT_MS);
  }

  /** Reads the zvol back after a change, so the reported size is what zfs made of the (rounded) request. */
  private async readBack(name: string, operation: string): Promise<ActualVolume> {
    const zvol = await this.findZvol(name, `read back volume ${name}`);
    if (!zvol) {
      throw new Error(`${this.pool.name}: ${operation} of ${this.dataset}/${name} succeeded, but zfs list does not show the zvol afterwards`);
    }
    return this.toActual(zvol);
  }

  private toActual(zvol: ZvolRecord): ActualVolume {
    const name = zvol.name.slice(this.dataset.length + 1);
    return {
      name,
      sizeKib: zvol.volsizeBytes / 1024n,
      // used counts what the zvol takes from the pool: the refreservation of a thick zvol, written data of a sparse one.
      allocatedKib: zvol.usedBytes / 1024n,
      // udev's link for zvols; the node appears shortly after `zfs create` returns (callers wait for it).
      devicePath: `/dev/zvol/${zvol.name}`,
    };
  }

  private datasetMissing(): ApiError {
    const dataset = this.dataset;
    return new ApiError({
      code: ErrorCode.NOT_FOUND,
      message: `The ZFS dataset '${dataset}' of storage pool '${this.pool.name}' (${this.pool.providerKind}) does not exist on this node.`,
      field: `props["${this.poolProperty}"]`,
      correction: `Create it (zpool create ${dataset} <devices>, or zfs create ${dataset} inside an existing zpool), or set the property ${this.poolProperty} of storage pool '${this.pool.name}' to an existing zpool or dataset.`,
      details: { pool: this.pool.name, property: this.poolProperty, value: dataset },
    });
  }

  private refuseForeign(zvol: ZvolRecord, name: string, operation: 'create' | 'resize' | 'delete'): void {
    const reason = this.foreignReason(zvol);
    if (reason === null) return;
    throw new ApiError({
      code: ErrorCode.NOT_ALLOWED,
      message: `Refusing to ${operation} ${zvol.name} for storage pool '${this.pool.name}': ${reason}.`,
      correction:
        operation === 'create'
          ? `Rename or destroy the existing zvol ${zvol.name} by hand if it is no longer needed; blockplane never touches zvols it did not create.`
          : `blockplane only changes zvols it created in this pool; manage ${zvol.name} by hand.`,
      details: { pool: this.pool.name, volume: name, reason },
    });
  }
}

/**
 * ZFS (thick) storage pool: zvols with a full refreservation directly below the dataset `StorDriver/ZPool`, marked
 * with `blockplane:managed=yes`. Capacity is the dataset's used + available space.
 */
export class ZfsProvider extends ZfsProviderBase {
  readonly kind = 'ZFS' as const;
  protected readonly poolProperty = 'StorDriver/ZPool' as const;
  protected readonly sparse = false;

  /** Constructs without running anything; props must hold `StorDriver/ZPool`. */
  constructor(pool: PoolSpec, options: ProviderOptions) {
    super(pool, options);
  }

  protected createCommand(name: string, sizeKib: bigint): string[] {
    return zfsCreateCommand({ dataset: this.dataset, name, sizeKib, thin: false });
  }
}

function requirePositiveSize(volume: VolumeSpec): void {
  if (volume.sizeKib <= 0n) {
    throw ApiError.invalid(ErrorCode.INVALID_SIZE, 'sizeKib', `Volume ${volume.name} has size ${volume.sizeKib} KiB.`, 'Give a size of at least 1 KiB.');
  }
}
