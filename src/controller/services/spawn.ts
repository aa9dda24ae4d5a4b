import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ApiError, ErrorCode } from '../../common/api-rc.js';
import { checkName, DEFAULT_DISKLESS_STORAGE_POOL, DEFAULT_RESOURCE_GROUP, nameKey } from '../../common/names.js';
import { initialProps, type PropsChange } from '../../common/props/change.js';
import { parseKiB, type KiB } from '../../common/sizes.js';
import type { Props } from '../../common/props/keys.js';
import type { ResourceFlag } from '../../common/vocabulary.js';
import { Node } from '../../orm/entities/node.js';
import type { IPlacementJob } from '../../orm/entities/placement-job.js';
import { ResourceDefinition, type IResourceDefinition } from '../../orm/entities/resource-definition.js';
import type { IResourceGroup } from '../../orm/entities/resource-group.js';
import { StoragePool } from '../../orm/entities/storage-pool.js';
import { VolumeDefinition, type IVolumeDefinition } from '../../orm/entities/volume-definition.js';
import { VolumeGroup, type IVolumeGroup } from '../../orm/entities/volume-group.js';
import { newDrbdSecret, openMinorAllocator, openPortAllocator } from '../allocators/drbd.js';
import { autoplace } from '../autoplacer/autoplace.js';
import type { PlacementFilter, PlacementResult } from '../autoplacer/types.js';
import type { ServiceContext } from '../context.js';
import { withTransaction, type Emit, type RecordJob, type Touch } from '../transaction.js';
import { checkNotDeleting, getResourceDefinition, getResourceGroup } from './lookup.js';
import { loadPlacementSnapshot, loadPlacementState, mergeFilter, type PlacementNodeRow, type PlacementPoolRow, type PlacementState } from './placement.js';
import { addResource, createReplica } from './resource.js';
import type { SelectFilterInput } from './resource-group.js';

export interface SpawnInput {
  resourceGroup?: string | null;
  resourceDefinition: string;
  /** One size per volume group, in volume group order. */
  volumeSizes: readonly string[];
  externalName?: string | null;
  props?: PropsChange['set'];
  selectFilter?: SelectFilterInput | null;
  /** Create the definition and volume definitions only; place nothing. */
  definitionsOnly?: boolean | null;
  /** Allow a number of sizes that differs from the number of volume groups (LINSTOR's `partial`). */
  partial?: boolean | null;
  /** Place as many replicas as fit when the place count cannot be met (otherwise nothing is placed). */
  allowPartialPlacement?: boolean | null;
}

export interface PlacementOutcome {
  resourceDefinition: IResourceDefinition;
  /** null when nothing was placed (definitionsOnly). */
  job: IPlacementJob | null;
  plan: (PlacementResult & { sizeKib: KiB }) | null;
}

/** A spawn request checked on its own (name, props, sizes), before it meets the database. */
interface SpawnRequest {
  input: SpawnInput;
  name: string;
  props: Props;
  sizes: KiB[];
}

type SpawnOutcome = { value: PlacementOutcome } | { error: unknown };

function checkSpawn(input: SpawnInput): SpawnRequest {
  const name = checkName('resource definition', input.resourceDefinition, 'input.resourceDefinition');
  const props = initialProps('resourceDefinition', input.props, 'input.props');
  const sizes = input.volumeSizes.map((s, i) => {
    const kib = parseKiB(s, `input.volumeSizes[${i}]`);
    if (kib === 0n) throw ApiError.invalid(ErrorCode.INVALID_SIZE, `input.volumeSizes[${i}]`, 'A volume cannot be 0 KiB.', 'Give a size of at least 1 KiB, e.g. "1GiB".');
    return kib;
  });
  if (sizes.length === 0) throw ApiError.invalid(ErrorCode.INVALID_VALUE, 'input.volumeSizes', 'A spawned definition needs at least one volume.', 'Give at least one size, e.g. ["10GiB"].');
  return { input, name, props, sizes };
}

/**
 * Spawns a resource definition from a resource group (LINSTOR's `resource-group spawn`): the definition, one volume
 * definition per volume group with the given sizes, then the autoplacer's replicas with their volumes and DRBD
 * numbers, and a placement job, all in one transaction. A placement that cannot be met is refused with the
 * autoplacer's explanation, and nothing is written.
 *
 * With `ctx.spawns` (the API server's), concurrent spawns share transactions (see {@link SpawnBatcher}); the outcome
 * of each is the same as if it had run alone after the ones queued before it.
 */
