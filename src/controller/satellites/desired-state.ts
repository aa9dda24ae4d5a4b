import type { EntityManager } from '@mikro-orm/postgresql';
import { DEFAULT_PEER_SLOTS, drbdGrossSizeKib, drbdNetSizeKib } from '../../common/drbd-metadata.js';
import type { DesiredDrbdPeer, DesiredDrbdResource } from '../../common/protocol/drbd.js';
import type { DesiredState } from '../../common/protocol/satellite.js';
import { ControllerConfig } from '../../orm/entities/controller-config.js';
import { NetInterface, type INetInterface } from '../../orm/entities/net-interface.js';
import { Node, type INode } from '../../orm/entities/node.js';
import { Resource, type IResource } from '../../orm/entities/resource.js';
import type { IResourceDefinition } from '../../orm/entities/resource-definition.js';
import { StoragePool } from '../../orm/entities/storage-pool.js';
import { VolumeDefinition, type IVolumeDefinition } from '../../orm/entities/volume-definition.js';
import { Volume } from '../../orm/entities/volume.js';

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
 */
export async function buildDesiredState(em: EntityManager, nodeId: number): Promise<DesiredState> {
  return em.transactional(
    async (tx) => {
      const node = await tx.findOneOrFail(Node, nodeId);
      // One after the other: a transaction is one connection, which runs one statement at a time.
      const pools = await tx.find(StoragePool, { node: nodeId }, { orderBy: { nameKey: 'asc' } });
      const own = await tx.find(Resource, { node: nodeId }, { populate: ['resourceDefinition.resourceGroup'], orderBy: { id: 'asc' } });
      const live = own.filter((r) => !r.flags.includes('DELETE'));
      const volumes = await tx.find(
        Volume,
        { resource: { $in: live.map((r) => r.id) }, storagePool: { providerKind: { $ne: 'DISKLESS' } } },
        { populate: ['volumeDefinition', 'storagePool'], orderBy: { id: 'asc' } },
      );
      const drbdOwn = live.filter((r) => runsDrbd(r.resourceDefinition));
      const definitionIds = drbdOwn.map((r) => r.resourceDefinition.id);
      const replicas = definitionIds.length
        ? await tx.find(Resource, { resourceDefinition: { $in: definitionIds } }, { populate: ['node'], orderBy: { id: 'asc' } })
        : [];
      const peerNodeIds = [...new Set(replicas.map((r) => r.node.id))];
      const interfaces = peerNodeIds.length ? await tx.find(NetInterface, { node: { $in: peerNodeIds } }, { orderBy: { id: 'asc' } }) : [];
      const volumeDefinitions = definitionIds.length
        ? await tx.find(VolumeDefinition, { resourceDefinition: { $in: definitionIds } }, { orderBy: { volumeNumber: 'asc' } })
        : [];
      const controller = drbdOwn.length ? await tx.findOne(ControllerConfig, { id: 1 }) : null;
      const revision = await nodeRevision(tx as EntityManager, nodeId);

      const address = addressOf(interfaces);
      const vdsByDefinition = groupBy(volumeDefinitions, (vd) => vd.resourceDefinition.id);
      const replicasByDefinition = groupBy(
        replicas.filter((r) => !r.flags.includes('DELETE')),
        (r) => r.resourceDefinition.id,
      );
      const drbdResources = drbdOwn.map((resource) =>
        desiredDrbdResource(resource, node, replicasByDefinition.get(resource.resourceDefinition.id) ?? [], vdsByDefinition.get(resource.resourceDefinition.id) ?? [], address, controller?.props ?? {}),
      );

      return {
        node: node.name,
        revision,
        pools: pools.map((p) => ({ name: p.name, providerKind: p.providerKind, props: { ...p.props } })),
        volumes: volumes.map((v) => {
          const definition = live.find((r) => r.id === v.resource.id)!.resourceDefinition;
          const net = v.volumeDefinition.sizeKib;
          const gross = runsDrbd(definition) && !v.volumeDefinition.flags.includes('GROSS_SIZE') ? drbdGrossSizeKib(net, peerSlotsOf(definition)) : net;
          return { resource: definition.name, volumeNumber: v.volumeDefinition.volumeNumber, pool: v.storagePool.name, sizeKib: String(gross) };
        }),
        drbdResources: drbdResources.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
      };
    },
    { isolationLevel: 'repeatable read' as never, readOnly: true, clear: true },
  );
}

