import type { EntityManager, QueryBuilder } from '@mikro-orm/postgresql';
import { ApiError, ErrorCode } from '../common/api-rc.js';
import { nameKey } from '../common/names.js';
import type { ConnectionStatus, JobState, NodeType, ProviderKind } from '../common/vocabulary.js';
import { Node, type INode } from '../orm/entities/node.js';
import { ResourceDefinition, type IResourceDefinition } from '../orm/entities/resource-definition.js';
import { ResourceGroup, type IResourceGroup } from '../orm/entities/resource-group.js';
import { Resource, type IResource } from '../orm/entities/resource.js';
import { StoragePool, type IStoragePool } from '../orm/entities/storage-pool.js';
import { VolumeDefinition, type IVolumeDefinition } from '../orm/entities/volume-definition.js';
import { Volume, type IVolume } from '../orm/entities/volume.js';
import { resourceHealth, type Health } from './drbd/health.js';
import type { DrbdStateStore } from './drbd/state-store.js';
import { PlacementJob, type IPlacementJob } from '../orm/entities/placement-job.js';

/**
 * Read side of the API: filtered, keyset-paginated lists. Each list is one SQL statement (plus one count when the
 * caller asks for totalCount); nested fields are loaded in batches by the API layer.
 */

/** A condition on one property: exactly one of `equals`, `in` or `exists` is given. */
export interface PropFilter {
  key: string;
  equals?: string | null;
  in?: readonly string[] | null;
  exists?: boolean | null;
}

/** Keyset page: rows after/before an id, `limit` rows, newest-first when `inverted` (paging backwards). */
export interface PageRequest {
  afterId?: number | null;
  beforeId?: number | null;
  limit: number;
  inverted: boolean;
}

export interface NodeFilter {
  names?: readonly string[] | null;
  types?: readonly NodeType[] | null;
  connectionStatuses?: readonly ConnectionStatus[] | null;
  props?: readonly PropFilter[] | null;
}

export interface StoragePoolFilter {
  names?: readonly string[] | null;
  nodes?: readonly string[] | null;
  providerKinds?: readonly ProviderKind[] | null;
  props?: readonly PropFilter[] | null;
}

export interface ResourceGroupFilter {
  names?: readonly string[] | null;
  props?: readonly PropFilter[] | null;
}

export interface ResourceDefinitionFilter {
  names?: readonly string[] | null;
  resourceGroups?: readonly string[] | null;
  props?: readonly PropFilter[] | null;
}

export interface ResourceFilter {
  resourceDefinitions?: readonly string[] | null;
  nodes?: readonly string[] | null;
  storagePools?: readonly string[] | null;
  resourceGroups?: readonly string[] | null;
  props?: readonly PropFilter[] | null;
  /** Only resources whose DRBD health is one of these (needs `drbd`, the live state). */
  health?: readonly Health[] | null;
}

export interface VolumeFilter {
  resourceDefinitions?: readonly string[] | null;
  resourceGroups?: readonly string[] | null;
  nodes?: readonly string[] | null;
  storagePools?: readonly string[] | null;
  props?: readonly PropFilter[] | null;
}

export interface VolumeDefinitionFilter {
  resourceDefinitions?: readonly string[] | null;
  resourceGroups?: readonly string[] | null;
  props?: readonly PropFilter[] | null;
}

/** A page of rows plus a lazily computed total (only counted when asked for). */
export interface Page<T> {
  rows: T[];
  totalCount: () => Promise<number>;
}

type AnyQb = QueryBuilder<any>;

/**
 * Runs one page of the query `build` makes. The count query is built only when the caller asks for the total:
 * a built but never executed query would keep its raw SQL fragments in MikroORM's cache.
 */
