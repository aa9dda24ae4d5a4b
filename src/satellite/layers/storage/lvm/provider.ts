import { ApiError, ErrorCode } from '../../../../common/api-rc.js';
import { POOL_PROP_EXAMPLES } from '../../../../common/storage.js';
import type { ProviderKind } from '../../../../common/vocabulary.js';
import { CommandError, type CommandResult } from '../../../exec/command-runner.js';
import type { ActualVolume, Capacity, PoolSpec, ProviderOptions, StorageProvider, VolumeSpec } from '../provider.js';
import {
  BLOCKPLANE_LV_TAG,
  lvcreateThickCommand,
  lvextendCommand,
  lvremoveCommand,
  lvsCommand,
  vgsCommand,
  type LvmCommandOptions,
  type LvSizeRequest,
} from './commands.js';
import { bytesToKib, isVolumeGroupNotFound, parseLvsReport, parseVgsReport, type LvRecord } from './parse.js';

/** Reports only read metadata; a minute covers hosts with many block devices to scan. */
export const LVM_REPORT_TIMEOUT_MS = 60_000;
/**
 * lvcreate/lvextend/lvremove change metadata and may wipe signatures or discard extents (`issue_discards`), which on
 * a large LV takes longer than a report.
 */
export const LVM_CHANGE_TIMEOUT_MS = 180_000;

/**
 * What LVM and LVM_THIN have in common: both keep their LVs in the VG named by `StorDriver/LvmVg`, read the VG with
 * one `lvs` report per operation, mark their LVs with the tag {@link BLOCKPLANE_LV_TAG} and grow with lvextend.
 * Subclasses say which LVs of the VG belong to their pool, how to create one and how to measure capacity.
 *
 * Every mutating operation first reads the actual state and acts only on the difference, so the reconcile loop may
 * repeat any call (STYLE rule 7).
 */
export abstract class LvmProviderBase implements StorageProvider {
  abstract readonly kind: ProviderKind;

  /**
   * @param pool the storage pool; its props must hold `StorDriver/LvmVg` (checked when first needed, so that a
   *   misconfigured pool still yields a provider whose check() explains the problem)
   * @param options the command runner; `lvmMetadataOnly` only in tests on hosts without device-mapper
   */
  constructor(
    readonly pool: PoolSpec,
    protected readonly options: ProviderOptions,
  ) {}

  /** Checks that the backing storage exists; throws an ApiError naming the missing VG/pool and the property to fix. */
  abstract check(): Promise<void>;

  /** Total and free KiB of the pool's backing storage. */
  abstract capacity(): Promise<Capacity>;

  /** Why `lv` is not a volume of this pool (for refusals), or null when it is ours. */
  protected abstract foreignReason(lv: LvRecord): string | null;

  /** argv that creates the LV described by `request`, tagged as ours. */
  protected abstract createCommand(request: LvSizeRequest): string[];

  /** Space the LV takes in the pool, in KiB. */
  protected abstract allocatedKib(lv: LvRecord): bigint;

  /** The volume group, from `StorDriver/LvmVg`. */
  protected get vg(): string {
    return this.requiredProp('StorDriver/LvmVg', 'the LVM volume group');
  }

  protected get commandOptions(): LvmCommandOptions {
    return { metadataOnly: this.options.lvmMetadataOnly === true };
  }

  /** Our volumes in this pool; foreign LVs (no tag, other pool, other type) are never listed. */
  async list(): Promise<ActualVolume[]> {
    const lvs = await this.readLvs('list volumes');
    return lvs.filter((lv) => this.foreignReason(lv) === null).map((lv) => this.toActual(lv));
  }

  /**
   * Creates the LV, or reuses ours when it already exists: as is when it is at least as large as asked, grown when
   * smaller (the reconcile loop may have been interrupted between create and resize). Refuses when an LV of that
   * name exists that is not ours.
   */
  async create(volume: VolumeSpec): Promise<ActualVolume> {
    requirePositiveSize(volume);
    const existing = await this.findLv(volume.name, `create volume ${volume.name}`);
    if (existing) {
      this.refuseForeign(existing, 'create');
      if (existing.sizeBytes >= volume.sizeKib * 1024n) return this.toActual(existing);
      await this.extend(volume);
    } else {
      await this.run(this.createCommand(this.request(volume)), `create volume ${volume.name}`, LVM_CHANGE_TIMEOUT_MS);
    }
    return this.readBack(volume.name, 'create');
  }

