import { nameKey } from '../../common/names.js';
import { listNodes } from '../../controller/queries.js';
import * as nodes from '../../controller/services/node.js';
import { Node, type INode } from '../../orm/entities/node.js';
import type { IStoragePool } from '../../orm/entities/storage-pool.js';
import { builder } from '../builder.js';
import {
  connection,
  connectionFields,
  ConnectionStatusEnum,
  DeleteResultRef,
  EncryptionTypeEnum,
  NodeTypeEnum,
  PropFilterInput,
  PropertyInput,
  propsFields,
  PropsChangeInput,
} from './common.js';
import { NetInterfaceRef, NodeRef, ResourceRef, StoragePoolRef } from './refs.js';

NodeRef.implement({
  description: 'A cluster node (LINSTOR Node). Its Aux/ properties are labels the autoplacer can use.',
  fields: (t) => ({
    uuid: t.exposeID('uuid'),
    name: t.exposeString('name', { description: 'The name as spelled when created; names compare case-insensitively.' }),
    type: t.expose('type', { type: NodeTypeEnum }),
    connectionStatus: t.expose('connectionStatus', { type: ConnectionStatusEnum }),
    satelliteHostname: t.string({ nullable: true, description: 'Host name the satellite reported.', resolve: (n) => n.satelliteHostname ?? null }),
    lastSeenAt: t.field({ type: 'DateTime', nullable: true, description: 'When the satellite was last heard from.', resolve: (n) => n.lastSeenAt ?? null }),
    lastError: t.string({
      nullable: true,
      description: 'Why the node is not converged (wrong secret, failed objects, unusable state); null when all is well.',
      resolve: (n) => n.lastError ?? null,
    }),
    desiredRevision: t.int({ description: "Revision of the node's desired state (grows with every change that concerns it).", resolve: (n, _a, ctx) => ctx.loaders.nodeRevision.load(n.id) }),
    appliedRevision: t.int({ description: 'Highest revision the satellite reported as fully applied; equal to desiredRevision when converged.', resolve: (n) => n.appliedRevision }),
    totalCapacityKib: t.field({
      type: 'KiB',
      nullable: true,
      description: 'Sum over the pools that reported capacity; null before any report.',
      resolve: async (n, _a, ctx) => sumCapacity(await ctx.loaders.storagePoolsByNode.load(n.id), 'totalCapacityKib'),
    }),
    freeCapacityKib: t.field({
      type: 'KiB',
      nullable: true,
      description: 'Sum over the pools that reported capacity; null before any report.',
      resolve: async (n, _a, ctx) => sumCapacity(await ctx.loaders.storagePoolsByNode.load(n.id), 'freeCapacityKib'),
    }),
    ...propsFields<INode>(t),
    netInterfaces: t.field({ type: [NetInterfaceRef], resolve: (n, _a, ctx) => ctx.loaders.netInterfacesByNode.load(n.id) }),
    storagePools: t.field({ type: [StoragePoolRef], description: "The node's storage pools, DfltDisklessStorPool included.", resolve: (n, _a, ctx) => ctx.loaders.storagePoolsByNode.load(n.id) }),
    resources: t.field({ type: [ResourceRef], description: 'Resources (replicas) on this node.', resolve: (n, _a, ctx) => ctx.loaders.resourcesByNode.load(n.id) }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

NetInterfaceRef.implement({
  description: 'A network interface of a node: DRBD replicates over the active one.',
  fields: (t) => ({
    uuid: t.exposeID('uuid'),
    name: t.exposeString('name'),
    address: t.exposeString('address', { description: 'IPv4 or IPv6 address.' }),
    satellitePort: t.exposeInt('satellitePort', { nullable: true }),
    encryptionType: t.expose('encryptionType', { type: EncryptionTypeEnum }),
    isActive: t.exposeBoolean('isActive'),
    node: t.field({ type: NodeRef, resolve: (ni, _a, ctx) => ctx.loaders.node.load(ni.node.id) }),
  }),
});

const NodeSecretPayloadRef = builder.objectRef<{ node: INode; satelliteSecret: string | null }>('NodeSecretPayload').implement({
  description: 'A node with its satellite secret. The secret is shown only here, once; store it where the satellite reads it.',
  fields: (t) => ({
    node: t.field({ type: NodeRef, resolve: (p) => p.node }),
    satelliteSecret: t.string({
      nullable: true,
      description: 'The secret the satellite presents when it connects (null for nodes without a satellite).',
      resolve: (p) => p.satelliteSecret,
    }),
  }),
});

function sumCapacity(pools: readonly IStoragePool[], field: 'totalCapacityKib' | 'freeCapacityKib'): bigint | null {
  const known = pools.map((p) => p[field]).filter((v): v is bigint => v !== null && v !== undefined);
  return known.length === 0 ? null : known.reduce((a, b) => a + b, 0n);
}

const NodeFilterInput = builder.inputType('NodeFilter', {
  fields: (t) => ({
    names: t.stringList({ description: 'Node names (case-insensitive).' }),
    types: t.field({ type: [NodeTypeEnum] }),
    connectionStatuses: t.field({ type: [ConnectionStatusEnum] }),
    props: t.field({ type: [PropFilterInput], description: 'All conditions must hold.' }),
  }),
});

builder.queryFields((t) => ({
  netInterface: t.field({
    type: NetInterfaceRef,
    nullable: true,
    description: 'One net interface by node and name, or null.',
    args: { node: t.arg.string({ required: true }), name: t.arg.string({ required: true }) },
    resolve: async (_r, args, ctx) => {
      const owner = await ctx.em.findOne(Node, { nameKey: nameKey(args.node) });
      return owner ? (await ctx.loaders.netInterfacesByNode.load(owner.id)).find((n) => n.nameKey === nameKey(args.name)) ?? null : null;
    },
  }),
  node: t.field({
    type: NodeRef,
    nullable: true,
    description: 'One node by name (case-insensitive), or null.',
    args: { name: t.arg.string({ required: true }) },
    resolve: (_r, { name }, ctx) => ctx.em.findOne(Node, { nameKey: nameKey(name) }),
  }),
  nodes: t.connection({
    type: NodeRef,
    description: 'Nodes in creation order, filtered and paginated.',
    args: { filter: t.arg({ type: NodeFilterInput }) },
    resolve: (_r, args, ctx) =>
      connection(args, async (page) => {
        const result = await listNodes(ctx.em, args.filter ?? {}, page);
        // Nested fields that point back at these nodes (pool.node, resource.node) then cost no query.
        result.rows.forEach((n) => ctx.loaders.node.prime(n.id, n));
        return result;
      }),
  }, { name: 'NodeConnection', fields: connectionFields },
    { name: 'NodeEdge' }),
}));

const NetInterfaceInput = builder.inputType('NetInterfaceInput', {
  fields: (t) => ({
    name: t.string({ description: "Interface name, default 'default'." }),
    address: t.string({ required: true, description: 'IPv4 or IPv6 address DRBD uses.' }),
    satellitePort: t.int({ description: 'Default 3366 (PLAIN) or 3367 (SSL).' }),
    encryptionType: t.field({ type: EncryptionTypeEnum }),
    isActive: t.boolean({ description: 'The interface DRBD uses; the first one is active by default.' }),
  }),
});

const CreateNodeInput = builder.inputType('CreateNodeInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'A host name (RFC 1123).' }),
    type: t.field({ type: NodeTypeEnum, description: 'Default SATELLITE.' }),
    netInterfaces: t.field({ type: [NetInterfaceInput], description: 'At least one for SATELLITE and COMBINED nodes.' }),
    props: t.field({ type: [PropertyInput] }),
  }),
});

const ModifyNodeInput = builder.inputType('ModifyNodeInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    type: t.field({ type: NodeTypeEnum }),
    props: t.field({ type: PropsChangeInput }),
  }),
});