async function page<T extends object>(build: () => AnyQb, alias: string, request: PageRequest): Promise<Page<T>> {
  const qb = build();
  if (request.afterId != null) qb.andWhere(`${alias}.id > ?`, [request.afterId]);
  if (request.beforeId != null) qb.andWhere(`${alias}.id < ?`, [request.beforeId]);
  qb.orderBy({ [`${alias}.id`]: request.inverted ? 'desc' : 'asc' }).limit(request.limit);
  const rows = (await qb.getResultList()) as T[];
  let total: Promise<number> | undefined;
  return { rows, totalCount: () => (total ??= build().getCount()) };
}

function keys(names: readonly string[]): string[] {
  return names.map(nameKey);
}

/**
 * Adds `sql(list)` with the upper-cased names bound as parameters; `list` is the placeholder list. An empty name
 * list matches nothing (and `in ()` would not even parse).
 */
function whereNameIn(qb: AnyQb, names: readonly string[], sql: (list: string) => string): void {
  if (names.length === 0) {
    qb.andWhere('false');
    return;
  }
  qb.andWhere(sql(names.map(() => '?').join(', ')), keys(names));
}

/**
 * Validates property filters before any query is built (see {@link page}).
 * @throws ApiError INVALID_VALUE naming the filter element
 */
export function checkPropFilters(filters: readonly PropFilter[] | null | undefined, field: string): void {
  (filters ?? []).forEach((f, i) => {
    const given = [f.equals != null, f.in != null, f.exists != null].filter(Boolean).length;
    if (given !== 1) {
      throw ApiError.invalid(ErrorCode.INVALID_VALUE, `${field}[${i}]`, `The filter on '${f.key}' must give exactly one of equals, in or exists.`, 'Use e.g. { key: "Aux/site", equals: "a" }, { key: "Aux/site", in: ["a", "b"] } or { key: "Aux/site", exists: true }.');
    }
  });
}

/** Adds the (validated) property conditions on `alias.props`, a jsonb column with a GIN index. */
function applyPropFilters(qb: AnyQb, alias: string, filters: readonly PropFilter[] | null | undefined): void {
  for (const f of filters ?? []) {
    if (f.equals != null) {
      qb.andWhere(`${alias}.props @> ?::jsonb`, [JSON.stringify({ [f.key]: f.equals })]);
    } else if (f.in != null) {
      if (f.in.length === 0) qb.andWhere('false');
      else qb.andWhere(`(${f.in.map(() => `${alias}.props @> ?::jsonb`).join(' or ')})`, f.in.map((v) => JSON.stringify({ [f.key]: v })));
    } else {
      qb.andWhere(`${f.exists ? '' : 'not '}jsonb_exists(${alias}.props, ?)`, [f.key]);
    }
  }
}

export function listNodes(em: EntityManager, filter: NodeFilter, request: PageRequest): Promise<Page<INode>> {
  checkPropFilters(filter.props, 'filter.props');
  const build = () => {
    const qb = em.createQueryBuilder(Node, 'n');
    if (filter.names) qb.andWhere({ nameKey: { $in: keys(filter.names) } });
    if (filter.types) qb.andWhere({ type: { $in: [...filter.types] } });
    if (filter.connectionStatuses) qb.andWhere({ connectionStatus: { $in: [...filter.connectionStatuses] } });
    applyPropFilters(qb, 'n', filter.props);
    return qb;
  };
  return page(build, 'n', request);
}

export function listStoragePools(em: EntityManager, filter: StoragePoolFilter, request: PageRequest): Promise<Page<IStoragePool>> {
  checkPropFilters(filter.props, 'filter.props');
  const build = () => {
    const qb = em.createQueryBuilder(StoragePool, 'sp');
    if (filter.names) qb.andWhere({ nameKey: { $in: keys(filter.names) } });
    if (filter.providerKinds) qb.andWhere({ providerKind: { $in: [...filter.providerKinds] } });
    if (filter.nodes) {
      whereNameIn(qb, filter.nodes, (list) => `sp.node_id in (select id from node where name_key in (${list}))`);
    }
    applyPropFilters(qb, 'sp', filter.props);
    return qb;
  };
  return page(build, 'sp', request);
}

