import type { EntityManager } from '@mikro-orm/postgresql';
import { DEFAULT_PEER_SLOTS, drbdGrossSizeKib, drbdNetSizeKib } from '../../common/drbd-metadata.js';
import type { DesiredDrbdPeer, DesiredDrbdResource } from '../../common/protocol/drbd.js';
import type { DesiredState } from '../../common/protocol/satellite.js';
import type { ProviderKind } from '../../common/vocabulary.js';
import type { IResource } from '../../orm/entities/resource.js';
import type { IResourceDefinition } from '../../orm/entities/resource-definition.js';

/** Property keys of DRBD options handed to the satellite's .res writer (LINSTOR's namespaces). */
const DRBD_OPTION_PREFIXES = ['DrbdOptions/Resource/', 'DrbdOptions/Net/', 'DrbdOptions/Disk/', 'DrbdOptions/PeerDevice/', 'DrbdOptions/Handlers/'];
const QUORUM_KEY = 'DrbdOptions/Resource/quorum';

/** Whether a definition runs DRBD: the default layer stack (empty) is DRBD over STORAGE. */
export function runsDrbd(definition: Pick<IResourceDefinition, 'layerStack'>): boolean {
  return definition.layerStack.length === 0 || definition.layerStack.includes('DRBD');
}

/** Whether a replica has no local disk (a diskless client or tie-breaker). */
export function isDiskless(resource: Pick<IResource, 'flags'>): boolean {
  return resource.flags.includes('DRBD_DISKLESS') || resource.flags.includes('DISKLESS');
}

/**
 * LINSTOR's auto-quorum: `majority` when a lost node can be outvoted (at least three diskful replicas, or two plus a
 * diskless one), else `off`; a value the user set (on the controller, group, definition or resource) wins.
 */
export function quorumFor(diskful: number, diskless: number, userValue: string | undefined): string {
  if (userValue !== undefined) return userValue;
  return diskful >= 3 || (diskful === 2 && diskless >= 1) ? 'majority' : 'off';
}

/** A replica of a definition as the desired state needs it (plain rows: see buildDesiredState). */
interface ReplicaRow {
  id: number;
  definitionId: number;
  flags: string[];
  props: Record<string, string>;
  drbdNodeId: number | null;
  drbdPort: number | null;
  nodeId: number;
  nodeName: string;
  satelliteHostname: string | null;
}

/** A definition with its group's inherited settings. */
interface DefinitionRow {
  id: number;
  name: string;
  props: Record<string, string>;
  layerStack: string[];
  drbdSecret: string | null;
  groupProps: Record<string, string> | null;
  peerSlots: number | null;
}

interface VolumeDefinitionRow {
  definitionId: number;
  volumeNumber: number;
  sizeKib: string;
  flags: string[];
  drbdMinor: number | null;
}

/**
 * Everything `nodeId` must realize, read in one consistent snapshot:
 * - its storage pools;
 * - the backing volumes of its diskful resources that are not being deleted (a resource marked DELETE drops out, so
 *   its satellite takes DRBD down and removes the volumes), sized gross: the volume definition's size plus DRBD's
 *   internal metadata, unless the definition is GROSS_SIZE or the definition does not run DRBD;
 * - one DRBD resource per resource on the node that is not being deleted, with its peers (the definition's other
 *   replicas that are not being deleted), addresses from each node's active net interface, ports, node ids, minors,
 *   the secret, DrbdOptions/* after inheritance and the quorum decided here.
 * The revision is the node's highest change-log entry.
 *
 * Built on every change of the node, so it reads plain rows with a handful of joins instead of hydrating entities:
 * the benchmarks measured entity hydration of a node's replicas, their definitions, peers and volumes as the largest
 * cost of the controller during a burst of spawns.
 */
export async function buildDesiredState(em: EntityManager, nodeId: number): Promise<DesiredState> {
  return em.transactional(async (tx) => readDesiredState(runner(tx), nodeId, null), SNAPSHOT);
}

/**
 * The node's desired state after `previous` (the state last sent to it), rebuilding only what changed since: the
 * change-log entries after `previous.revision` name the definitions each change was confined to (see Touch), and
 * only those definitions' DRBD resources and backing volumes are read again and replaced. An entry confined to
 * nothing (pools, addresses, inherited options, a deleted definition) makes it a full build, as does a definition
 * that no longer exists. With no new entry, `previous` itself comes back.
 *
 * The benchmarks measured the full build per change as the cost that grows with the node: a spawn touching a node
 * with 400 replicas read all 400 and their peers again (S3).
 */