const ModifyNetInterfaceInput = builder.inputType('ModifyNetInterfaceInput', {
  fields: (t) => ({
    node: t.string({ required: true }),
    name: t.string({ required: true }),
    address: t.string(),
    satellitePort: t.int(),
    encryptionType: t.field({ type: EncryptionTypeEnum }),
    isActive: t.boolean({ description: 'true makes this the active interface (the others become inactive).' }),
  }),
});

builder.mutationFields((t) => ({
  createNode: t.field({
    type: NodeSecretPayloadRef,
    description: 'Registers a node. SATELLITE and COMBINED nodes get their DfltDisklessStorPool and a satellite secret, returned here once.',
    args: { input: t.arg({ type: CreateNodeInput, required: true }) },
    resolve: (_r, { input }, ctx) => nodes.createNode(ctx.service, input),
  }),
  rotateNodeSecret: t.field({
    type: NodeSecretPayloadRef,
    description: "Issues a new satellite secret for a storage node (shown once); the old one stops working and a satellite connected with it is disconnected.",
    args: { name: t.arg.string({ required: true }) },
    resolve: (_r, { name }, ctx) => nodes.rotateNodeSecret(ctx.service, name),
  }),
  modifyNode: t.field({
    type: NodeRef,
    description: "Changes a node's type or properties.",
    args: { input: t.arg({ type: ModifyNodeInput, required: true }) },
    resolve: (_r, { input }, ctx) => nodes.modifyNode(ctx.service, input),
  }),
  deleteNode: t.field({
    type: DeleteResultRef,
    description: 'Deletes a node with its net interfaces and storage pools; refused (IN_USE) while it has resources.',
    args: { name: t.arg.string({ required: true }) },
    resolve: async (_r, { name }, ctx) => nodes.deleteNode(ctx.service, name),
  }),
  createNetInterface: t.field({
    type: NetInterfaceRef,
    args: { node: t.arg.string({ required: true }), input: t.arg({ type: NetInterfaceInput, required: true }) },
    resolve: (_r, { node, input }, ctx) => nodes.createNetInterface(ctx.service, node, input),
  }),
  modifyNetInterface: t.field({
    type: NetInterfaceRef,
    args: { input: t.arg({ type: ModifyNetInterfaceInput, required: true }) },
    resolve: (_r, { input }, ctx) => nodes.modifyNetInterface(ctx.service, input),
  }),
  deleteNetInterface: t.field({
    type: DeleteResultRef,
    description: "Deletes a net interface; a storage node keeps at least one.",
    args: { node: t.arg.string({ required: true }), name: t.arg.string({ required: true }) },
    resolve: async (_r, { node, name }, ctx) => {
      const ni = await nodes.deleteNetInterface(ctx.service, node, name);
      return { uuid: ni.uuid, name: `${node}/${ni.name}` };
    },
  }),
}));