export async function spawnResources(ctx: ServiceContext, input: SpawnInput): Promise<PlacementOutcome> {
  const request = checkSpawn(input);
  if (ctx.spawns) return ctx.spawns.submit(ctx, request);
  const [outcome] = await spawnBatch(ctx, [request]);
  if ('error' in outcome!) throw outcome.error;
  return outcome!.value;
}

/**
 * Group commit for spawns. Spawns are serialized anyway (each decides its placement on a snapshot holding the
 * previous one's replicas, under the group row lock and the placement lock), so one transaction per spawn caps the
 * rate at the database's commit rate. The batcher runs one transaction at a time; the requests that arrive while it
 * runs all go into the next one, which takes the locks, reads the snapshot and the DRBD numbers in use once, places
 * the requests one after the other on the snapshot it updates in memory, and commits them together. A lone request
 * runs at once, so nothing waits for a batch to fill.
 *
 * Each request keeps its own result: its own placement job (waiting only for its nodes) and its own error (a name
 * taken, a placement that cannot be met), which fails that request alone. Should the batch's writes fail as a whole
 * (a database error no check foresaw), its requests run again one transaction each, so the error reaches only the
 * request that caused it.
 */
export class SpawnBatcher {
  private readonly waiting: { ctx: ServiceContext; request: SpawnRequest; resolve: (o: PlacementOutcome) => void; reject: (e: unknown) => void }[] = [];
  private running = false;

  /** `maxBatch`: requests per transaction at most (a bigger batch holds the placement lock longer). */
  constructor(private readonly maxBatch = 100) {}

  submit(ctx: ServiceContext, request: SpawnRequest): Promise<PlacementOutcome> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ ctx, request, resolve, reject });
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, this.maxBatch);
        let outcomes: SpawnOutcome[];
        try {
          outcomes = await spawnBatch(batch[0]!.ctx, batch.map((b) => b.request));
        } catch (error) {
          outcomes = batch.map(() => ({ error }));
        }
        batch.forEach((b, i) => {
          const outcome = outcomes[i]!;
          if ('error' in outcome) b.reject(outcome.error);
          else b.resolve(outcome.value);
        });
      }
    } finally {
      this.running = false;
    }
  }
}

/** Spawns `requests` in one transaction; see {@link SpawnBatcher}. */
async function spawnBatch(ctx: ServiceContext, requests: readonly SpawnRequest[]): Promise<SpawnOutcome[]> {
  try {
    const name = requests.length === 1 ? 'Spawn resources' : `Spawn resources (${requests.length} in one transaction)`;
    return await withTransaction(ctx, name, (em, emit, touch, job) => writeSpawns(em, emit, touch, job, requests));
  } catch (error) {
    if (requests.length === 1) return [{ error }];
    ctx.log.warn({ err: error, requests: requests.length }, 'a batch of spawns failed as a whole; running its requests one by one');
    const outcomes: SpawnOutcome[] = [];
    for (const request of requests) outcomes.push(...(await spawnBatch(ctx, [request])));
    return outcomes;
  }
}

/** A request that passed its checks and was placed, waiting for its DRBD numbers and records. */
interface PlannedSpawn {
  index: number;
  request: SpawnRequest;
  group: IResourceGroup;
  volumeGroups: readonly IVolumeGroup[];
  minors: number[];
  result: PlacementResult | null;
  placements: { node: string; pool: string; flags: ResourceFlag[] }[];
}