export async function buildDesiredStateUpdate(em: EntityManager, nodeId: number, previous: DesiredState): Promise<DesiredState> {
  return em.transactional(async (tx) => {
    const run = runner(tx);
    const changes = await run<{ id: string; resourceDefinitions: number[] | null }>(
      'select id, resource_definitions as "resourceDefinitions" from node_change where node_id = ? and id > ? order by id',
      [nodeId, previous.revision],
    );
    if (changes.length === 0) return previous;
    if (changes.some((c) => c.resourceDefinitions === null)) return readDesiredState(run, nodeId, null);
    const ids = [...new Set(changes.flatMap((c) => c.resourceDefinitions!))].sort((a, b) => a - b);
    const revision = Number(changes[changes.length - 1]!.id);
    // Entries confined to no definition at all change nothing but the revision.
    if (ids.length === 0) return rebuilt(new Set(), { ...previous, revision });
    const names = await run<{ id: number; name: string }>(`select id, name from resource_definition where id in (${ids.map(() => '?').join(', ')})`, ids);
    if (names.length !== ids.length) return readDesiredState(run, nodeId, null);
    const part = await readDesiredState(run, nodeId, ids);
    const replaced = new Set(names.map((n) => n.name));
    const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    return rebuilt(replaced, {
      node: previous.node,
      revision,
      pools: previous.pools,
      // Rebuilt definitions' volumes come last (a full build lists them by creation); deltas are keyed, not ordered.
      volumes: [...previous.volumes.filter((v) => !replaced.has(v.resource)), ...part.volumes],
      drbdResources: [...previous.drbdResources.filter((r) => !replaced.has(r.name)), ...part.drbdResources].sort(byName),
    });
  }, SNAPSHOT);
}

/** The definitions an incremental build rebuilt, by state it returned (see rebuiltScope). */
const scopes = new WeakMap<DesiredState, ReadonlySet<string>>();

function rebuilt(names: ReadonlySet<string>, state: DesiredState): DesiredState {
  scopes.set(state, names);
  return state;
}

/**
 * The resource names whose entries `state` may hold differently from the state it was built from, when
 * buildDesiredStateUpdate built it incrementally (every other entry and the pools are the previous state's own
 * objects); undefined for a full build. For diffDesiredState's scope.
 */
export function rebuiltScope(state: DesiredState): ReadonlySet<string> | undefined {
  return scopes.get(state);
}

/** One consistent snapshot; read only. */
const SNAPSHOT = { isolationLevel: 'repeatable read' as never, readOnly: true, clear: true };

type Run = <T>(sql: string, params?: unknown[]) => Promise<T[]>;

function runner(tx: EntityManager): Run {
  return <T>(sql: string, params: unknown[] = []) => tx.getConnection().execute<T[]>(sql, params, 'all', tx.getTransactionContext());
}

/**
 * The desired state of `nodeId` as the snapshot of `run` has it; with `only`, just those definitions' DRBD resources
 * and backing volumes (no pools), for buildDesiredStateUpdate.
 */
