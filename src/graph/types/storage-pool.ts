import { DEFAULT_DISKLESS_STORAGE_POOL } from '../../common/names.js';
import { THIN_PROVIDERS } from '../../common/storage.js';
import { listStoragePools } from '../../controller/queries.js';
import * as pools from '../../controller/services/storage-pool.js';
import { getNode, getStoragePool } from '../../controller/services/lookup.js';
import { builder } from '../builder.js';
import { connection, connectionFields, DeleteResultRef, orNull, PropFilterInput, PropertyInput, propsFields, PropsChangeInput, ProviderKindEnum } from './common.js';
import type { IStoragePool } from '../../orm/entities/storage-pool.js';
import { NodeRef, StoragePoolRef, VolumeRef } from './refs.js';

StoragePoolRef.implement({
  description: `A storage pool on one node (LINSTOR StoragePool). Every storage node has ${DEFAULT_DISKLESS_STORAGE_POOL}.`,
  fields: (t) => ({
    uuid: t.exposeID('uuid'),
    name: t.exposeString('name'),
    node: t.field({ type: NodeRef, resolve: (p, _a, ctx) => ctx.loaders.node.load(p.node.id) }),
    providerKind: t.expose('providerKind', { type: ProviderKindEnum }),
    thin: t.boolean({ description: 'Thin pools allocate on write and may be oversubscribed.', resolve: (p) => THIN_PROVIDERS.includes(p.providerKind) }),
    ...propsFields<IStoragePool>(t),
    totalCapacityKib: t.field({ type: 'KiB', nullable: true, description: 'Reported by the satellite; null until the first report.', resolve: (p) => p.totalCapacityKib ?? null }),
    freeCapacityKib: t.field({ type: 'KiB', nullable: true, description: 'Reported by the satellite; null until the first report.', resolve: (p) => p.freeCapacityKib ?? null }),
    capacityReportedAt: t.field({ type: 'DateTime', nullable: true, resolve: (p) => p.capacityReportedAt ?? null }),
    lastError: t.string({
      nullable: true,
      description: "The satellite's last error for this pool (e.g. its volume group or directory is missing); null when usable.",
      resolve: (p) => p.lastError ?? null,
    }),
    volumes: t.field({ type: [VolumeRef], description: 'Volumes stored in this pool.', resolve: (p, _a, ctx) => ctx.loaders.volumesByStoragePool.load(p.id) }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const StoragePoolFilterInput = builder.inputType('StoragePoolFilter', {
  fields: (t) => ({
    names: t.stringList({ description: 'Pool names (case-insensitive).' }),
    nodes: t.stringList({ description: 'Only pools on these nodes.' }),
    providerKinds: t.field({ type: [ProviderKindEnum] }),
    props: t.field({ type: [PropFilterInput] }),
  }),
});

builder.queryFields((t) => ({
  storagePool: t.field({
    type: StoragePoolRef,
    nullable: true,
    description: 'One storage pool by node and name, or null.',
    args: { node: t.arg.string({ required: true }), name: t.arg.string({ required: true }) },
    resolve: async (_r, { node, name }, ctx) => {
      const owner = await orNull(getNode(ctx.em, node, 'node'));
      return owner ? orNull(getStoragePool(ctx.em, owner, name, 'name')) : null;
    },
  }),
  storagePools: t.connection(
    {
      type: StoragePoolRef,
      args: { filter: t.arg({ type: StoragePoolFilterInput }) },
      resolve: (_r, args, ctx) => connection(args, (page) => listStoragePools(ctx.em, args.filter ?? {}, page)),
    },
    { name: 'StoragePoolConnection', fields: connectionFields },
    { name: 'StoragePoolEdge' },
  ),
}));

const CreateStoragePoolInput = builder.inputType('CreateStoragePoolInput', {
  fields: (t) => ({
    node: t.string({ required: true }),
    name: t.string({ required: true }),
    providerKind: t.field({ type: ProviderKindEnum, required: true }),
    props: t.field({
      type: [PropertyInput],
      description: 'Driver settings: StorDriver/LvmVg (LVM, LVM_THIN), StorDriver/ThinPool (LVM_THIN), StorDriver/ZPool (ZFS), StorDriver/ZPoolThin (ZFS_THIN), StorDriver/FileDir (FILE, FILE_THIN).',
    }),
  }),
});

const ModifyStoragePoolInput = builder.inputType('ModifyStoragePoolInput', {
  fields: (t) => ({
    node: t.string({ required: true }),
    name: t.string({ required: true }),
    props: t.field({ type: PropsChangeInput }),
  }),
});

builder.mutationFields((t) => ({
  createStoragePool: t.field({
    type: StoragePoolRef,
    args: { input: t.arg({ type: CreateStoragePoolInput, required: true }) },
    resolve: (_r, { input }, ctx) => pools.createStoragePool(ctx.service, input),
  }),
  modifyStoragePool: t.field({
    type: StoragePoolRef,
    args: { input: t.arg({ type: ModifyStoragePoolInput, required: true }) },
    resolve: (_r, { input }, ctx) => pools.modifyStoragePool(ctx.service, input),
  }),
  deleteStoragePool: t.field({
    type: DeleteResultRef,
    description: 'Deletes a storage pool; refused (IN_USE) while volumes live in it.',
    args: { node: t.arg.string({ required: true }), name: t.arg.string({ required: true }) },
    resolve: async (_r, { node, name }, ctx) => {
      const pool = await pools.deleteStoragePool(ctx.service, node, name);
      return { uuid: pool.uuid, name: `${node}/${pool.name}` };
    },
  }),
}));
