import type { ProviderKind } from '../../../../src/common/vocabulary.js';
import type { ActualVolume, Capacity, PoolSpec, StorageProvider, VolumeSpec } from '../../../../src/satellite/layers/storage/provider.js';

/**
 * An in-memory {@link StorageProvider} for reconcile tests: it keeps its volumes in a map, records every call in
 * `calls` (e.g. `create r1_00000 4096`), and fails the operations listed in `failures` with the given error, the way a
 * real provider throws its ApiError/CommandError. Capacity is derived from the volumes, so a test can see that it was
 * measured after the pass's actions.
 */
export class FakeProvider implements StorageProvider {
  readonly calls: string[] = [];
  readonly volumes = new Map<string, ActualVolume>();
  /** `check`, `list`, `capacity`, or `<operation> <volume name>` -> what to throw. */
  readonly failures = new Map<string, Error>();

  constructor(
    readonly pool: PoolSpec,
    readonly totalKib = 1_000_000n,
  ) {}

  get kind(): ProviderKind {
    return this.pool.providerKind;
  }

  /** Puts a volume on the fake host without recording a call. */
  seed(name: string, sizeKib: bigint, devicePath: string | null = `/dev/fake/${name}`): this {
    this.volumes.set(name, { name, sizeKib, allocatedKib: sizeKib, devicePath });
    return this;
  }

  async check(): Promise<void> {
    this.record('check', 'check');
  }

  async capacity(): Promise<Capacity> {
    this.record('capacity', 'capacity');
    const used = [...this.volumes.values()].reduce((sum, v) => sum + v.allocatedKib, 0n);
    return { totalKib: this.totalKib, freeKib: this.totalKib - used };
  }

  async list(): Promise<ActualVolume[]> {
    this.record('list', 'list');
    return [...this.volumes.values()].map((v) => ({ ...v }));
  }

  async create(volume: VolumeSpec): Promise<ActualVolume> {
    this.record(`create ${volume.name} ${volume.sizeKib}`, `create ${volume.name}`);
    const existing = this.volumes.get(volume.name);
    const sizeKib = existing && existing.sizeKib > volume.sizeKib ? existing.sizeKib : volume.sizeKib;
    const created = { name: volume.name, sizeKib, allocatedKib: sizeKib, devicePath: `/dev/fake/${volume.name}` };
    this.volumes.set(volume.name, created);
    return { ...created };
  }

  async resize(volume: VolumeSpec): Promise<ActualVolume> {
    this.record(`resize ${volume.name} ${volume.sizeKib}`, `resize ${volume.name}`);
    const existing = this.volumes.get(volume.name);
    if (!existing) throw new Error(`volume ${volume.name} does not exist`);
    if (existing.sizeKib < volume.sizeKib) this.volumes.set(volume.name, { ...existing, sizeKib: volume.sizeKib, allocatedKib: volume.sizeKib });
    return { ...this.volumes.get(volume.name)! };
  }

  async delete(name: string): Promise<void> {
    this.record(`delete ${name}`, `delete ${name}`);
    this.volumes.delete(name);
  }

  private record(call: string, failureKey: string): void {
    this.calls.push(call);
    const failure = this.failures.get(failureKey);
    if (failure) throw failure;
  }
}