export function listResourceGroups(em: EntityManager, filter: ResourceGroupFilter, request: PageRequest): Promise<Page<IResourceGroup>> {
  checkPropFilters(filter.props, 'filter.props');
  const build = () => {
    const qb = em.createQueryBuilder(ResourceGroup, 'rg');
    if (filter.names) qb.andWhere({ nameKey: { $in: keys(filter.names) } });
    applyPropFilters(qb, 'rg', filter.props);
    return qb;
  };
  return page(build, 'rg', request);
}

export function listResourceDefinitions(em: EntityManager, filter: ResourceDefinitionFilter, request: PageRequest): Promise<Page<IResourceDefinition>> {
  checkPropFilters(filter.props, 'filter.props');
  const build = () => {
    const qb = em.createQueryBuilder(ResourceDefinition, 'rd');
    if (filter.names) qb.andWhere({ nameKey: { $in: keys(filter.names) } });
    if (filter.resourceGroups) {
      whereNameIn(qb, filter.resourceGroups, (list) => `rd.resource_group_id in (select id from resource_group where name_key in (${list}))`);
    }
    applyPropFilters(qb, 'rd', filter.props);
    return qb;
  };
  return page(build, 'rd', request);
}

export function listResources(em: EntityManager, filter: ResourceFilter, request: PageRequest, drbd?: DrbdStateStore): Promise<Page<IResource>> {
  checkPropFilters(filter.props, 'filter.props');
  const health = filter.health && drbd ? healthCondition(drbd, filter.health) : null;
  const build = () => {
    const qb = em.createQueryBuilder(Resource, 'r');
    if (filter.resourceDefinitions) {
      whereNameIn(qb, filter.resourceDefinitions, (list) => `r.resource_definition_id in (select id from resource_definition where name_key in (${list}))`);
    }
    if (filter.resourceGroups) {
      whereNameIn(qb, filter.resourceGroups, (list) => `r.resource_definition_id in (select rd.id from resource_definition rd join resource_group rg on rg.id = rd.resource_group_id where rg.name_key in (${list}))`);
    }
    if (filter.nodes) {
      whereNameIn(qb, filter.nodes, (list) => `r.node_id in (select id from node where name_key in (${list}))`);
    }
    if (filter.storagePools) {
      whereNameIn(qb, filter.storagePools, (list) => `exists (select 1 from volume v join storage_pool sp on sp.id = v.storage_pool_id where v.resource_id = r.id and sp.name_key in (${list}))`);
    }
    applyPropFilters(qb, 'r', filter.props);
    if (health) qb.andWhere(health.sql, health.params);
    return qb;
  };
  return page(build, 'r', request);
}

/**
 * A SQL condition on resource `r` for "its DRBD health is one of `wanted`". Health lives in memory (see
 * DrbdStateStore), so the matching replicas are computed here and passed as arrays of `node/resource` name keys;
 * a replica's health depends on whether it is diskless, a database flag, so both readings are computed. Replicas
 * without any state are UNKNOWN.
 */
function healthCondition(drbd: DrbdStateStore, wanted: readonly Health[]): { sql: string; params: unknown[] } {
  const want = new Set(wanted);
  const ifDiskful: string[] = [];
  const ifDiskless: string[] = [];
  const known: string[] = [];
  for (const s of drbd.list()) {
    const key = `${nameKey(s.node)}/${nameKey(s.resource)}`;
    known.push(key);
    if (want.has(resourceHealth(s.state, false))) ifDiskful.push(key);
    if (want.has(resourceHealth(s.state, true))) ifDiskless.push(key);
  }
  // One JSON parameter per list (a 20k-replica cluster would exceed PostgreSQL's bind parameter limit otherwise).
  const list = 'array(select jsonb_array_elements_text(?::jsonb))';
  const pair = `((select name_key from node where id = r.node_id) || '/' || (select name_key from resource_definition where id = r.resource_definition_id))`;
  const diskless = `('DRBD_DISKLESS' = any(r.flags) or 'DISKLESS' = any(r.flags))`;
  const parts = [`(not ${diskless} and ${pair} = any(${list}))`, `(${diskless} and ${pair} = any(${list}))`];
  const params: unknown[] = [JSON.stringify(ifDiskful), JSON.stringify(ifDiskless)];
  if (want.has('UNKNOWN')) {
    parts.push(`not (${pair} = any(${list}))`);
    params.push(JSON.stringify(known));
  }
  return { sql: `(${parts.join(' or ')})`, params };
}

