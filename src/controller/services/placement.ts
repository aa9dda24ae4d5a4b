import type { EntityManager } from '@mikro-orm/postgresql';
import { DEFAULT_RESOURCE_GROUP, nameKey } from '../../common/names.js';
import { parseKiB, type KiB } from '../../common/sizes.js';
import type { Props } from '../../common/props/keys.js';
import type { ConnectionStatus, NodeType, ProviderKind } from '../../common/vocabulary.js';
import type { IResourceGroup } from '../../orm/entities/resource-group.js';
import { VolumeDefinition } from '../../orm/entities/volume-definition.js';
import { autoplace } from '../autoplacer/autoplace.js';
import type { PlacementFilter, PlacementResult, PlacementSnapshot, SnapshotPool, SnapshotResource } from '../autoplacer/types.js';
import { getResourceDefinition, getResourceGroup } from './lookup.js';
import { checkSelectFilter, type SelectFilterInput } from './resource-group.js';

export interface PlacementPlanInput {
  /** Plan more replicas for this definition (its group's filter, its volume sizes). */
  resourceDefinition?: string | null;
  /** Or plan a spawn from this group (default DfltRscGrp) of a new definition with these volume sizes. */
  resourceGroup?: string | null;
  volumeSizes?: readonly string[] | null;
  /** Fields that override the group's select filter for this plan. */
  selectFilter?: SelectFilterInput | null;
  additionalReplicas?: number | null;
}

/**
 * Loads the placement snapshot: every node, every pool with what is already placed in it, every resource. The
 * autoplacer itself stays pure (no database inside), so the same code answers dry runs and real placements.
 */
export async function loadPlacementSnapshot(em: EntityManager, options: { compactUsage?: boolean } = {}): Promise<PlacementSnapshot> {
  return (await loadPlacementState(em, null, options)).snapshot;
}

/**
 * The placement snapshot of a transaction that places several requests in turn (a batch of spawns): `add` records a
 * decided replica in it (the same as reloading it after writing the replica would show), `pool` and `node` find
 * the rows a placement names (ids for the records to write).
 */
export interface PlacementState {
  snapshot: PlacementSnapshot;
  add(resourceDefinition: string, replica: { node: string; pool: string; flags: readonly string[] }, sizeKib: KiB): void;
  pool(node: string, pool: string): PlacementPoolRow | undefined;
  node(name: string): PlacementNodeRow | undefined;
}

export interface PlacementNodeRow {
  id: number;
  name: string;
  nameKey: string;
  props: Props;
}

export interface PlacementPoolRow {
  id: number;
  name: string;
  providerKind: ProviderKind;
}

/**
 * `definitions`: load only the replicas of these definitions (case-insensitive names) instead of every replica in
 * the cluster: enough for requests whose filters name no other definition than these (their own, and their
 * do-not-place-with lists; a do-not-place-with regex needs them all). At 20,000 replicas, reading and filtering all of
 * them was the part of a spawn that grew with the cluster (S3 benchmark).
 *
 * Plain rows throughout, no entities: the spawn path measured most of its controller time in the ORM (hydrating
 * every node and pool per batch, then comparing them at every flush of the transaction).
 */
export async function loadPlacementState(
  em: EntityManager,
  definitions: readonly string[] | null = null,
  /** compactUsage: the caller holds the placement lock (see compactPoolUsage). */
  options: { compactUsage?: boolean } = {},
): Promise<PlacementState> {
  const run = <T>(sql: string, params: unknown[] = []) => em.getConnection().execute<T[]>(sql, params, 'all', em.getTransactionContext());
  const nodes = await run<PlacementNodeRow & { type: NodeType; connectionStatus: ConnectionStatus }>(
    'select id, name, name_key as "nameKey", type, connection_status as "connectionStatus", props from node order by id',
  );
  const pools = await run<{
    id: number;
    node: string;
    name: string;
    providerKind: ProviderKind;
    props: Props;
    totalKib: string | null;
    freeKib: string | null;
    lastError: string | null;
    reserved: string | null;
    users: string | null;
    rows: string | null;
  }>(
    // What each pool holds, as the database keeps it (storage_pool_usage: a few rows per pool, not every volume).
    `select p.id, n.name as node, p.name, p.provider_kind as "providerKind", p.props, p.total_capacity_kib as "totalKib",
            p.free_capacity_kib as "freeKib", p.last_error as "lastError", u.reserved, u.users, u.rows
       from storage_pool p join node n on n.id = p.node_id
       left join (select pool_id as pool, sum(reserved_kib) as reserved, sum(resources) as users, count(*) as rows
                    from storage_pool_usage group by pool_id) u on u.pool = p.id
      order by p.id`,
  );
  // Fold the change rows into one per pool now and then. Only under the placement lock (one folder at a time);
  // writers that add rows meanwhile are not held up (their rows are not visible yet and stay).
  const rows = pools.reduce((sum, p) => sum + Number(p.rows ?? 0), 0);
  if (options.compactUsage && rows > 2 * pools.length + 64) await compactPoolUsage(em);
  const [controller] = await run<{ props: Props }>('select props from controller_config where id = 1');
  const keys = definitions ? [...new Set(definitions.map(nameKey))] : null;
  const resources =
    keys?.length === 0
      ? []
      : await run<{ definition: string; node: string; flags: string[] }>(
          `select d.name as definition, n.name as node, r.flags from resource r
             join resource_definition d on d.id = r.resource_definition_id join node n on n.id = r.node_id
            ${keys ? `where d.name_key in (${keys.map(() => '?').join(', ')})` : ''}`,
          keys ?? [],
        );
  const snapshotPools: SnapshotPool[] = pools.map((p) => ({
    node: p.node,
    name: p.name,
    providerKind: p.providerKind,
    props: p.props,
    totalKib: p.totalKib === null ? null : BigInt(p.totalKib),
    freeKib: p.freeKib === null ? null : BigInt(p.freeKib),
    reservedKib: BigInt(p.reserved ?? 0),
    resourceCount: Number(p.users ?? 0),
    lastError: p.lastError,
  }));
  const snapshotResources: SnapshotResource[] = resources.map((r) => ({
    resourceDefinition: r.definition,
    node: r.node,
    diskless: r.flags.includes('DRBD_DISKLESS') || r.flags.includes('DISKLESS'),
    deleting: r.flags.includes('DELETE'),
    tieBreaker: r.flags.includes('TIE_BREAKER'),
  }));
  const poolKey = (node: string, pool: string) => `${nameKey(node)}/${nameKey(pool)}`;
  const rowByKey = new Map(pools.map((p) => [poolKey(p.node, p.name), { id: p.id, name: p.name, providerKind: p.providerKind }]));
  const snapshotByKey = new Map(snapshotPools.map((p) => [poolKey(p.node, p.name), p]));
  const nodeByKey = new Map(nodes.map((n) => [n.nameKey, { id: n.id, name: n.name, nameKey: n.nameKey, props: n.props }]));
  return {
    snapshot: {
      nodes: nodes.map((n) => ({ name: n.name, type: n.type, connectionStatus: n.connectionStatus, props: n.props })),
      pools: snapshotPools,
      resources: snapshotResources,
      controllerProps: controller?.props ?? {},
    },
    add(resourceDefinition, replica, sizeKib) {
      snapshotResources.push({
        resourceDefinition,
        node: replica.node,
        diskless: replica.flags.includes('DRBD_DISKLESS'),
        deleting: false,
        tieBreaker: replica.flags.includes('TIE_BREAKER'),
      });
      // Like the usage aggregate: every volume of the replica, diskless ones included, counts in its pool.
      const pool = snapshotByKey.get(poolKey(replica.node, replica.pool));
      if (pool) {
        pool.reservedKib += sizeKib;
        pool.resourceCount += 1;
      }
    },
    pool: (node, pool) => rowByKey.get(poolKey(node, pool)),
    node: (name) => nodeByKey.get(nameKey(name)),
  };
}