async function readDesiredState(run: Run, nodeId: number, only: readonly number[] | null): Promise<DesiredState> {
  // One after the other: a transaction is one connection, which runs one statement at a time. An update keeps the
  // node's name from the state it starts from.
  const [node] = only ? [{ id: nodeId, name: '' }] : await run<{ id: number; name: string }>('select id, name from node where id = ?', [nodeId]);
  if (!node) throw new Error(`node ${nodeId} does not exist; its desired state cannot be built`);
  const pools = only
    ? []
    : await run<{ name: string; providerKind: string; props: Record<string, string> }>(
        'select name, provider_kind as "providerKind", props from storage_pool where node_id = ? order by name_key',
        [nodeId],
      );
  const onlyIds = only ? ` and r.resource_definition_id in (${only.map(() => '?').join(', ')})` : '';
  const onlyParams = only ?? [];
  // The definitions of the node's live replicas, with their groups.
  const definitions = await run<DefinitionRow>(
    `select d.id, d.name, d.props, d.layer_stack as "layerStack", d.drbd_secret as "drbdSecret", g.props as "groupProps", g.peer_slots as "peerSlots"
       from resource_definition d left join resource_group g on g.id = d.resource_group_id
      where d.id in (select r.resource_definition_id from resource r where r.node_id = ? and not ('DELETE' = any(r.flags))${onlyIds})`,
    [nodeId, ...onlyParams],
  );
  const definitionById = new Map(definitions.map((d) => [d.id, d]));
  const volumes = await run<{ definitionId: number; volumeNumber: number; sizeKib: string; flags: string[]; pool: string }>(
    `select r.resource_definition_id as "definitionId", vd.volume_number as "volumeNumber", vd.size_kib as "sizeKib", vd.flags, p.name as pool
       from volume v join resource r on r.id = v.resource_id join volume_definition vd on vd.id = v.volume_definition_id
       join storage_pool p on p.id = v.storage_pool_id
      where r.node_id = ? and not ('DELETE' = any(r.flags)) and p.provider_kind <> 'DISKLESS'${onlyIds}
      order by v.id`,
    [nodeId, ...onlyParams],
  );
  const drbdDefinitionIds = definitions.filter((d) => runsDrbd(d)).map((d) => d.id);
  const inDrbd = drbdDefinitionIds.map(() => '?').join(', ');
  // Every replica of those definitions (this node's included), with its node.
  const replicas = drbdDefinitionIds.length
    ? await run<ReplicaRow>(
        `select r.id, r.resource_definition_id as "definitionId", r.flags, r.props, r.drbd_node_id as "drbdNodeId", r.drbd_port as "drbdPort",
                n.id as "nodeId", n.name as "nodeName", n.satellite_hostname as "satelliteHostname"
           from resource r join node n on n.id = r.node_id
          where r.resource_definition_id in (${inDrbd}) order by r.id`,
        drbdDefinitionIds,
      )
    : [];
  const peerNodeIds = [...new Set(replicas.map((r) => r.nodeId))];
  const interfaces = peerNodeIds.length
    ? await run<{ nodeId: number; address: string; isActive: boolean }>(
        `select node_id as "nodeId", address, is_active as "isActive" from net_interface where node_id in (${peerNodeIds.map(() => '?').join(', ')}) order by id`,
        peerNodeIds,
      )
    : [];
  const volumeDefinitions = drbdDefinitionIds.length
    ? await run<VolumeDefinitionRow>(
        `select resource_definition_id as "definitionId", volume_number as "volumeNumber", size_kib as "sizeKib", flags, drbd_minor as "drbdMinor"
           from volume_definition where resource_definition_id in (${inDrbd}) order by volume_number`,
        drbdDefinitionIds,
      )
    : [];
  const [controller] = drbdDefinitionIds.length ? await run<{ props: Record<string, string> }>('select props from controller_config where id = 1') : [];
  const [{ revision } = { revision: null }] = await run<{ revision: string | null }>(NODE_REVISION_SQL, [nodeId]);

  const address = addressOf(interfaces);
  const vdsByDefinition = groupBy(volumeDefinitions, (vd) => vd.definitionId);
  const replicasByDefinition = groupBy(
    replicas.filter((r) => !r.flags.includes('DELETE')),
    (r) => r.definitionId,
  );
  const drbdResources = replicas
    .filter((r) => r.nodeId === nodeId && !r.flags.includes('DELETE'))
    .map((resource) => {
      const definition = definitionById.get(resource.definitionId)!;
      return desiredDrbdResource(resource, definition, replicasByDefinition.get(definition.id) ?? [], vdsByDefinition.get(definition.id) ?? [], address, controller?.props ?? {});
    });

  return {
    node: node.name,
    revision: Number(revision ?? 0),
    pools: pools.map((p) => ({ name: p.name, providerKind: p.providerKind as ProviderKind, props: { ...p.props } })),
    volumes: volumes.map((v) => {
      const definition = definitionById.get(v.definitionId)!;
      const net = BigInt(v.sizeKib);
      const gross = runsDrbd(definition) && !v.flags.includes('GROSS_SIZE') ? drbdGrossSizeKib(net, peerSlotsOf(definition)) : net;
      return { resource: definition.name, volumeNumber: v.volumeNumber, pool: v.pool, sizeKib: String(gross) };
    }),
    drbdResources: drbdResources.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}

function desiredDrbdResource(
  resource: ReplicaRow,
  definition: DefinitionRow,
  replicas: ReplicaRow[],
  volumeDefinitions: VolumeDefinitionRow[],
  address: (nodeId: number) => string,
  controllerProps: Record<string, string>,
): DesiredDrbdResource {
  // Lowest priority first, like effective properties everywhere else.
  const props: Record<string, string> = { ...controllerProps, ...(definition.groupProps ?? {}), ...definition.props, ...resource.props };
  const options: Record<string, string> = {};
  for (const [key, value] of Object.entries(props)) if (DRBD_OPTION_PREFIXES.some((p) => key.startsWith(p))) options[key] = value;
  const diskful = replicas.filter((r) => !isDiskless(r));
  options[QUORUM_KEY] = quorumFor(diskful.length, replicas.length - diskful.length, props[QUORUM_KEY]);

  const peers: DesiredDrbdPeer[] = replicas
    .filter((r) => r.id !== resource.id)
    .map((r) => ({
      node: r.nodeName,
      hostname: r.satelliteHostname ?? r.nodeName,
      nodeId: required(r.drbdNodeId, `replica of ${definition.name} on ${r.nodeName} has no DRBD node id`),
      address: address(r.nodeId),
      port: required(r.drbdPort, `replica of ${definition.name} on ${r.nodeName} has no DRBD port`),
      diskless: isDiskless(r),
      tieBreaker: r.flags.includes('TIE_BREAKER'),
    }))
    .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));

  // The first diskful replica (lowest DRBD node id) seeds volumes no replica ever had data for.
  const seed = [...diskful].sort((a, b) => (a.drbdNodeId ?? 0) - (b.drbdNodeId ?? 0))[0];
  const initialSyncSourceVolumes =
    seed?.id === resource.id ? volumeDefinitions.filter((vd) => !vd.flags.includes('DRBD_INITIALIZED')).map((vd) => vd.volumeNumber) : [];

  return {
    name: definition.name,
    secret: definition.drbdSecret ?? '',
    nodeId: required(resource.drbdNodeId, `replica of ${definition.name} on ${resource.nodeName} has no DRBD node id`),
    address: address(resource.nodeId),
    port: required(resource.drbdPort, `replica of ${definition.name} on ${resource.nodeName} has no DRBD port`),
    diskless: isDiskless(resource),
    tieBreaker: resource.flags.includes('TIE_BREAKER'),
    peerSlots: peerSlotsOf(definition),
    // DRBD offers the net size: the definition's size, or for GROSS_SIZE what is left after the metadata.
    volumes: volumeDefinitions.map((vd) => ({
      volumeNumber: vd.volumeNumber,
      minor: required(vd.drbdMinor, `volume definition ${definition.name}/${vd.volumeNumber} has no DRBD minor`),
      sizeKib: String(vd.flags.includes('GROSS_SIZE') ? drbdNetSizeKib(BigInt(vd.sizeKib), peerSlotsOf(definition)) : BigInt(vd.sizeKib)),
    })),
    peers,
    options: Object.fromEntries(Object.entries(options).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    initialSyncSourceVolumes,
  };
}