function desiredDrbdResource(
  resource: IResource,
  node: INode,
  replicas: IResource[],
  volumeDefinitions: IVolumeDefinition[],
  address: (nodeId: number) => string,
  controllerProps: Record<string, string>,
): DesiredDrbdResource {
  const definition = resource.resourceDefinition;
  const group = definition.resourceGroup;
  // Lowest priority first, like effective properties everywhere else.
  const props: Record<string, string> = { ...controllerProps, ...(group?.props ?? {}), ...definition.props, ...resource.props };
  const options: Record<string, string> = {};
  for (const [key, value] of Object.entries(props)) if (DRBD_OPTION_PREFIXES.some((p) => key.startsWith(p))) options[key] = value;
  const diskful = replicas.filter((r) => !isDiskless(r));
  options[QUORUM_KEY] = quorumFor(diskful.length, replicas.length - diskful.length, props[QUORUM_KEY]);

  const peers: DesiredDrbdPeer[] = replicas
    .filter((r) => r.id !== resource.id)
    .map((r) => ({
      node: r.node.name,
      hostname: r.node.satelliteHostname ?? r.node.name,
      nodeId: required(r.drbdNodeId, `replica of ${definition.name} on ${r.node.name} has no DRBD node id`),
      address: address(r.node.id),
      port: required(r.drbdPort, `replica of ${definition.name} on ${r.node.name} has no DRBD port`),
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
    nodeId: required(resource.drbdNodeId, `replica of ${definition.name} on ${node.name} has no DRBD node id`),
    address: address(node.id),
    port: required(resource.drbdPort, `replica of ${definition.name} on ${node.name} has no DRBD port`),
    diskless: isDiskless(resource),
    tieBreaker: resource.flags.includes('TIE_BREAKER'),
    peerSlots: peerSlotsOf(definition),
    // DRBD offers the net size: the definition's size, or for GROSS_SIZE what is left after the metadata.
    volumes: volumeDefinitions.map((vd) => ({
      volumeNumber: vd.volumeNumber,
      minor: required(vd.drbdMinor, `volume definition ${definition.name}/${vd.volumeNumber} has no DRBD minor`),
      sizeKib: String(vd.flags.includes('GROSS_SIZE') ? drbdNetSizeKib(vd.sizeKib, peerSlotsOf(definition)) : vd.sizeKib),
    })),
    peers,
    options: Object.fromEntries(Object.entries(options).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    initialSyncSourceVolumes,
  };
}

/** The group's peer slots (create-md --max-peers, and the metadata's size), LINSTOR's default 7 when unset. */
function peerSlotsOf(definition: IResourceDefinition): number {
  return definition.resourceGroup?.peerSlots ?? DEFAULT_PEER_SLOTS;
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
function addressOf(interfaces: INetInterface[]): (nodeId: number) => string {
  const byNode = new Map<number, string>();
  for (const ni of interfaces) if (ni.isActive || !byNode.has(ni.node.id)) byNode.set(ni.node.id, ni.address);
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
export async function nodeRevision(em: EntityManager, nodeId: number): Promise<number> {
  const rows: { revision: string | null }[] = await em
    .getConnection()
    .execute('select max(id) as revision from node_change where node_id = ?', [nodeId], 'all', em.getTransactionContext());
  return Number(rows[0]?.revision ?? 0);
}
