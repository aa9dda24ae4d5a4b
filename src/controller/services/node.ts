import { isIP } from 'node:net';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ApiError, ErrorCode } from '../../common/api-rc.js';
import { checkName, DEFAULT_DISKLESS_STORAGE_POOL, DEFAULT_NET_INTERFACE, nameKey } from '../../common/names.js';
import { applyPropsChange, initialProps, type PropsChange } from '../../common/props/change.js';
import { DEFAULT_SATELLITE_PORT, STORAGE_NODE_TYPES, type EncryptionType, type NodeType } from '../../common/vocabulary.js';
import { NetInterface, type INetInterface } from '../../orm/entities/net-interface.js';
import { Node, type INode } from '../../orm/entities/node.js';
import { Resource } from '../../orm/entities/resource.js';
import { StoragePool } from '../../orm/entities/storage-pool.js';
import type { ServiceContext } from '../context.js';
import { issueSecret } from '../satellites/secrets.js';
import { touchReplicaNodes } from './drbd-propagation.js';
import { withTransaction, type Emit } from '../transaction.js';
import { getNode } from './lookup.js';

export interface NetInterfaceInput {
  name?: string | null;
  address: string;
  satellitePort?: number | null;
  encryptionType?: EncryptionType | null;
  isActive?: boolean | null;
}

export interface CreateNodeInput {
  name: string;
  type?: NodeType | null;
  netInterfaces?: readonly NetInterfaceInput[] | null;
  props?: PropsChange['set'];
}

export interface ModifyNodeInput {
  name: string;
  type?: NodeType | null;
  props?: PropsChange | null;
}

export interface ModifyNetInterfaceInput {
  node: string;
  name: string;
  address?: string | null;
  satellitePort?: number | null;
  encryptionType?: EncryptionType | null;
  isActive?: boolean | null;
}

/**
 * Registers a node with its net interfaces. Storage nodes (SATELLITE, COMBINED) need at least one interface (DRBD
 * replicates over its address) and get their DfltDisklessStorPool at once.
 */
export async function createNode(ctx: ServiceContext, input: CreateNodeInput): Promise<{ node: INode; satelliteSecret: string | null }> {
  const name = checkName('node', input.name, 'input.name');
  const type = input.type ?? 'SATELLITE';
  const props = initialProps('node', input.props, 'input.props');
  const interfaces = input.netInterfaces ?? [];
  if (STORAGE_NODE_TYPES.includes(type) && interfaces.length === 0) {
    throw ApiError.invalid(
      ErrorCode.INVALID_VALUE,
      'input.netInterfaces',
      `A ${type} node needs at least one net interface: DRBD replicates over its address.`,
      "Add a net interface, e.g. netInterfaces: [{ address: \"192.168.1.10\" }].",
    );
  }
  const checked = interfaces.map((ni, i) => checkNetInterface(ni, `input.netInterfaces[${i}]`));
  const names = new Set<string>();
  checked.forEach((ni, i) => {
    if (names.has(nameKey(ni.name))) throw ApiError.alreadyExists('net interface', ni.name, `input.netInterfaces[${i}].name`);
    names.add(nameKey(ni.name));
  });
  if (checked.length > 0 && !checked.some((ni) => ni.isActive)) checked[0]!.isActive = true;
  if (checked.filter((ni) => ni.isActive).length > 1) {
    throw ApiError.invalid(ErrorCode.INVALID_VALUE, 'input.netInterfaces', 'More than one net interface is marked active.', 'Mark exactly one interface isActive: true (the first is active by default).');
  }

  return withTransaction(ctx, 'Create node', async (em, emit, touch) => {
    if (await em.count(Node, { nameKey: nameKey(name) })) throw ApiError.alreadyExists('node', name, 'input.name');
    // Storage nodes run a satellite, which authenticates with this secret; only its hash is stored.
    const issued = STORAGE_NODE_TYPES.includes(type) ? issueSecret() : null;
    const node = em.create(Node, { name, type, props, satelliteSecretHash: issued?.hash ?? null });
    for (const ni of checked) em.create(NetInterface, { ...ni, node });
    if (STORAGE_NODE_TYPES.includes(type)) createDisklessPool(em, node, emit);
    await em.flush();
    if (STORAGE_NODE_TYPES.includes(type)) touch(node, 'node registered');
    emit('NODE', 'CREATED', [node.name], node);
    return { node, satelliteSecret: issued?.secret ?? null };
  });
}

