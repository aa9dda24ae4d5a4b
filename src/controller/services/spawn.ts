import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ApiError, ErrorCode } from '../../common/api-rc.js';
import { checkName, DEFAULT_DISKLESS_STORAGE_POOL, DEFAULT_RESOURCE_GROUP, nameKey } from '../../common/names.js';
import { initialProps, type PropsChange } from '../../common/props/change.js';
import { parseKiB, type KiB } from '../../common/sizes.js';
import type { ResourceFlag } from '../../common/vocabulary.js';
import { Node } from '../../orm/entities/node.js';
import type { IPlacementJob } from '../../orm/entities/placement-job.js';
import { ResourceDefinition, type IResourceDefinition } from '../../orm/entities/resource-definition.js';
import type { IResourceGroup } from '../../orm/entities/resource-group.js';
import { StoragePool } from '../../orm/entities/storage-pool.js';
import { VolumeDefinition } from '../../orm/entities/volume-definition.js';
import { VolumeGroup } from '../../orm/entities/volume-group.js';
import { allocateMinors, newDrbdSecret } from '../allocators/drbd.js';
import { autoplace } from '../autoplacer/autoplace.js';
import type { PlacementResult } from '../autoplacer/types.js';
import type { ServiceContext } from '../context.js';
import { withTransaction, type Emit, type RecordJob, type Touch } from '../transaction.js';
import { checkNotDeleting, getResourceDefinition, getResourceGroup } from './lookup.js';
import { loadPlacementSnapshot, mergeFilter } from './placement.js';
import { addResource } from './resource.js';
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

/**
 * Spawns a resource definition from a resource group (LINSTOR's `resource-group spawn`): the definition, one volume
 * definition per volume group with the given sizes, then the autoplacer's replicas with their volumes and DRBD
 * numbers, and a placement job, all in one transaction. A placement that cannot be met is refused with the
 * autoplacer's explanation, and nothing is written.
 */
export async function spawnResources(ctx: ServiceContext, input: SpawnInput): Promise<PlacementOutcome> {
  const name = checkName('resource definition', input.resourceDefinition, 'input.resourceDefinition');
  const props = initialProps('resourceDefinition', input.props, 'input.props');
  const sizes = input.volumeSizes.map((s, i) => {
    const kib = parseKiB(s, `input.volumeSizes[${i}]`);
    if (kib === 0n) throw ApiError.invalid(ErrorCode.INVALID_SIZE, `input.volumeSizes[${i}]`, 'A volume cannot be 0 KiB.', 'Give a size of at least 1 KiB, e.g. "1GiB".');
    return kib;
  });
  return withTransaction(ctx, 'Spawn resources', async (em, emit, touch, job) => {
    const group = await getResourceGroup(em, input.resourceGroup ?? DEFAULT_RESOURCE_GROUP, 'input.resourceGroup');
    if (await em.count(ResourceDefinition, { nameKey: nameKey(name) })) throw ApiError.alreadyExists('resource definition', name, 'input.resourceDefinition');
    const groups = await em.find(VolumeGroup, { resourceGroup: group }, { orderBy: { volumeNumber: 'asc' } });
    if (groups.length > 0 && sizes.length !== groups.length && !input.partial) {
      throw ApiError.invalid(
        ErrorCode.INVALID_VALUE,
        'input.volumeSizes',
        `Resource group '${group.name}' has ${groups.length} volume group(s) but ${sizes.length} size(s) were given.`,
        'Give one size per volume group, or set partial: true to create only as many volumes as sizes given (extra sizes become extra volumes).',
      );
    }
    if (sizes.length === 0) throw ApiError.invalid(ErrorCode.INVALID_VALUE, 'input.volumeSizes', 'A spawned definition needs at least one volume.', 'Give at least one size, e.g. ["10GiB"].');
    const definition = em.create(ResourceDefinition, { name, resourceGroup: group, externalName: input.externalName ?? null, props, layerStack: [], flags: [], drbdSecret: newDrbdSecret() });
    const minors = await allocateMinors(em, sizes.length);
    let next = 0;
    sizes.forEach((sizeKib, i) => {
      // Volume numbers follow the volume groups; sizes beyond them (partial) take the next free numbers.
      const volumeNumber = groups[i]?.volumeNumber ?? Math.max(next, ...groups.map((g) => g.volumeNumber + 1));
      next = volumeNumber + 1;
      const vd = em.create(VolumeDefinition, { resourceDefinition: definition, volumeNumber, sizeKib, props: {}, flags: groups[i]?.flags.includes('GROSS_SIZE') ? ['GROSS_SIZE'] : [], drbdMinor: minors[i]! });
      emit('VOLUME_DEFINITION', 'CREATED', [name, String(volumeNumber)], vd);
    });
    await em.flush();
    emit('RESOURCE_DEFINITION', 'CREATED', [definition.name], definition);
    if (input.definitionsOnly) return { resourceDefinition: definition, job: null, plan: null };
    const plan = await place(em, emit, touch, job, 'SPAWN', definition, group, sizes.reduce((a, b) => a + b, 0n), input.selectFilter, null, input.allowPartialPlacement ?? false);
    return { resourceDefinition: definition, job: plan.job, plan: plan.result };
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
  const snapshot = await loadPlacementSnapshot(em);
  const result = autoplace(snapshot, {
    resourceDefinition: definition.name,
    sizeKib,
    filter: mergeFilter(group, override),
    additionalReplicas,
    props: { ...group.props, ...definition.props },
    allowPartial,
  });
  if ((!result.ok && !allowPartial) || (result.needed > 0 && result.placements.length === 0)) {
    throw new ApiError({
      code: ErrorCode.PLACEMENT_FAILED,
      message: result.explanation,
      correction: 'Add capacity or nodes, relax the select filter (selectFilter overrides it for one request), or set allowPartialPlacement. placementPlan shows the same explanation without writing anything.',
      details: { needed: result.needed, rejections: result.rejections.map((r) => ({ node: r.node, pool: r.pool ?? null, reasons: r.reasons })) },
    });
  }
  const placements = [
    ...result.placements.map((p) => ({ node: p.node, pool: p.pool, flags: [] as ResourceFlag[] })),
    ...result.disklessPlacements.map((p) => ({ node: p.node, pool: p.pool || DEFAULT_DISKLESS_STORAGE_POOL, flags: (p.tieBreaker ? ['DRBD_DISKLESS', 'TIE_BREAKER'] : ['DRBD_DISKLESS']) as ResourceFlag[] })),
  ];
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
