import type { EntityManager } from '@mikro-orm/postgresql';
import type { Props } from '../../common/props/keys.js';
import { Node, type INode } from '../../orm/entities/node.js';
import type { IResourceDefinition } from '../../orm/entities/resource-definition.js';
import { StoragePool, type IStoragePool } from '../../orm/entities/storage-pool.js';
import { ApiError, ErrorCode } from '../../common/api-rc.js';
import { DEFAULT_DISKLESS_STORAGE_POOL } from '../../common/names.js';
import { applyPropsChange, initialProps, type PropsChange } from '../../common/props/change.js';
import { STORAGE_NODE_TYPES, type ResourceFlag } from '../../common/vocabulary.js';
import { Resource, type IResource } from '../../orm/entities/resource.js';
import { VolumeDefinition, type IVolumeDefinition } from '../../orm/entities/volume-definition.js';
import { Volume, type IVolume } from '../../orm/entities/volume.js';
import type { ServiceContext } from '../context.js';
import { allocateNodeId, allocateTcpPort } from '../allocators/drbd.js';
import { drbdOptionsChanged, touchReplicaNodes } from './drbd-propagation.js';
import { withTransaction, type Emit, type Touch } from '../transaction.js';
import { checkNotDeleting, getNode, getResource, getResourceDefinition, getStoragePool } from './lookup.js';

export interface CreateResourceRecordInput {
  resourceDefinition: string;
  node: string;
  /** Pool for every volume; DfltDisklessStorPool when `diskless`. */
  storagePool?: string | null;
  diskless?: boolean | null;
  props?: PropsChange['set'];
}

/**
 * Records a resource and one volume per volume definition on a named node and pool. This writes the desired state
 * only; realizing it on the satellite, DRBD numbers and the public mutation come with placement (issue 4).
 */
export async function createResourceRecord(ctx: ServiceContext, input: CreateResourceRecordInput): Promise<IResource> {
  const props = initialProps('resource', input.props, 'input.props');
  return withTransaction(ctx, 'Create resource', async (em, emit, touch, job) => {
    const definition = await getResourceDefinition(em, input.resourceDefinition, 'input.resourceDefinition');
    checkNotDeleting(definition, 'input.resourceDefinition');
    const node = await getNode(em, input.node, 'input.node');
    if (!STORAGE_NODE_TYPES.includes(node.type)) {
      throw ApiError.invalid(ErrorCode.NOT_ALLOWED, 'input.node', `Node '${node.name}' is a ${node.type} node and cannot hold resources.`, 'Choose a SATELLITE or COMBINED node.');
    }
    const diskless = input.diskless ?? false;
    const pool = await getStoragePool(em, node, input.storagePool ?? (diskless ? DEFAULT_DISKLESS_STORAGE_POOL : ''), 'input.storagePool');
    if ((pool.providerKind === 'DISKLESS') !== diskless) {
      throw ApiError.invalid(ErrorCode.INVALID_VALUE, 'input.storagePool', `Pool '${pool.name}' is ${pool.providerKind}, which does not fit a ${diskless ? 'diskless' : 'diskful'} resource.`, diskless ? 'Use a DISKLESS pool.' : 'Use a pool with storage, or set diskless: true.');
    }
    if (await em.count(Resource, { resourceDefinition: definition, node })) throw ApiError.alreadyExists('resource', `${definition.name} on ${node.name}`, 'input.node');
    const resource = await addResource(em, emit, touch, { definition, node, pool, flags: diskless ? ['DRBD_DISKLESS'] : [], props });
    job('CREATE', definition.name);
    return resource;
  });
}

/**
 * Writes one replica inside a caller's transaction: the resource with its DRBD node id and port, one volume per
 * volume definition in `pool`, the node's change-log entry and the events. The caller holds the definition and
 * node row locks (so the numbers are its own) and has checked that the node may hold it.
 */