/** Changes a node's type and/or properties. */
export async function modifyNode(ctx: ServiceContext, input: ModifyNodeInput): Promise<INode> {
  const node = await withTransaction(ctx, 'Modify node', async (em, emit, touch) => {
    const node = await getNode(em, input.name, 'input.name');
    node.props = applyPropsChange('node', node.props, input.props, 'input.props');
    if (input.type && input.type !== node.type) {
      const toStorage = STORAGE_NODE_TYPES.includes(input.type);
      if (!toStorage) {
        const pools = await em.find(StoragePool, { node }, { orderBy: { id: 'asc' } });
        const resources = await em.count(Resource, { node });
        if (resources > 0 || pools.some((p) => p.providerKind !== 'DISKLESS')) {
          throw ApiError.invalid(
            ErrorCode.NOT_ALLOWED,
            'input.type',
            `Node '${node.name}' holds storage pools or resources; a ${input.type} node cannot.`,
            'Delete its resources and storage pools first.',
          );
        }
        pools.forEach((p) => {
          em.remove(p);
          emit('STORAGE_POOL', 'DELETED', [node.name, p.name], p);
        });
      } else if (!(await em.count(StoragePool, { node, nameKey: nameKey(DEFAULT_DISKLESS_STORAGE_POOL) }))) {
        if (!(await em.count(NetInterface, { node }))) {
          throw ApiError.invalid(ErrorCode.INVALID_VALUE, 'input.type', `A ${input.type} node needs a net interface.`, 'Create a net interface on the node first.');
        }
        createDisklessPool(em, node, emit);
      }
      node.type = input.type;
    }
    await em.flush();
    if (input.type) touch(node, 'node type changed');
    emit('NODE', 'MODIFIED', [node.name], node);
    return node;
  });
  if (!STORAGE_NODE_TYPES.includes(node.type)) ctx.events.publishInternal({ type: 'satellite-removed', nodeId: node.id });
  return node;
}

/**
 * Issues a new satellite secret for a storage node and returns it (shown once). The old secret stops working at
 * once, and a satellite connected with it is disconnected by the caller.
 */
export async function rotateNodeSecret(ctx: ServiceContext, name: string): Promise<{ node: INode; satelliteSecret: string }> {
  const result = await withTransaction(ctx, 'Rotate node secret', async (em, emit) => {
    const node = await getNode(em, name, 'name');
    if (!STORAGE_NODE_TYPES.includes(node.type)) {
      throw ApiError.invalid(ErrorCode.NOT_ALLOWED, 'name', `Node '${node.name}' is a ${node.type} node and runs no satellite.`, 'Issue secrets for SATELLITE or COMBINED nodes.');
    }
    const issued = issueSecret();
    node.satelliteSecretHash = issued.hash;
    await em.flush();
    emit('NODE', 'MODIFIED', [node.name], node);
    return { node, satelliteSecret: issued.secret };
  });
  // A satellite still connected with the old secret must not stay connected.
  ctx.events.publishInternal({ type: 'secret-rotated', nodeId: result.node.id });
  return result;
}

/**
 * Deletes a node with its net interfaces and storage pools. Refused while resources are on it: their data lives
 * there, and removing them is a deliberate act.
 */