async function writeSpawns(em: EntityManager, emit: Emit, touch: Touch, job: RecordJob, requests: readonly SpawnRequest[]): Promise<SpawnOutcome[]> {
  const outcomes: (SpawnOutcome | undefined)[] = requests.map(() => undefined);
  const run = <T>(sql: string, params: unknown[]) => em.getConnection().execute<T[]>(sql, params, 'all', em.getTransactionContext());

  // Resource groups, each locked once, in name order.
  const groups = new Map<string, { group: IResourceGroup; volumeGroups: IVolumeGroup[] } | ApiError>();
  const groupName = (r: SpawnRequest) => r.input.resourceGroup ?? DEFAULT_RESOURCE_GROUP;
  for (const [key, name] of [...new Map(requests.map((r) => [nameKey(groupName(r)), groupName(r)]))].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    try {
      const group = await getResourceGroup(em, name, 'input.resourceGroup');
      groups.set(key, { group, volumeGroups: await em.find(VolumeGroup, { resourceGroup: group }, { orderBy: { volumeNumber: 'asc' } }) });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      groups.set(key, error);
    }
  }
  const keys = requests.map((r) => nameKey(r.name));
  const taken = new Set((await run<{ name_key: string }>(`select name_key from resource_definition where name_key in (${keys.map(() => '?').join(', ')})`, keys)).map((r) => r.name_key));

  // Placement lock, then minor lock: always in this order. One placement at a time, cluster-wide, until commit (see
  // place()).
  let placement: PlacementState | undefined;
  if (requests.some((r) => !r.input.definitionsOnly)) {
    await run("select pg_advisory_xact_lock(hashtext('blockplane:placement'))", []);
    placement = await loadPlacementState(em, definitionsConsidered(requests, (r) => groups.get(nameKey(groupName(r)))), { compactUsage: true });
  }
  // The snapshot read the controller's properties already (ranges come from them).
  const minors = await openMinorAllocator(em, placement?.snapshot.controllerProps);
  const planned: PlannedSpawn[] = [];
  for (const [index, request] of requests.entries()) {
    // A request's own errors (name taken, placement not possible, bad select filter, ...) fail it alone.
    try {
      const found = groups.get(nameKey(groupName(request)))!;
      if (found instanceof ApiError) throw found;
      const { group, volumeGroups } = found;
      if (taken.has(keys[index]!)) throw ApiError.alreadyExists('resource definition', request.name, 'input.resourceDefinition');
      if (volumeGroups.length > 0 && request.sizes.length !== volumeGroups.length && !request.input.partial) {
        throw ApiError.invalid(
          ErrorCode.INVALID_VALUE,
          'input.volumeSizes',
          `Resource group '${group.name}' has ${volumeGroups.length} volume group(s) but ${request.sizes.length} size(s) were given.`,
          'Give one size per volume group, or set partial: true to create only as many volumes as sizes given (extra sizes become extra volumes).',
        );
      }
      const sizeKib = request.sizes.reduce((a, b) => a + b, 0n);
      let result: PlacementResult | null = null;
      if (placement && !request.input.definitionsOnly) {
        result = autoplace(placement.snapshot, {
          resourceDefinition: request.name,
          sizeKib,
          filter: mergeFilter(group, request.input.selectFilter),
          additionalReplicas: null,
          props: { ...group.props, ...request.props },
          allowPartial: request.input.allowPartialPlacement ?? false,
        });
        const refusal = placementRefusal(result, request.input.allowPartialPlacement ?? false);
        if (refusal) throw refusal;
      }
      const spawn: PlannedSpawn = { index, request, group, volumeGroups, minors: minors.take(request.sizes.length), result, placements: result ? replicasOf(result) : [] };
      planned.push(spawn);
      taken.add(keys[index]!);
      // The next request is placed on a snapshot that holds this one's replicas and reservations.
      for (const p of spawn.placements) placement!.add(request.name, p, sizeKib);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      outcomes[index] = { error };
    }
  }

  // The nodes' rows FOR KEY SHARE, in id order: none can be deleted until commit. Not a stronger lock: satellite
  // reports update their node's row all the time, and ports have their own lock (openPortAllocator).
  const nodeKeys = [...new Set(planned.flatMap((s) => s.placements.map((p) => nameKey(p.node))))];
  const present = nodeKeys.length > 0 ? await run<{ id: number }>(`select id from node where name_key in (${nodeKeys.map(() => '?').join(', ')}) order by id for key share`, nodeKeys) : [];
  const stillThere = new Set(present.map((r) => r.id));
  // The snapshot's rows of the nodes that are still there (a node deleted since is refused below).
  const nodes = nodeKeys.map((key) => placement!.node(key)).filter((n): n is PlacementNodeRow => n !== undefined && stillThere.has(n.id));
  const nodeByKey = new Map(nodes.map((n) => [n.nameKey, n]));
  const ports = await openPortAllocator(em, nodes, placement?.snapshot.controllerProps);
  for (const spawn of planned) {
    const { request, index } = spawn;
    let replicas: { node: PlacementNodeRow; pool: PlacementPoolRow; flags: ResourceFlag[]; drbdNodeId: number; drbdPort: number }[];
    try {
      replicas = spawn.placements.map((p, drbdNodeId) => {
        const node = nodeByKey.get(nameKey(p.node));
        const pool = placement!.pool(p.node, p.pool);
        if (!node || !pool) throw new ApiError({ code: ErrorCode.CONFLICT, message: `Node '${p.node}' or its pool '${p.pool}' was deleted while this placement was decided.`, correction: 'Retry the request.' });
        // A new definition's replicas take DRBD node ids 0, 1, 2, ... in placement order.
        return { node, pool, flags: p.flags, drbdNodeId, drbdPort: ports.take(node) };
      });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      outcomes[index] = { error };
      continue;
    }
    const definition = em.create(ResourceDefinition, { name: request.name, resourceGroup: spawn.group, externalName: request.input.externalName ?? null, props: request.props, layerStack: [], flags: [], drbdSecret: newDrbdSecret() });
    const volumeDefinitions: IVolumeDefinition[] = [];
    let next = 0;
    request.sizes.forEach((sizeKib, i) => {
      // Volume numbers follow the volume groups; sizes beyond them (partial) take the next free numbers.
      const vg = spawn.volumeGroups[i];
      const volumeNumber = vg?.volumeNumber ?? Math.max(next, ...spawn.volumeGroups.map((g) => g.volumeNumber + 1));
      next = volumeNumber + 1;
      const vd = em.create(VolumeDefinition, { resourceDefinition: definition, volumeNumber, sizeKib, props: {}, flags: vg?.flags.includes('GROSS_SIZE') ? ['GROSS_SIZE'] : [], drbdMinor: spawn.minors[i]! });
      volumeDefinitions.push(vd);
      emit('VOLUME_DEFINITION', 'CREATED', [request.name, String(volumeNumber)], vd);
    });
    emit('RESOURCE_DEFINITION', 'CREATED', [request.name], definition);
    if (!spawn.result) {
      outcomes[index] = { value: { resourceDefinition: definition, job: null, plan: null } };
      continue;
    }
    for (const replica of replicas) createReplica(em, emit, touch, { definition, ...replica, volumeDefinitions });
    const recorded = job('SPAWN', request.name, replicas.map((r) => r.node));
    // A partial placement says what it could not do.
    if (!spawn.result.ok) recorded.reason = spawn.result.explanation;
    outcomes[index] = { value: { resourceDefinition: definition, job: recorded, plan: { ...spawn.result, sizeKib: request.sizes.reduce((a, b) => a + b, 0n) } } };
  }
  return outcomes.map((o) => o ?? { error: new Error('spawn batch: a request was left without an outcome') });
}