export async function addResource(
  em: EntityManager,
  emit: Emit,
  touch: Touch,
  spec: { definition: IResourceDefinition; node: INode; pool: IStoragePool; flags: ResourceFlag[]; props?: Props },
): Promise<IResource> {
  const { definition, node } = spec;
  const drbdNodeId = await allocateNodeId(em, definition);
  const drbdPort = await allocateTcpPort(em, node);
  const volumeDefinitions = await em.find(VolumeDefinition, { resourceDefinition: definition }, { orderBy: { volumeNumber: 'asc' } });
  const resource = createReplica(em, emit, touch, { ...spec, drbdNodeId, drbdPort, volumeDefinitions });
  await em.flush();
  await touchPeers(em, touch, definition, resource, `peer added to ${definition.name}`);
  return resource;
}

/**
 * The records of one replica once its DRBD numbers are chosen: the resource, one volume per volume definition in
 * `pool`, the touch of its node and the events. Writes nothing until the caller flushes; touching the peers is the
 * caller's business (a new definition's replicas are all touched anyway).
 */
export function createReplica(
  em: EntityManager,
  emit: Emit,
  touch: Touch,
  spec: {
    definition: IResourceDefinition;
    /** The node (an entity, or the row a spawn batch read: only its id goes into the record). */
    node: Pick<INode, 'id' | 'name'>;
    pool: Pick<IStoragePool, 'id' | 'providerKind'>;
    flags: ResourceFlag[];
    props?: Props;
    drbdNodeId: number;
    drbdPort: number;
    volumeDefinitions: readonly IVolumeDefinition[];
  },
): IResource {
  const { definition, drbdNodeId, drbdPort } = spec;
  const node = em.getReference(Node, spec.node.id);
  const pool = em.getReference(StoragePool, spec.pool.id);
  const diskless = spec.pool.providerKind === 'DISKLESS';
  const resource = em.create(Resource, { resourceDefinition: definition, node, props: spec.props ?? {}, flags: spec.flags, drbdNodeId, drbdPort });
  for (const vd of spec.volumeDefinitions) {
    // A diskless volume has no backing storage to wait for.
    const volume = em.create(Volume, { resource, volumeDefinition: vd, storagePool: pool, props: {}, flags: [], state: diskless ? 'CREATED' : 'PENDING' });
    emit('VOLUME', 'CREATED', [definition.name, spec.node.name, String(vd.volumeNumber)], volume);
  }
  touch(node, `resource ${definition.name} created`, { definition });
  emit('RESOURCE', 'CREATED', [definition.name, spec.node.name], resource);
  return resource;
}

/**
 * Every other replica of the definition lists its peers in its DRBD configuration, so adding or removing a replica
 * changes their nodes' desired state too.
 */
async function touchPeers(em: EntityManager, touch: Touch, definition: IResourceDefinition, except: IResource, reason: string): Promise<void> {
  const peers = await em.find(Resource, { resourceDefinition: definition, id: { $ne: except.id } }, { fields: ['node', 'flags'] });
  for (const peer of peers) if (!peer.flags.includes('DELETE')) touch(peer.node, reason, { afterCommit: true, definition });
}

/**
 * Marks a resource for deletion: it leaves the node's desired state, the satellite removes its backing volumes and
 * reports them DELETED, and only then the record goes (see the satellite report ingestion). Idempotent.
 */
export async function deleteResourceRecord(ctx: ServiceContext, input: { resourceDefinition: string; node: string; force?: boolean }): Promise<IResource> {
  return withTransaction(ctx, 'Delete resource', async (em, emit, touch, job) => {
    // The node row first, like report ingestion does, so the two never wait for each other in opposite orders.
    await getNode(em, input.node, 'input.node');
    const resource = await getResource(em, input.resourceDefinition, input.node, 'input');
    if (!resource.flags.includes('DELETE') && !input.force) refuseLiveReplica(ctx, input.resourceDefinition, input.node);
    if (!resource.flags.includes('DELETE')) {
      resource.flags = [...resource.flags, 'DELETE'];
      const volumes = await em.find(Volume, { resource });
      volumes.forEach((v) => (v.state = 'DELETING'));
      await em.flush();
      touch(resource.node, `resource ${input.resourceDefinition} deleted`, { definition: resource.resourceDefinition });
      await touchPeers(em, touch, resource.resourceDefinition, resource, `peer of ${input.resourceDefinition} deleted`);
      job('DELETE', input.resourceDefinition);
      emit('RESOURCE', 'MODIFIED', [input.resourceDefinition, input.node], resource);
    }
    return resource;
  });
}