export async function deleteNode(ctx: ServiceContext, name: string): Promise<INode> {
  const deleted = await withTransaction(ctx, 'Delete node', async (em, emit) => {
    const node = await getNode(em, name, 'name');
    const resources = await em.find(Resource, { node }, { populate: ['resourceDefinition'], orderBy: { id: 'asc' }, limit: 50 });
    if (resources.length > 0) {
      const total = await em.count(Resource, { node });
      const names = resources.map((r) => r.resourceDefinition.name);
      if (total > names.length) names.push(`... ${total - names.length} more`);
      throw ApiError.inUse('node', node.name, [{ kind: 'resource', names }]);
    }
    // Net interfaces and storage pools go with the node (ON DELETE CASCADE); volumes would block it, and there are
    // none without resources. Subscribers hear of every object that goes.
    const interfaces = await em.find(NetInterface, { node });
    const pools = await em.find(StoragePool, { node });
    await em.nativeDelete(Node, { id: node.id });
    interfaces.forEach((ni) => emit('NET_INTERFACE', 'DELETED', [node.name, ni.name], ni));
    pools.forEach((p) => emit('STORAGE_POOL', 'DELETED', [node.name, p.name], p));
    emit('NODE', 'DELETED', [node.name], node);
    return node;
  });
  ctx.events.publishInternal({ type: 'satellite-removed', nodeId: deleted.id });
  return deleted;
}

/** Adds a net interface to a node. */
export async function createNetInterface(ctx: ServiceContext, nodeName: string, input: NetInterfaceInput): Promise<INetInterface> {
  const ni = checkNetInterface(input, 'input');
  return withTransaction(ctx, 'Create net interface', async (em, emit, touch) => {
    const node = await getNode(em, nodeName, 'node');
    // Its DRBD address may change: every peer's configuration names it.
    await touchReplicaNodes(em, touch, { peersOfNode: node.id }, `net interfaces of ${node.name} changed`);
    if (await em.count(NetInterface, { node, nameKey: nameKey(ni.name) })) throw ApiError.alreadyExists('net interface', `${node.name}/${ni.name}`, 'input.name');
    const existing = await em.find(NetInterface, { node });
    if (ni.isActive) {
      // Deactivate first: the database allows one active interface per node at every moment.
      existing.forEach((e) => (e.isActive = false));
      await em.flush();
    } else if (existing.length === 0) ni.isActive = true;
    const created = em.create(NetInterface, { ...ni, node });
    await em.flush();
    emit('NET_INTERFACE', 'CREATED', [node.name, created.name], created);
    return created;
  });
}

/** Changes a net interface; making it active deactivates the node's other interfaces. */
export async function modifyNetInterface(ctx: ServiceContext, input: ModifyNetInterfaceInput): Promise<INetInterface> {
  return withTransaction(ctx, 'Modify net interface', async (em, emit, touch) => {
    const node = await getNode(em, input.node, 'input.node');
    // Its DRBD address may change: every peer's configuration names it.
    await touchReplicaNodes(em, touch, { peersOfNode: node.id }, `net interfaces of ${node.name} changed`);
    const all = await em.find(NetInterface, { node });
    const ni = all.find((n) => n.nameKey === nameKey(input.name));
    if (!ni) throw ApiError.notFound('net interface', `${node.name}/${input.name}`, 'input.name');
    if (input.address != null) ni.address = checkAddress(input.address, 'input.address');
    if (input.encryptionType != null && input.encryptionType !== ni.encryptionType) {
      // A port left at the old type's default follows the new type's default (3366 PLAIN, 3367 SSL).
      if (input.satellitePort === undefined && ni.satellitePort === DEFAULT_SATELLITE_PORT[ni.encryptionType as EncryptionType]) {
        ni.satellitePort = DEFAULT_SATELLITE_PORT[input.encryptionType];
      }
      ni.encryptionType = input.encryptionType;
    }
    if (input.satellitePort !== undefined) ni.satellitePort = checkPort(input.satellitePort ?? DEFAULT_SATELLITE_PORT[ni.encryptionType as EncryptionType], 'input.satellitePort');
    if (input.isActive === false && ni.isActive) {
      throw ApiError.invalid(ErrorCode.NOT_ALLOWED, 'input.isActive', 'A node always has one active net interface.', 'Make another interface active instead.');
    }
    if (input.isActive === true && !ni.isActive) {
      all.forEach((n) => (n.isActive = false));
      await em.flush(); // one active interface per node at every moment (unique index)
      ni.isActive = true;
    }
    await em.flush();
    emit('NET_INTERFACE', 'MODIFIED', [node.name, ni.name], ni);
    return ni;
  });
}

