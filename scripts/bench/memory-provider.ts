/**
 * BENCHMARK TOOL, not a product storage provider: the in-memory storage of hollow satellites
 * (scripts/bench/hollow-satellites.ts). Volumes are entries in a Map, so a benchmark measures the controller, the
 * protocol and the satellite's reconcile and DRBD code paths instead of lvcreate, losetup or fallocate.
 */
import type { DesiredPool } from '../../src/common/protocol/satellite.js';
import type { ProviderKind } from '../../src/common/vocabulary.js';
import { DisklessProvider } from '../../src/satellite/layers/storage/diskless/provider.js';
import {
  parseBackingVolumeName,
  type ActualVolume,
  type Capacity,
  type PoolSpec,
  type StorageProvider,
  type VolumeSpec,
} from '../../src/satellite/layers/storage/provider.js';
import type { ProviderSource } from '../../src/satellite/reconcile/reconcile.js';

/** 1 PiB in KiB: large enough that no benchmark runs out of space by accident. */
export const DEFAULT_MEMORY_CAPACITY_KIB = 1024n ** 4n;

/** The volumes of one pool (name → size in KiB); outlives provider instances, as a volume group outlives its LVs. */
type MemoryPoolVolumes = Map<string, bigint>;

/**
 * A storage provider whose volumes live in a Map. Every volume is fully allocated (even in a thin pool), so the free
 * capacity it reports falls by exactly the sizes placed on it, which is what a benchmark wants to observe. Operations
 * are idempotent like the real providers': create returns an existing volume that is large enough (and grows a
 * smaller one), resize never shrinks, delete of a missing volume is a no-op. Device paths are made up
 * (`/dev/hollow/<pool>/<volume>`); the emulated DRBD backend accepts devices that do not exist.
 */
export class MemoryProvider implements StorageProvider {
  readonly kind: ProviderKind;

  /**
   * @param pool the pool as desired by the controller; its kind is reported as is, its properties are ignored
   * @param volumes the pool's volumes, shared by every provider instance of the pool
   * @param totalKib the pool's size
   */
  constructor(
    readonly pool: PoolSpec,
    private readonly volumes: MemoryPoolVolumes = new Map(),
    private readonly totalKib: bigint = DEFAULT_MEMORY_CAPACITY_KIB,
  ) {
    this.kind = pool.providerKind;
  }

  /** Always passes: memory needs no volume group, directory or zpool. */
  async check(): Promise<void> {}

  /** The configured total; free is the total less the sum of all volume sizes. */
  async capacity(): Promise<Capacity> {
    return { totalKib: this.totalKib, freeKib: this.totalKib - this.usedKib() };
  }

  /** Every volume of the pool (all of them are blockplane's), sorted by name. */
  async list(): Promise<ActualVolume[]> {
    return [...this.volumes.keys()].sort().map((name) => this.actual(name));
  }

  /**
   * Creates the volume, or returns it when it exists with at least this size (a smaller one is grown).
   * @throws Error when the name is not a LINSTOR backing volume name, or the pool lacks the space
   */
  async create(volume: VolumeSpec): Promise<ActualVolume> {
    if (parseBackingVolumeName(volume.name) === null) {
      throw new Error(`memory pool ${this.pool.name}: '${volume.name}' is not a backing volume name (<resource>_<5 digits>)`);
    }
    const existing = this.volumes.get(volume.name);
    if (existing !== undefined && existing >= volume.sizeKib) return this.actual(volume.name);
    this.reserve(volume.name, volume.sizeKib - (existing ?? 0n));
    this.volumes.set(volume.name, volume.sizeKib);
    return this.actual(volume.name);
  }

  /**
   * Grows the volume to the given size; no-op when it is already that large (never shrinks).
   * @throws Error when the volume does not exist, or the pool lacks the space
   */
  async resize(volume: VolumeSpec): Promise<ActualVolume> {
    const existing = this.volumes.get(volume.name);
    if (existing === undefined) throw new Error(`memory pool ${this.pool.name}: volume ${volume.name} does not exist; create it first`);
    if (existing < volume.sizeKib) {
      this.reserve(volume.name, volume.sizeKib - existing);
      this.volumes.set(volume.name, volume.sizeKib);
    }
    return this.actual(volume.name);
  }

  /** Deletes the volume; no-op when it does not exist. */
  async delete(name: string): Promise<void> {
    this.volumes.delete(name);
  }

  private usedKib(): bigint {
    let used = 0n;
    for (const size of this.volumes.values()) used += size;
    return used;
  }

  private reserve(name: string, extraKib: bigint): void {
    const freeKib = this.totalKib - this.usedKib();
    if (extraKib > freeKib) {
      throw new Error(`memory pool ${this.pool.name}: ${extraKib} KiB more for ${name} do not fit in the ${freeKib} KiB free`);
    }
  }

  private actual(name: string): ActualVolume {
    const sizeKib = this.volumes.get(name) ?? 0n;
    return { name, sizeKib, allocatedKib: sizeKib, devicePath: `/dev/hollow/${this.pool.name}/${name}` };
  }
}

/**
 * The {@link ProviderSource} of a hollow satellite: every desired pool, whatever its provider kind and properties,
 * gets a {@link MemoryProvider} of `capacityKib`, except DISKLESS pools, which get the real diskless provider (it runs
 * no commands either, and the reconcile pass and the controller treat a DISKLESS pool by its provider's kind).
 * A pool's volumes stay when it stops being desired, as on a real host.
 */
export class MemoryProviderSource implements ProviderSource {
  private readonly volumesByPool = new Map<string, MemoryPoolVolumes>();
  private readonly providers = new Map<string, StorageProvider>();

  constructor(private readonly capacityKib: bigint = DEFAULT_MEMORY_CAPACITY_KIB) {}

  providerFor(pool: DesiredPool): StorageProvider {
    const cached = this.providers.get(pool.name);
    if (cached !== undefined && cached.kind === pool.providerKind) return cached;
    const spec: PoolSpec = { name: pool.name, providerKind: pool.providerKind, props: { ...pool.props } };
    let provider: StorageProvider;
    if (pool.providerKind === 'DISKLESS') {
      provider = new DisklessProvider(spec);
    } else {
      let volumes = this.volumesByPool.get(pool.name);
      if (volumes === undefined) {
        volumes = new Map();
        this.volumesByPool.set(pool.name, volumes);
      }
      provider = new MemoryProvider(spec, volumes, this.capacityKib);
    }
    this.providers.set(pool.name, provider);
    return provider;
  }

  retainOnly(names: ReadonlySet<string>): void {
    for (const name of [...this.providers.keys()]) if (!names.has(name)) this.providers.delete(name);
  }
}