  /** Grows the LV to at least `sizeKib`; never shrinks, and does nothing when it is already that large. */
  async resize(volume: VolumeSpec): Promise<ActualVolume> {
    requirePositiveSize(volume);
    const existing = await this.findLv(volume.name, `resize volume ${volume.name}`);
    if (!existing) throw this.volumeNotFound(volume.name);
    this.refuseForeign(existing, 'resize');
    if (existing.sizeBytes >= volume.sizeKib * 1024n) return this.toActual(existing);
    await this.extend(volume);
    return this.readBack(volume.name, 'resize');
  }

  /** Removes our LV; no-op when there is no LV of that name; refuses an LV that is not ours. */
  async delete(name: string): Promise<void> {
    const existing = await this.findLv(name, `delete volume ${name}`);
    if (!existing) return;
    this.refuseForeign(existing, 'delete');
    await this.run(lvremoveCommand({ vg: this.vg, name }, this.commandOptions), `delete volume ${name}`, LVM_CHANGE_TIMEOUT_MS);
  }

  /** Runs one command through the runner with its purpose and timeout (STYLE rule 6). */
  protected run(argv: string[], purpose: string, timeoutMs: number): Promise<CommandResult> {
    return this.options.runner.run({ argv, purpose: `${this.pool.name}: ${purpose}`, timeoutMs });
  }

  /** Every LV of the VG; a missing VG becomes the readable {@link volumeGroupMissing} error. */
  protected async readLvs(purpose: string): Promise<LvRecord[]> {
    const vg = this.vg;
    let result: CommandResult;
    try {
      result = await this.run(lvsCommand(vg, this.commandOptions), purpose, LVM_REPORT_TIMEOUT_MS);
    } catch (error) {
      if (error instanceof CommandError && isVolumeGroupNotFound(error.stderr, vg)) throw this.volumeGroupMissing();
      throw error;
    }
    return parseLvsReport(result.stdout);
  }

  /** `vgs` of the VG; a missing VG becomes the readable {@link volumeGroupMissing} error. */
  protected async readVg(purpose: string): Promise<{ sizeBytes: bigint; freeBytes: bigint }> {
    const vg = this.vg;
    let result: CommandResult;
    try {
      result = await this.run(vgsCommand(vg, this.commandOptions), purpose, LVM_REPORT_TIMEOUT_MS);
    } catch (error) {
      if (error instanceof CommandError && isVolumeGroupNotFound(error.stderr, vg)) throw this.volumeGroupMissing();
      throw error;
    }
    const record = parseVgsReport(result.stdout).find((r) => r.name === vg);
    if (!record) throw this.volumeGroupMissing();
    return record;
  }

  /** The ApiError for a VG that does not exist on this node, naming the property that points at it. */
  protected volumeGroupMissing(): ApiError {
    const vg = this.vg;
    return new ApiError({
      code: ErrorCode.NOT_FOUND,
      message: `The LVM volume group '${vg}' of storage pool '${this.pool.name}' (${this.pool.providerKind}) does not exist on this node.`,
      field: 'props["StorDriver/LvmVg"]',
      correction: `Create it (vgcreate ${vg} <device>), or set the property StorDriver/LvmVg of storage pool '${this.pool.name}' to an existing volume group.`,
      details: { pool: this.pool.name, property: 'StorDriver/LvmVg', value: vg },
    });
  }

  /** A pool property the provider cannot work without; a readable error when it is missing or empty. */
  protected requiredProp(key: string, what: string): string {
    const value = this.pool.props[key];
    if (value === undefined || value.trim() === '') {
      throw new ApiError({
        code: ErrorCode.INVALID_PROPERTY,
        message: `Storage pool '${this.pool.name}' (${this.pool.providerKind}) has no property ${key} (${what}).`,
        field: `props["${key}"]`,
        correction: `Set ${key} on storage pool '${this.pool.name}', e.g. ${key}=${POOL_PROP_EXAMPLES[key] ?? '<value>'}.`,
        details: { pool: this.pool.name, property: key },
      });
    }
    return value;
  }

  /** Device path of an LV: udev's /dev/VG/NAME link; none when lvm2 runs metadata-only (no device is activated). */
  protected devicePath(name: string): string | null {
    return this.options.lvmMetadataOnly ? null : `/dev/${this.vg}/${name}`;
  }

  private toActual(lv: LvRecord): ActualVolume {
    return {
      name: lv.name,
      sizeKib: bytesToKib(lv.sizeBytes),
      allocatedKib: this.allocatedKib(lv),
      devicePath: this.devicePath(lv.name),
    };
  }