/**
 * The definitions whose replicas the batch's placements look at: each request's own, and the names in their
 * do-not-place-with lists; null (all of them) when a filter has a do-not-place-with regex. Requests that will fail
 * before placement (unknown group, bad filter) add nothing.
 */
function definitionsConsidered(requests: readonly SpawnRequest[], groupOf: (r: SpawnRequest) => { group: IResourceGroup } | ApiError | undefined): string[] | null {
  const names: string[] = [];
  for (const request of requests) {
    if (request.input.definitionsOnly) continue;
    const found = groupOf(request);
    if (!found || found instanceof ApiError) continue;
    let filter: PlacementFilter;
    try {
      filter = mergeFilter(found.group, request.input.selectFilter);
    } catch (error) {
      if (error instanceof ApiError) continue;
      throw error;
    }
    if (filter.doNotPlaceWithRscRegex) return null;
    names.push(request.name, ...(filter.doNotPlaceWithRsc ?? []));
  }
  return names;
}

/** The autoplacer's diskful and diskless replicas as records to write: pool and flags of each. */
function replicasOf(result: PlacementResult): { node: string; pool: string; flags: ResourceFlag[] }[] {
  return [
    ...result.placements.map((p) => ({ node: p.node, pool: p.pool, flags: [] as ResourceFlag[] })),
    ...result.disklessPlacements.map((p) => ({ node: p.node, pool: p.pool || DEFAULT_DISKLESS_STORAGE_POOL, flags: (p.tieBreaker ? ['DRBD_DISKLESS', 'TIE_BREAKER'] : ['DRBD_DISKLESS']) as ResourceFlag[] })),
  ];
}

