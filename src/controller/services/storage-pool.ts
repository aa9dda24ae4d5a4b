import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ApiError, ErrorCode } from '../../common/api-rc.js';
import { checkName, DEFAULT_DISKLESS_STORAGE_POOL, nameKey } from '../../common/names.js';
import { applyPropsChange, initialProps, type PropsChange } from '../../common/props/change.js';
import { POOL_PROP_EXAMPLES, REQUIRED_POOL_PROPS } from '../../common/storage.js';
import { STORAGE_NODE_TYPES, type ProviderKind } from '../../common/vocabulary.js';
import type { Props } from '../../common/props/keys.js';
import type { INode } from '../../orm/entities/node.js';
import { StoragePool, type IStoragePool } from '../../orm/entities/storage-pool.js';
import { Volume } from '../../orm/entities/volume.js';
import type { ServiceContext } from '../context.js';
import { withTransaction } from '../transaction.js';
import { getNode, getStoragePool } from './lookup.js';

export interface CreateStoragePoolInput {
  node: string;
  name: string;
  providerKind: ProviderKind;
  props?: PropsChange['set'];
}

export interface ModifyStoragePoolInput {
  node: string;
  name: string;
  props?: PropsChange | null;
}

/**
 * Creates a storage pool on a storage node. The provider's driver settings (e.g. StorDriver/LvmVg for LVM) are
 * required properties; whether they point at real storage is checked by the node's satellite.
 */
export async function createStoragePool(ctx: ServiceContext, input: CreateStoragePoolInput): Promise<IStoragePool> {
  const name = checkName('storage pool', input.name, 'input.name');
  const props = initialProps('storagePool', input.props, 'input.props');
  checkDriverProps(input.providerKind, props, 'input.props');
  return withTransaction(ctx, 'Create storage pool', async (em, emit, touch) => {
    const node = await getNode(em, input.node, 'input.node');
    if (!STORAGE_NODE_TYPES.includes(node.type)) {
      throw ApiError.invalid(ErrorCode.NOT_ALLOWED, 'input.node', `Node '${node.name}' is a ${node.type} node and cannot hold storage.`, 'Create the pool on a SATELLITE or COMBINED node.');
    }
    if (await em.count(StoragePool, { node, nameKey: nameKey(name) })) throw ApiError.alreadyExists('storage pool', `${node.name}/${name}`, 'input.name');
    // One pool name means one kind of storage across the cluster (LINSTOR's storage pool definition): the
    // autoplacer and a select filter's storagePoolList treat same-named pools as interchangeable.
    const sibling = await em.findOne(StoragePool, { nameKey: nameKey(name), providerKind: { $ne: input.providerKind } });
    if (sibling && (sibling.providerKind === 'DISKLESS') !== (input.providerKind === 'DISKLESS')) {
      throw ApiError.invalid(
        ErrorCode.INVALID_VALUE,
        'input.providerKind',
        `Pools named '${name}' are ${sibling.providerKind} on other nodes; a pool name cannot be diskless on one node and diskful on another.`,
        'Use another pool name for this provider kind.',
      );
    }
    await checkNoSharedStorage(em, node, null, input.providerKind, props);
    const pool = em.create(StoragePool, { node, name, providerKind: input.providerKind, props });
    await em.flush();
    touch(node, `storage pool ${name} created`);
    emit('STORAGE_POOL', 'CREATED', [node.name, pool.name], pool);
    return pool;
  });
}

/** Changes a storage pool's properties; the provider's required driver settings cannot be removed. */
export async function modifyStoragePool(ctx: ServiceContext, input: ModifyStoragePoolInput): Promise<IStoragePool> {
  return withTransaction(ctx, 'Modify storage pool', async (em, emit, touch) => {
    const node = await getNode(em, input.node, 'input.node');
    const pool = await getStoragePool(em, node, input.name, 'input.name');
    const props = applyPropsChange('storagePool', pool.props, input.props, 'input.props');
    checkDriverProps(pool.providerKind, props, 'input.props');
    if (storageLocation(pool.providerKind, props) !== storageLocation(pool.providerKind, pool.props)) {
      // The satellite would create new, empty volumes at the new place and leave the data behind.
      if (await em.count(Volume, { storagePool: pool })) {
        throw ApiError.invalid(
          ErrorCode.NOT_ALLOWED,
          'input.props',
          `Pool '${node.name}/${pool.name}' holds volumes; moving it to other storage would leave their data behind.`,
          'Delete its resources first, or create a new pool on the new storage.',
        );
      }
      await checkNoSharedStorage(em, node, pool, pool.providerKind, props);
    }
    pool.props = props;
    await em.flush();
    touch(node, `storage pool ${pool.name} modified`);
    emit('STORAGE_POOL', 'MODIFIED', [node.name, pool.name], pool);
    return pool;
  });
}