/**
 * Folds each pool's usage rows (storage_pool_usage) into one. Callers hold the placement lock, so there is one folder
 * at a time; rows that concurrent transactions add meanwhile are not visible to it and stay as they are.
 */
export async function compactPoolUsage(em: EntityManager): Promise<void> {
  await em.getConnection().execute(
    `with gone as (delete from storage_pool_usage returning pool_id, reserved_kib, resources)
     insert into storage_pool_usage (pool_id, reserved_kib, resources)
     select pool_id, sum(reserved_kib), sum(resources) from gone group by pool_id having sum(reserved_kib) <> 0 or sum(resources) <> 0`,
    [],
    'all',
    em.getTransactionContext(),
  );
}

/** The group's stored select filter with the request's fields laid over it (LINSTOR merges the same way). */
export function mergeFilter(group: IResourceGroup, override: SelectFilterInput | null | undefined): PlacementFilter {
  const columns = override ? checkSelectFilter(override, 'input.selectFilter') : {};
  const g = { ...group, ...columns };
  return {
    placeCount: g.placeCount ?? null,
    storagePoolList: g.storagePoolList,
    storagePoolDisklessList: g.storagePoolDisklessList,
    doNotPlaceWithRsc: g.doNotPlaceWithRsc,
    doNotPlaceWithRscRegex: g.doNotPlaceWithRscRegex ?? null,
    replicasOnSame: g.replicasOnSame,
    replicasOnDifferent: g.replicasOnDifferent,
    xReplicasOnDifferent: g.xReplicasOnDifferent,
    providerList: g.providerList as ProviderKind[],
    nodeNameList: g.nodeNameList,
    disklessOnRemaining: g.disklessOnRemaining ?? null,
  };
}

/**
 * A dry run of the autoplacer: where replicas would go now and, for every node or pool not chosen, why. Writes
 * nothing.
 */
export async function placementPlan(em: EntityManager, input: PlacementPlanInput): Promise<PlacementResult & { resourceDefinition: string; sizeKib: KiB }> {
  let name: string;
  let group: IResourceGroup;
  let sizeKib: KiB;
  let props = {};
  if (input.resourceDefinition) {
    const definition = await getResourceDefinition(em, input.resourceDefinition, 'input.resourceDefinition');
    group = await getResourceGroup(em, (await em.populate(definition, ['resourceGroup'])).resourceGroup.name, 'input.resourceDefinition');
    const vds = await em.find(VolumeDefinition, { resourceDefinition: definition });
    sizeKib = vds.reduce((sum, vd) => sum + vd.sizeKib, 0n);
    name = definition.name;
    props = { ...group.props, ...definition.props };
  } else {
    group = await getResourceGroup(em, input.resourceGroup ?? DEFAULT_RESOURCE_GROUP, 'input.resourceGroup');
    sizeKib = (input.volumeSizes ?? []).reduce((sum, s, i) => sum + parseKiB(s, `input.volumeSizes[${i}]`), 0n);
    name = '(new definition)';
    props = { ...group.props };
  }
  const snapshot = await loadPlacementSnapshot(em);
  const result = autoplace(snapshot, {
    resourceDefinition: name,
    sizeKib,
    filter: mergeFilter(group, input.selectFilter),
    additionalReplicas: input.additionalReplicas ?? null,
    props,
  });
  return { ...result, resourceDefinition: name, sizeKib };
}