/**
 * What DRBD says about a replica, before it goes: a Primary is in use (its peers would drop it at once, and writes
 * made meanwhile would be lost with its storage), and the only UpToDate copy of a volume is the data itself (the
 * others are still syncing from it). Both need `force`. Without current DRBD state (node offline) nothing is known,
 * and the deletion proceeds like LINSTOR's.
 */
function refuseLiveReplica(ctx: ServiceContext, resourceDefinition: string, node: string): void {
  const mine = ctx.events.drbd.get(resourceDefinition, node);
  if (!mine) return;
  const fix = 'Make the resource Secondary (stop its user) or wait for the resync, then delete it; or pass force: true.';
  if (mine.state.role === 'Primary') {
    throw ApiError.invalid(ErrorCode.IN_USE, 'node', `DRBD reports ${resourceDefinition} on ${node} as Primary: it is in use.`, fix);
  }
  const others = ctx.events.drbd.list({ resource: resourceDefinition }).filter((s) => s.node.toUpperCase() !== node.toUpperCase());
  for (const v of mine.state.volumes) {
    if (v.diskState !== 'UpToDate') continue;
    const elsewhere = others.some((o) => o.state.volumes.some((x) => x.volumeNumber === v.volumeNumber && x.diskState === 'UpToDate'));
    const peersKnowOne = mine.state.connections.some((c) => c.peerDevices.some((d) => d.volumeNumber === v.volumeNumber && d.peerDiskState === 'UpToDate'));
    if (!elsewhere && !peersKnowOne && mine.state.connections.length > 0) {
      throw ApiError.invalid(ErrorCode.IN_USE, 'node', `${resourceDefinition} on ${node} holds the only UpToDate copy of volume ${v.volumeNumber}.`, fix);
    }
  }
}

/** Changes a resource's properties. */
export async function modifyResource(ctx: ServiceContext, input: { resourceDefinition: string; node: string; props?: PropsChange | null }): Promise<IResource> {
  return withTransaction(ctx, 'Modify resource', async (em, emit, touch) => {
    const resource = await getResource(em, input.resourceDefinition, input.node, 'input');
    const before = resource.props;
    resource.props = applyPropsChange('resource', resource.props, input.props, 'input.props');
    // LINSTOR renders a resource's options into its own file; the peers' connection sections take it too.
    if (drbdOptionsChanged(before, resource.props)) await touchReplicaNodes(em, touch, { definitionIds: [resource.resourceDefinition.id] }, `DRBD options of ${input.resourceDefinition} on ${input.node} changed`);
    await em.flush();
    emit('RESOURCE', 'MODIFIED', [input.resourceDefinition, input.node], resource);
    return resource;
  });
}

/** Changes a volume's properties (the only thing about a volume a user sets directly). */
export async function modifyVolume(ctx: ServiceContext, input: { resourceDefinition: string; node: string; volumeNumber: number; props?: PropsChange | null }): Promise<IVolume> {
  return withTransaction(ctx, 'Modify volume', async (em, emit) => {
    const resource = await getResource(em, input.resourceDefinition, input.node, 'input');
    const volume = await em.findOne(Volume, { resource, volumeDefinition: { volumeNumber: input.volumeNumber } });
    if (!volume) throw ApiError.notFound('volume', `${input.resourceDefinition}/${input.volumeNumber} on ${input.node}`, 'input.volumeNumber');
    volume.props = applyPropsChange('volume', volume.props, input.props, 'input.props');
    await em.flush();
    emit('VOLUME', 'MODIFIED', [input.resourceDefinition, input.node, String(input.volumeNumber)], volume);
    return volume;
  });
}