/** Deletes a storage pool. Refused while volumes live in it, and for the node's DfltDisklessStorPool. */
export async function deleteStoragePool(ctx: ServiceContext, nodeName: string, name: string): Promise<IStoragePool> {
  return withTransaction(ctx, 'Delete storage pool', async (em, emit, touch) => {
    const node = await getNode(em, nodeName, 'node');
    const pool = await getStoragePool(em, node, name, 'name');
    if (pool.nameKey === nameKey(DEFAULT_DISKLESS_STORAGE_POOL)) {
      throw ApiError.invalid(ErrorCode.NOT_ALLOWED, 'name', `${DEFAULT_DISKLESS_STORAGE_POOL} exists on every storage node and cannot be deleted.`, 'Delete the node instead, or leave the pool in place.');
    }
    const volumes = await em.find(Volume, { storagePool: pool }, { populate: ['resource.resourceDefinition'], limit: 50, orderBy: { id: 'asc' } });
    if (volumes.length > 0) {
      const names = [...new Set(volumes.map((v) => v.resource.resourceDefinition.name))];
      throw ApiError.inUse('storage pool', `${node.name}/${pool.name}`, [{ kind: 'resource', names }]);
    }
    em.remove(pool);
    await em.flush();
    touch(node, `storage pool ${pool.name} deleted`);
    emit('STORAGE_POOL', 'DELETED', [node.name, pool.name], pool);
    return pool;
  });
}

/**
 * Where a pool keeps its volumes, as a comparable key: two pools of one node must not share it, or each would see
 * the other's volumes as its own. LVM and LVM_THIN may share a volume group (thick and thin volumes are told apart),
 * ZFS and ZFS_THIN may not share a dataset, FILE and FILE_THIN may not share a directory.
 */
function storageLocation(kind: ProviderKind, props: Props): string | null {
  switch (kind) {
    case 'FILE':
    case 'FILE_THIN':
      return `file:${path.posix.normalize(props['StorDriver/FileDir'] ?? '').replace(/\/+$/, '')}`;
    case 'LVM':
      return `lvm:${props['StorDriver/LvmVg']}`;
    case 'LVM_THIN':
      return `lvm-thin:${props['StorDriver/LvmVg']}/${props['StorDriver/ThinPool']}`;
    case 'ZFS':
      return `zfs:${props['StorDriver/ZPool']}`;
    case 'ZFS_THIN':
      return `zfs:${props['StorDriver/ZPoolThin']}`;
    case 'DISKLESS':
      return null;
  }
}

async function checkNoSharedStorage(em: EntityManager, node: INode, self: IStoragePool | null, kind: ProviderKind, props: Props): Promise<void> {
  const location = storageLocation(kind, props);
  if (!location) return;
  const others = await em.find(StoragePool, { node, ...(self ? { id: { $ne: self.id } } : {}) });
  const clash = others.find((o) => storageLocation(o.providerKind, o.props) === location);
  if (clash) {
    throw ApiError.invalid(
      ErrorCode.INVALID_VALUE,
      'input.props',
      `Pool '${clash.name}' on node '${node.name}' already uses this storage (${location}); two pools on the same storage would take each other's volumes for their own.`,
      'Give this pool its own directory, volume group, thin pool or dataset.',
    );
  }
}

/** Every provider's location settings: a pool may carry only its own provider's. */
const DRIVER_KEYS = new Set(Object.values(REQUIRED_POOL_PROPS).flat());

function checkDriverProps(kind: ProviderKind, props: Props, field: string): void {
  for (const key of REQUIRED_POOL_PROPS[kind]) {
    if (!props[key]) {
      throw ApiError.invalid(
        ErrorCode.INVALID_PROPERTY,
        `${field}["${key}"]`,
        `A ${kind} storage pool needs the property '${key}'.`,
        `Set it, e.g. props: [{ key: "${key}", value: "${POOL_PROP_EXAMPLES[key]}" }].`,
      );
    }
  }
  for (const key of Object.keys(props)) {
    if (DRIVER_KEYS.has(key) && !REQUIRED_POOL_PROPS[kind].includes(key)) {
      throw ApiError.invalid(ErrorCode.INVALID_PROPERTY, `${field}["${key}"]`, `'${key}' does not apply to a ${kind} storage pool.`, `Remove it; a ${kind} pool uses ${REQUIRED_POOL_PROPS[kind].join(', ') || 'no driver settings'}.`);
    }
  }
}