export function listVolumes(em: EntityManager, filter: VolumeFilter, request: PageRequest): Promise<Page<IVolume>> {
  checkPropFilters(filter.props, 'filter.props');
  const build = () => {
    const qb = em.createQueryBuilder(Volume, 'v');
    if (filter.resourceDefinitions) {
      whereNameIn(qb, filter.resourceDefinitions, (list) => `v.resource_id in (select r.id from resource r join resource_definition rd on rd.id = r.resource_definition_id where rd.name_key in (${list}))`);
    }
    if (filter.nodes) {
      whereNameIn(qb, filter.nodes, (list) => `v.resource_id in (select r.id from resource r join node n on n.id = r.node_id where n.name_key in (${list}))`);
    }
    if (filter.storagePools) {
      whereNameIn(qb, filter.storagePools, (list) => `v.storage_pool_id in (select id from storage_pool where name_key in (${list}))`);
    }
    if (filter.resourceGroups) {
      whereNameIn(qb, filter.resourceGroups, (list) => `v.resource_id in (select r.id from resource r join resource_definition rd on rd.id = r.resource_definition_id join resource_group rg on rg.id = rd.resource_group_id where rg.name_key in (${list}))`);
    }
    applyPropFilters(qb, 'v', filter.props);
    return qb;
  };
  return page(build, 'v', request);
}

export function listVolumeDefinitions(em: EntityManager, filter: VolumeDefinitionFilter, request: PageRequest): Promise<Page<IVolumeDefinition>> {
  checkPropFilters(filter.props, 'filter.props');
  const build = () => {
    const qb = em.createQueryBuilder(VolumeDefinition, 'vd');
    if (filter.resourceDefinitions) {
      whereNameIn(qb, filter.resourceDefinitions, (list) => `vd.resource_definition_id in (select id from resource_definition where name_key in (${list}))`);
    }
    if (filter.resourceGroups) {
      whereNameIn(qb, filter.resourceGroups, (list) => `vd.resource_definition_id in (select rd.id from resource_definition rd join resource_group rg on rg.id = rd.resource_group_id where rg.name_key in (${list}))`);
    }
    applyPropFilters(qb, 'vd', filter.props);
    return qb;
  };
  return page(build, 'vd', request);
}

export interface PlacementJobFilter {
  states?: readonly JobState[] | null;
  resourceDefinitions?: readonly string[] | null;
  nodes?: readonly string[] | null;
}

export function listPlacementJobs(em: EntityManager, filter: PlacementJobFilter, request: PageRequest): Promise<Page<IPlacementJob>> {
  const build = () => {
    const qb = em.createQueryBuilder(PlacementJob, 'j');
    if (filter.states) qb.andWhere({ state: { $in: [...filter.states] } });
    // Jobs keep the definition's name (they outlive it), so they are matched by name, case-insensitively.
    if (filter.resourceDefinitions) whereNameIn(qb, filter.resourceDefinitions, (list) => `upper(j.resource_definition) in (${list})`);
    if (filter.nodes) {
      whereNameIn(qb, filter.nodes, (list) => `j.id in (select jn.job_id from placement_job_node jn join node n on n.id = jn.node_id where n.name_key in (${list}))`);
    }
    return qb;
  };
  return page(build, 'j', request);
}