  private request(volume: VolumeSpec): LvSizeRequest {
    return { vg: this.vg, name: volume.name, sizeKib: volume.sizeKib };
  }

  private async findLv(name: string, purpose: string): Promise<LvRecord | undefined> {
    return (await this.readLvs(purpose)).find((lv) => lv.name === name);
  }

  private async extend(volume: VolumeSpec): Promise<void> {
    await this.run(lvextendCommand(this.request(volume), this.commandOptions), `resize volume ${volume.name}`, LVM_CHANGE_TIMEOUT_MS);
  }

  /** Reads the LV back after a change: lvm2 rounds sizes up to whole extents, so only the report knows the size. */
  private async readBack(name: string, operation: string): Promise<ActualVolume> {
    const lv = await this.findLv(name, `read back volume ${name}`);
    if (!lv) {
      throw new Error(`${this.pool.name}: ${operation} of ${this.vg}/${name} succeeded, but lvs does not list the LV afterwards`);
    }
    return this.toActual(lv);
  }

  private refuseForeign(lv: LvRecord, operation: 'create' | 'resize' | 'delete'): void {
    const reason = this.foreignReason(lv);
    if (reason === null) return;
    throw new ApiError({
      code: ErrorCode.NOT_ALLOWED,
      message: `Refusing to ${operation} ${this.vg}/${lv.name} for storage pool '${this.pool.name}': ${reason}.`,
      correction:
        operation === 'create'
          ? `Rename or remove the existing LV ${this.vg}/${lv.name} by hand if it is no longer needed; blockplane never touches LVs it did not create.`
          : `blockplane only changes LVs it created in this pool; manage ${this.vg}/${lv.name} by hand.`,
      details: { pool: this.pool.name, volume: lv.name, reason },
    });
  }

  private volumeNotFound(name: string): ApiError {
    return new ApiError({
      code: ErrorCode.NOT_FOUND,
      message: `The volume ${this.vg}/${name} of storage pool '${this.pool.name}' does not exist, so it cannot be resized.`,
      correction: 'Create the volume first.',
      details: { pool: this.pool.name, volume: name },
    });
  }
}

/**
 * LVM (thick) storage pool: linear LVs in the VG `StorDriver/LvmVg`, tagged `blockplane`. Capacity is the VG's size
 * and free space (`vgs`). Only LVs that carry our tag and are not thin volumes belong to this pool; an LVM_THIN pool on
 * the same VG keeps its thin volumes.
 */
export class LvmProvider extends LvmProviderBase {
  readonly kind = 'LVM' as const;

  /** Constructs without running anything; see {@link LvmProviderBase}. */
  constructor(pool: PoolSpec, options: ProviderOptions) {
    super(pool, options);
  }

  /** Checks that the VG exists (`vgs`). */
  async check(): Promise<void> {
    await this.readVg('check volume group');
  }

  /** The VG's size and free space, in KiB (rounded down). */
  async capacity(): Promise<Capacity> {
    const vg = await this.readVg('read capacity');
    return { totalKib: bytesToKib(vg.sizeBytes), freeKib: bytesToKib(vg.freeBytes) };
  }

  protected foreignReason(lv: LvRecord): string | null {
    if (!lv.tags.includes(BLOCKPLANE_LV_TAG)) return `the LV has no '${BLOCKPLANE_LV_TAG}' tag, so blockplane did not create it`;
    // A thin volume (pool_lv set) or a thin pool belongs to an LVM_THIN pool on the same VG, never to a thick pool.
    if (lv.poolLv !== '' || lv.attr.startsWith('t') || lv.attr.startsWith('V')) {
      return 'it is a thin LV, which belongs to an LVM_THIN storage pool';
    }
    return null;
  }

  protected createCommand(request: LvSizeRequest): string[] {
    return lvcreateThickCommand(request, this.commandOptions);
  }

  /** A thick LV owns all of its extents. */
  protected allocatedKib(lv: LvRecord): bigint {
    return bytesToKib(lv.sizeBytes);
  }
}

function requirePositiveSize(volume: VolumeSpec): void {
  if (volume.sizeKib <= 0n) {
    throw ApiError.invalid(
      ErrorCode.INVALID_SIZE,
      'sizeKib',
      `Volume ${volume.name} has size ${volume.sizeKib} KiB.`,
      'Give a size of at least 1 KiB.',
    );
  }
}