/** Deletes a net interface; a storage node keeps at least one, and another one becomes active if needed. */
export async function deleteNetInterface(ctx: ServiceContext, nodeName: string, name: string): Promise<INetInterface> {
  return withTransaction(ctx, 'Delete net interface', async (em, emit, touch) => {
    const node = await getNode(em, nodeName, 'node');
    // Its DRBD address may change: every peer's configuration names it.
    await touchReplicaNodes(em, touch, { peersOfNode: node.id }, `net interfaces of ${node.name} changed`);
    const all = await em.find(NetInterface, { node }, { orderBy: { id: 'asc' } });
    const ni = all.find((n) => n.nameKey === nameKey(name));
    if (!ni) throw ApiError.notFound('net interface', `${node.name}/${name}`, 'name');
    const rest = all.filter((n) => n !== ni);
    if (rest.length === 0 && STORAGE_NODE_TYPES.includes(node.type)) {
      throw ApiError.invalid(ErrorCode.NOT_ALLOWED, 'name', `'${ni.name}' is the last net interface of ${node.type} node '${node.name}'.`, 'Create another net interface first.');
    }
    em.remove(ni);
    await em.flush();
    if (ni.isActive && rest[0]) {
      rest[0].isActive = true;
      await em.flush();
    }
    emit('NET_INTERFACE', 'DELETED', [node.name, ni.name], ni);
    return ni;
  });
}

/**
 * Makes sure every storage node has its DfltDisklessStorPool (repairs databases written by anything else).
 * Returns how many were created.
 */
export async function ensureDisklessPools(ctx: ServiceContext): Promise<number> {
  return withTransaction(ctx, 'Ensure diskless pools', async (em, emit, touch) => {
    const nodes = await em.find(Node, { type: { $in: [...STORAGE_NODE_TYPES] } });
    const pools = await em.find(StoragePool, { nameKey: nameKey(DEFAULT_DISKLESS_STORAGE_POOL) });
    const have = new Set(pools.map((p) => p.node.id));
    const missing = nodes.filter((n) => !have.has(n.id));
    missing.forEach((node) => createDisklessPool(em, node, emit));
    await em.flush();
    missing.forEach((node) => touch(node, 'diskless pool repaired'));
    return missing.length;
  });
}

function createDisklessPool(em: EntityManager, node: INode, emit: Emit): void {
  const pool = em.create(StoragePool, { node, name: DEFAULT_DISKLESS_STORAGE_POOL, providerKind: 'DISKLESS', props: {} });
  emit('STORAGE_POOL', 'CREATED', [node.name, pool.name], pool);
}

type CheckedNetInterface = { name: string; address: string; satellitePort: number; encryptionType: EncryptionType; isActive: boolean };

function checkNetInterface(input: NetInterfaceInput, field: string): CheckedNetInterface {
  const encryptionType = input.encryptionType ?? 'PLAIN';
  return {
    name: checkName('net interface', input.name ?? DEFAULT_NET_INTERFACE, `${field}.name`),
    address: checkAddress(input.address, `${field}.address`),
    satellitePort: checkPort(input.satellitePort ?? DEFAULT_SATELLITE_PORT[encryptionType], `${field}.satellitePort`),
    encryptionType,
    isActive: input.isActive ?? false,
  };
}

function checkAddress(address: string, field: string): string {
  if (isIP(address) === 0) {
    throw ApiError.invalid(ErrorCode.INVALID_VALUE, field, `'${address}' is not an IPv4 or IPv6 address.`, 'Give the address DRBD should use, e.g. 192.168.1.10 or fd00::10.');
  }
  return address;
}

function checkPort(port: number, field: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw ApiError.invalid(ErrorCode.INVALID_VALUE, field, `${port} is not a TCP port.`, 'Use a port between 1 and 65535 (default 3366, or 3367 for SSL).');
  }
  return port;
}
