import type { Logger } from 'pino';
import type { ApplyReport, DesiredPool, DesiredState, DesiredVolume, PoolReport, VolumeReport } from '../../common/protocol/satellite.js';
import { volumeKey } from '../../common/protocol/satellite.js';
import { PROVIDER_KINDS } from '../../common/vocabulary.js';
import { createProvider } from '../layers/storage/factory.js';
import { backingVolumeName, parseBackingVolumeName, type ActualVolume, type PoolSpec, type ProviderOptions, type StorageProvider } from '../layers/storage/provider.js';
import type { DrbdLayer, BackingVolume } from '../layers/drbd/drbd-layer.js';
import { diffPoolVolumes, type VolumeAction } from './diff.js';
import { errorMessage } from './errors.js';

/** Hands out the storage provider of a desired pool. */
export interface ProviderSource {
  /** The provider for `pool`; throws when none can be built (e.g. a provider kind this satellite does not know). */
  providerFor(pool: DesiredPool): StorageProvider;
  /** Forgets the providers of pools that are not in `names` (pools no longer desired). */
  retainOnly(names: ReadonlySet<string>): void;
}

/**
 * A {@link ProviderSource} that builds providers with the storage factory and keeps one per pool name, rebuilt when
 * the pool's kind or properties change (constructing a provider runs no command, but keeping it means the same
 * instance serves every pass while the pool is unchanged).
 */
export class CachingProviderSource implements ProviderSource {
  private readonly cache = new Map<string, { fingerprint: string; provider: StorageProvider }>();

  constructor(
    private readonly options: ProviderOptions,
    private readonly factory: (pool: PoolSpec, options: ProviderOptions) => StorageProvider = createProvider,
  ) {}