/** The group's peer slots (create-md --max-peers, and the metadata's size), LINSTOR's default 7 when unset. */
function peerSlotsOf(definition: Pick<DefinitionRow, 'peerSlots'>): number {
  return definition.peerSlots ?? DEFAULT_PEER_SLOTS;
}

/**
 * A DRBD number every replica gets when it is created; a row without one is corrupt. Refusing to build the state
 * (the hub logs the error and tries again) beats writing node-id 0 or port 0 into a .res file.
 */
function required(value: number | null | undefined, what: string): number {
  if (value === null || value === undefined) throw new Error(`${what}; the desired state cannot be built`);
  return value;
}

/** A node's DRBD address: its active net interface (every node has one; createNode requires an interface). */
function addressOf(interfaces: readonly { nodeId: number; address: string; isActive: boolean }[]): (nodeId: number) => string {
  const byNode = new Map<number, string>();
  for (const ni of interfaces) if (ni.isActive || !byNode.has(ni.nodeId)) byNode.set(ni.nodeId, ni.address);
  return (nodeId) => byNode.get(nodeId) ?? '';
}

function groupBy<T>(items: readonly T[], key: (item: T) => number): Map<number, T[]> {
  const map = new Map<number, T[]>();
  for (const item of items) {
    const list = map.get(key(item));
    if (list) list.push(item);
    else map.set(key(item), [item]);
  }
  return map;
}

/** The node's current desired-state revision: its highest change-log id (0 before the first change). */
const NODE_REVISION_SQL = 'select max(id) as revision from node_change where node_id = ?';

export async function nodeRevision(em: EntityManager, nodeId: number): Promise<number> {
  const rows: { revision: string | null }[] = await em.getConnection().execute(NODE_REVISION_SQL, [nodeId], 'all', em.getTransactionContext());
  return Number(rows[0]?.revision ?? 0);
}