/** The refusal of a placement that cannot be met (null when it can, or partially when that is allowed). */
function placementRefusal(result: PlacementResult, allowPartial: boolean): ApiError | null {
  if ((result.ok || allowPartial) && !(result.needed > 0 && result.placements.length === 0)) return null;
  return new ApiError({
    code: ErrorCode.PLACEMENT_FAILED,
    message: result.explanation,
    correction: 'Add capacity or nodes, relax the select filter (selectFilter overrides it for one request), or set allowPartialPlacement. placementPlan shows the same explanation without writing anything.',
    details: { needed: result.needed, rejections: result.rejections.map((r) => ({ node: r.node, pool: r.pool ?? null, reasons: r.reasons })) },
  });
}

export interface AutoplaceInput {
  resourceDefinition: string;
  selectFilter?: SelectFilterInput | null;
  additionalReplicas?: number | null;
  allowPartialPlacement?: boolean | null;
}

/** Places replicas of an existing definition up to its group's place count (or `additionalReplicas` more). */
export async function autoplaceResourceDefinition(ctx: ServiceContext, input: AutoplaceInput): Promise<PlacementOutcome> {
  return withTransaction(ctx, 'Autoplace resource definition', async (em, emit, touch, job) => {
    const definition = await getResourceDefinition(em, input.resourceDefinition, 'input.resourceDefinition');
    checkNotDeleting(definition, 'input.resourceDefinition');
    const group = await getResourceGroup(em, (await em.populate(definition, ['resourceGroup'])).resourceGroup.name, 'input.resourceDefinition');
    const vds = await em.find(VolumeDefinition, { resourceDefinition: definition });
    const size = vds.reduce((sum, vd) => sum + vd.sizeKib, 0n);
    const plan = await place(em, emit, touch, job, 'AUTOPLACE', definition, group, size, input.selectFilter, input.additionalReplicas ?? null, input.allowPartialPlacement ?? false);
    return { resourceDefinition: definition, job: plan.job, plan: plan.result };
  });
}

/** Runs the autoplacer inside the transaction and writes its replicas; refuses when it cannot place what is needed. */
async function place(
  em: EntityManager,
  emit: Emit,
  touch: Touch,
  job: RecordJob,
  kind: 'SPAWN' | 'AUTOPLACE',
  definition: IResourceDefinition,
  group: IResourceGroup,
  sizeKib: KiB,
  override: SelectFilterInput | null | undefined,
  additionalReplicas: number | null,
  allowPartial: boolean,
): Promise<{ job: IPlacementJob; result: PlacementResult & { sizeKib: KiB } }> {
  // One placement at a time, cluster-wide, until commit: each decides on a snapshot that already holds the
  // previous one's replicas, so two placements never both spend the same free space or break each other's
  // replicas-on-different / do-not-place-with.
  await em.getConnection().execute("select pg_advisory_xact_lock(hashtext('blockplane:placement'))", [], 'all', em.getTransactionContext());
  const snapshot = await loadPlacementSnapshot(em, { compactUsage: true });
  const result = autoplace(snapshot, {
    resourceDefinition: definition.name,
    sizeKib,
    filter: mergeFilter(group, override),
    additionalReplicas,
    props: { ...group.props, ...definition.props },
    allowPartial,
  });
  const refusal = placementRefusal(result, allowPartial);
  if (refusal) throw refusal;
  const placements = replicasOf(result);
  // Node rows in id order, like every other writer, so concurrent spawns never deadlock on them.
  const nodes = await em.find(Node, { nameKey: { $in: placements.map((p) => nameKey(p.node)) } }, { orderBy: { id: 'asc' }, lockMode: LockMode.PESSIMISTIC_WRITE });
  for (const p of placements) {
    const node = nodes.find((n) => n.nameKey === nameKey(p.node));
    if (!node) {
      throw new ApiError({ code: ErrorCode.CONFLICT, message: `Node '${p.node}' was deleted while this placement was decided.`, correction: 'Retry the request.' });
    }
    const pool = await em.findOneOrFail(StoragePool, { node, nameKey: nameKey(p.pool) });
    await addResource(em, emit, touch, { definition, node, pool, flags: p.flags });
  }
  const recorded = job(kind, definition.name);
  // A partial placement says what it could not do.
  if (!result.ok) recorded.reason = result.explanation;
  return { job: recorded, result: { ...result, sizeKib } };
}