  providerFor(pool: DesiredPool): StorageProvider {
    const fingerprint = JSON.stringify([pool.providerKind, Object.entries(pool.props).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
    const cached = this.cache.get(pool.name);
    if (cached && cached.fingerprint === fingerprint) return cached.provider;
    if (!(PROVIDER_KINDS as readonly string[]).includes(pool.providerKind)) {
      throw new Error(`provider kind '${pool.providerKind}' is not supported by this satellite (it knows ${PROVIDER_KINDS.join(', ')}); upgrade the satellite`);
    }
    // Copied, so the provider never sees later changes to the desired-state object it came from.
    const spec: PoolSpec = { name: pool.name, providerKind: pool.providerKind, props: { ...pool.props } };
    const provider = this.factory(spec, this.options);
    this.cache.set(pool.name, { fingerprint, provider });
    return provider;
  }

  retainOnly(names: ReadonlySet<string>): void {
    for (const name of [...this.cache.keys()]) if (!names.has(name)) this.cache.delete(name);
  }
}

export { errorMessage };

/**
 * One reconcile pass: makes the node's storage match `desired` and reports every desired pool and volume, plus every
 * volume it deleted. Per pool: `check()` (a failing pool is reported with its error and its volumes FAILED, nothing is
 * run for them), `list()`, the actions of {@link diffPoolVolumes} one after another, each caught on its own so that
 * one failing volume never stops the others, and finally `capacity()`, measured after the actions so the report
 * shows their effect. DISKLESS pools have no volumes; their desired volumes are reported CREATED without a device.
 *
 * Deletes only volumes the pool's provider lists (ours) that are not desired, in pools that are desired; volumes of a
 * pool that is no longer desired stay until the pool is desired again (the satellite cannot tell a deleted pool from a
 * misconfigured one).
 *
 * Never throws for a failing object; a throw means a bug, and the caller reports it as `fatal`.
 */
export async function reconcile(desired: DesiredState, providers: ProviderSource, log: Logger, drbd?: DrbdLayer): Promise<ApplyReport> {
  const pools = [...desired.pools].sort((a, b) => compare(a.name, b.name));
  const poolNames = new Set(pools.map((p) => p.name));
  providers.retainOnly(poolNames);
  const volumesByPool = new Map<string, DesiredVolume[]>();
  const volumeReports: VolumeReport[] = [];
  for (const v of desired.volumes) {
    if (!poolNames.has(v.pool)) {
      volumeReports.push(failed(v, `pool ${v.pool} not configured on this node`));
      continue;
    }
    const list = volumesByPool.get(v.pool) ?? [];
    list.push(v);
    volumesByPool.set(v.pool, list);
  }

  // A volume desired anywhere on this node is never deleted, even if another pool lists it: two pools that (by
  // misconfiguration) share storage must not delete each other's volumes.
  const desiredNames = new Set(desired.volumes.map((v) => backingVolumeName(v.resource, v.volumeNumber)));
  // DRBD goes down before its storage is deleted; storage under a resource that would not go down stays.
  const stuck = drbd ? await drbd.removeUnwanted(desired.drbdResources) : new Map<string, string>();
  const keep = { has: (name: string) => desiredNames.has(name) || stuck.has(parseBackingVolumeName(name)?.resource ?? '') };
  const grown = new Set<string>();
  const poolReports: PoolReport[] = [];
  for (const pool of pools) {
    const result = await reconcilePool(pool, volumesByPool.get(pool.name) ?? [], providers, log.child({ pool: pool.name }), keep, grown);
    poolReports.push(result.pool);
    volumeReports.push(...result.volumes);
  }
  if (drbd) await reconcileDrbd(desired, drbd, volumeReports, grown);
  for (const [resource, error] of stuck) log.warn({ resource, error }, 'DRBD resource could not be taken down; its storage stays');

  volumeReports.sort((a, b) => compare(volumeKey(a), volumeKey(b)) || compare(a.state, b.state));
  return {
    revision: desired.revision,
    converged: poolReports.every((p) => p.error === null) && volumeReports.every((v) => v.state !== 'FAILED') && stuck.size === 0,
    pools: poolReports,
    volumes: volumeReports,
  };
}

/**
 * The DRBD layer's part of a pass, after the storage layer: every desired DRBD resource whose backing volumes all
 * exist is configured and brought up (see DrbdLayer.apply); its volume reports then name the DRBD device, the backing
 * device and DRBD's net size. A resource whose storage failed is left alone (its volumes are FAILED already); one
 * DRBD refused makes its volumes FAILED with DRBD's message. Diskless replicas have no storage reports, so they get
 * theirs here.
 */
async function reconcileDrbd(desired: DesiredState, drbd: DrbdLayer, reports: VolumeReport[], grown: ReadonlySet<string>): Promise<void> {
  for (const resource of desired.drbdResources) {
    const mine = reports.filter((r) => r.resource === resource.name);
    if (!resource.diskless && (mine.length < resource.volumes.length || mine.some((r) => r.state !== 'CREATED'))) {
      // DRBD is left alone this pass, but the volumes that exist are still DRBD's: users open /dev/drbd<minor>,
      // never the backing device under it.
      for (const r of mine.filter((x) => x.state === 'CREATED')) {
        const v = resource.volumes.find((x) => x.volumeNumber === r.volumeNumber);
        if (!v) continue;
        Object.assign(r, { backingDevicePath: r.devicePath ?? null, devicePath: `/dev/drbd${v.minor}`, usableKib: v.sizeKib });
      }
      continue;
    }
    const backing = new Map<number, BackingVolume>();
    for (const r of mine) backing.set(r.volumeNumber, { devicePath: r.devicePath ?? null, grown: grown.has(volumeKey(r)) });
    const result = await drbd.apply(resource, backing);
    for (const v of resource.volumes) {
      let report = mine.find((r) => r.volumeNumber === v.volumeNumber);
      if (!report) {
        report = { resource: resource.name, volumeNumber: v.volumeNumber, state: 'CREATED', error: null, devicePath: null, usableKib: '0', allocatedKib: '0' };
        reports.push(report);
      }
      if (result.error !== null) {
        Object.assign(report, { state: 'FAILED', error: `DRBD: ${result.error}` });
        continue;
      }
      report.backingDevicePath = resource.diskless ? null : (report.devicePath ?? null);
      report.devicePath = `/dev/drbd${v.minor}`;
      report.usableKib = v.sizeKib;
    }
  }
}

async function reconcilePool(
  pool: DesiredPool,
  volumes: readonly DesiredVolume[],
  providers: ProviderSource,
  log: Logger,
  protectedNames: { has(name: string): boolean },
  grown: Set<string>,
): Promise<{ pool: PoolReport; volumes: VolumeReport[] }> {
  const unusable = (error: unknown, what: string) => {
    const message = errorMessage(error);
    log.warn({ err: error }, `storage pool ${what}`);
    return {
      pool: { name: pool.name, error: message },
      volumes: volumes.map((v) => failed(v, `pool ${pool.name} unusable: ${message}`)),
    };
  };

  let provider: StorageProvider;
  try {
    provider = providers.providerFor(pool);
    await provider.check();
  } catch (error) {
    return unusable(error, 'unusable');
  }

  const reports: VolumeReport[] = [];
  if (provider.kind === 'DISKLESS') {
    // Nothing exists on the host for a diskless volume; DRBD attaches it to no local disk.
    for (const v of volumes) reports.push({ ...identity(v), state: 'CREATED', error: null, devicePath: null, usableKib: '0', allocatedKib: '0' });
  } else {
    let actual: ActualVolume[];
    try {
      actual = await provider.list();
    } catch (error) {
      return unusable(error, 'cannot list its volumes');
    }
    for (const action of diffPoolVolumes(volumes, actual, provider.kind, protectedNames)) {
      const report = await apply(action, provider, log);
      if (action.kind === 'resize' && report.state === 'CREATED') grown.add(volumeKey(report));
      reports.push(report);
    }
  }

  const poolReport: PoolReport = { name: pool.name, error: null };
  try {
    const capacity = await provider.capacity();
    poolReport.totalKib = capacity.totalKib.toString();
    poolReport.freeKib = capacity.freeKib.toString();
  } catch (error) {
    log.warn({ err: error }, 'cannot read the capacity of the storage pool');
    poolReport.error = `cannot read capacity: ${errorMessage(error)}`;
  }
  return { pool: poolReport, volumes: reports };
}

/** Applies one action; a failure becomes a FAILED report carrying the provider's message. */
async function apply(action: VolumeAction, provider: StorageProvider, log: Logger): Promise<VolumeReport> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  switch (action.kind) {
    case 'keep':
      return created(action.desired, action.actual);
    case 'invalid':
      log.warn({ volume: action.name, sizeKib: action.desired.sizeKib }, 'desired volume has an invalid size');
      return failed(action.desired, action.error);
    case 'delete': {
      const who = { resource: action.resource, volumeNumber: action.volumeNumber };
      try {
        await provider.delete(action.name);
        log.info({ volume: action.name, ms: ms() }, 'deleted volume (no longer desired)');
        return { ...who, state: 'DELETED', error: null };
      } catch (error) {
        log.warn({ volume: action.name, err: error }, 'failed to delete volume');
        return { ...who, state: 'FAILED', error: errorMessage(error) };
      }
    }
    case 'create':
    case 'attach':
    case 'resize': {
      const spec = { name: action.name, sizeKib: action.sizeKib };
      try {
        // create() also attaches an existing file again and grows it when needed (all providers are idempotent).
        const result = action.kind === 'resize' ? await provider.resize(spec) : await provider.create(spec);
        const verb = action.kind === 'create' ? 'created' : action.kind === 'attach' ? 'attached' : 'resized';
        log.info({ volume: action.name, sizeKib: action.sizeKib.toString(), devicePath: result.devicePath, ms: ms() }, `${verb} volume`);
        return created(action.desired, result);
      } catch (error) {
        log.warn({ volume: action.name, err: error }, `failed to ${action.kind} volume`);
        return failed(action.desired, errorMessage(error));
      }
    }
  }
}

function identity(v: DesiredVolume): { resource: string; volumeNumber: number } {
  return { resource: v.resource, volumeNumber: v.volumeNumber };
}

function created(v: DesiredVolume, actual: ActualVolume): VolumeReport {
  return {
    ...identity(v),
    state: 'CREATED',
    error: null,
    devicePath: actual.devicePath,
    usableKib: actual.sizeKib.toString(),
    allocatedKib: actual.allocatedKib.toString(),
  };
}

function failed(v: DesiredVolume, error: string): VolumeReport {
  return { ...identity(v), state: 'FAILED', error };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
