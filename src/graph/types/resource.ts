import { resolveProps } from '../../common/props/inherit.js';
import { VOLUME_STATES } from '../../common/vocabulary.js';
import { listResources, listVolumes } from '../../controller/queries.js';
import * as resources from '../../controller/services/resource.js';
import { getResource } from '../../controller/services/lookup.js';
import type { IResource } from '../../orm/entities/resource.js';
import type { IVolume } from '../../orm/entities/volume.js';
import { builder } from '../builder.js';
import { connection, connectionFields, EffectivePropertyRef, orNull, PropertyInput, PropFilterInput, propsFields, PropsChangeInput } from './common.js';
import { HealthEnum } from './drbd.js';
import { resourceLayers, volumeLayers } from './inheritance.js';
import { NodeRef, ResourceDefinitionRef, ResourceRef, StoragePoolRef, VolumeDefinitionRef, VolumeRef } from './refs.js';

ResourceRef.implement({
  description: 'A resource (LINSTOR Resource): one replica of a resource definition on one node.',
  fields: (t) => ({
    uuid: t.exposeID('uuid'),
    name: t.string({ description: 'Name of the resource definition.', resolve: async (r, _a, ctx) => (await ctx.loaders.resourceDefinition.load(r.resourceDefinition.id)).name }),
    resourceDefinition: t.field({ type: ResourceDefinitionRef, resolve: (r, _a, ctx) => ctx.loaders.resourceDefinition.load(r.resourceDefinition.id) }),
    node: t.field({ type: NodeRef, resolve: (r, _a, ctx) => ctx.loaders.node.load(r.node.id) }),
    flags: t.stringList({ description: 'LINSTOR resource flags, e.g. DRBD_DISKLESS, TIE_BREAKER, DELETE.', resolve: (r) => r.flags }),
    drbdNodeId: t.int({ nullable: true, description: "DRBD node id of this replica within its definition (0-31).", resolve: (r) => r.drbdNodeId ?? null }),
    drbdPort: t.int({ nullable: true, description: 'DRBD TCP port of this replica, unique on its node (TcpPortAutoRange, default 7000-7999).', resolve: (r) => r.drbdPort ?? null }),
    ...propsFields<IResource>(t),
    effectiveProps: t.field({
      type: [EffectivePropertyRef],
      description: 'Properties after inheritance: controller -> resource group -> resource definition -> this resource.',
      resolve: async (r, _a, ctx) => resolveProps(await resourceLayers(r, ctx)),
    }),
    volumes: t.field({ type: [VolumeRef], resolve: (r, _a, ctx) => ctx.loaders.volumesByResource.load(r.id) }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

VolumeRef.implement({
  description: 'A volume (LINSTOR Volume): a volume definition realized by one resource in one storage pool.',
  fields: (t) => ({
    uuid: t.exposeID('uuid'),
    volumeNumber: t.int({ resolve: async (v, _a, ctx) => (await ctx.loaders.volumeDefinition.load(v.volumeDefinition.id)).volumeNumber }),
    resource: t.field({ type: ResourceRef, resolve: (v, _a, ctx) => ctx.loaders.resource.load(v.resource.id) }),
    volumeDefinition: t.field({ type: VolumeDefinitionRef, resolve: (v, _a, ctx) => ctx.loaders.volumeDefinition.load(v.volumeDefinition.id) }),
    storagePool: t.field({ type: StoragePoolRef, resolve: (v, _a, ctx) => ctx.loaders.storagePool.load(v.storagePool.id) }),
    flags: t.stringList({ resolve: (v) => v.flags }),
    ...propsFields<IVolume>(t),
    effectiveProps: t.field({
      type: [EffectivePropertyRef],
      description: 'Properties after inheritance, from the controller down to this volume.',
      resolve: async (v, _a, ctx) => resolveProps(await volumeLayers(v, ctx)),
    }),
    allocatedSizeKib: t.field({ type: 'KiB', nullable: true, description: 'Reported by the satellite.', resolve: (v) => v.allocatedSizeKib ?? null }),
    usableSizeKib: t.field({ type: 'KiB', nullable: true, description: 'Reported by the satellite.', resolve: (v) => v.usableSizeKib ?? null }),
    devicePath: t.string({ nullable: true, description: 'The device to use: /dev/drbd<minor> when DRBD runs the volume, else the backing device.', resolve: (v) => v.devicePath ?? null }),
    backingDevicePath: t.string({ nullable: true, description: 'The storage under DRBD (LV, zvol, loop device); null for diskless replicas.', resolve: (v) => v.backingDevicePath ?? null }),
    state: t.expose('state', { type: VolumeStateEnum, description: 'PENDING until the satellite reports, then CREATED or FAILED; DELETING while it is being removed.' }),
    lastError: t.string({ nullable: true, description: "Why the volume is not converged: the satellite's (tool's) error.", resolve: (v) => v.lastError ?? null }),
    stateChangedAt: t.field({ type: 'DateTime', nullable: true, resolve: (v) => v.stateChangedAt ?? null }),
  }),
});

const VolumeStateEnum = builder.enumType('VolumeState', { values: VOLUME_STATES, description: 'Lifecycle of a volume on its satellite.' });

const ResourceFilterInput = builder.inputType('ResourceFilter', {
  fields: (t) => ({
    resourceDefinitions: t.stringList(),
    resourceGroups: t.stringList({ description: 'Only resources whose definition is in these groups.' }),
    nodes: t.stringList(),
    storagePools: t.stringList({ description: 'Only resources with a volume in a pool of these names.' }),
    props: t.field({ type: [PropFilterInput] }),
    health: t.field({ type: [HealthEnum], description: 'Only replicas whose DRBD health is one of these, e.g. [DEGRADED, FAILED, SPLIT_BRAIN].' }),
  }),
});

const VolumeFilterInput = builder.inputType('VolumeFilter', {
  fields: (t) => ({
    resourceDefinitions: t.stringList(),
    resourceGroups: t.stringList({ description: 'Only volumes of definitions in these groups.' }),
    nodes: t.stringList(),
    storagePools: t.stringList(),
    props: t.field({ type: [PropFilterInput] }),
  }),
});

builder.queryFields((t) => ({
  resource: t.field({
    type: ResourceRef,
    nullable: true,
    args: { resourceDefinition: t.arg.string({ required: true }), node: t.arg.string({ required: true }) },
    resolve: (_r, args, ctx) => orNull(getResource(ctx.em, args.resourceDefinition, args.node, 'node')),
  }),
  volume: t.field({
    type: VolumeRef,
    nullable: true,
    description: 'One volume by definition, node and volume number, or null.',
    args: { resourceDefinition: t.arg.string({ required: true }), node: t.arg.string({ required: true }), volumeNumber: t.arg.int({ required: true }) },
    resolve: async (_r, args, ctx) => {
      const resource = await orNull(getResource(ctx.em, args.resourceDefinition, args.node, 'node'));
      if (!resource) return null;
      const volumes = await ctx.loaders.volumesByResource.load(resource.id);
      const vds = await Promise.all(volumes.map((v) => ctx.loaders.volumeDefinition.load(v.volumeDefinition.id)));
      return volumes[vds.findIndex((vd) => vd.volumeNumber === args.volumeNumber)] ?? null;
    },
  }),
  resources: t.connection(
    {
      type: ResourceRef,
      args: { filter: t.arg({ type: ResourceFilterInput }) },
      resolve: (_r, args, ctx) => connection(args, (page) => listResources(ctx.em, args.filter ?? {}, page, ctx.service.events.drbd)),
    },
    { name: 'ResourceConnection', fields: connectionFields },
    { name: 'ResourceEdge' },
  ),
  volumes: t.connection(
    {
      type: VolumeRef,
      args: { filter: t.arg({ type: VolumeFilterInput }) },
      resolve: (_r, args, ctx) => connection(args, (page) => listVolumes(ctx.em, args.filter ?? {}, page)),
    },
    { name: 'VolumeConnection', fields: connectionFields },
    { name: 'VolumeEdge' },
  ),
}));

const CreateResourceInput = builder.inputType('CreateResourceInput', {
  fields: (t) => ({
    resourceDefinition: t.string({ required: true }),
    node: t.string({ required: true }),
    storagePool: t.string({ description: 'Pool on that node for every volume; DfltDisklessStorPool when diskless.' }),
    diskless: t.boolean({ description: 'A replica without local storage (DRBD diskless).' }),
    props: t.field({ type: [PropertyInput] }),
  }),
});

const ModifyResourceInput = builder.inputType('ModifyResourceInput', {
  fields: (t) => ({
    resourceDefinition: t.string({ required: true }),
    node: t.string({ required: true }),
    props: t.field({ type: PropsChangeInput }),
  }),
});

const ModifyVolumeInput = builder.inputType('ModifyVolumeInput', {
  fields: (t) => ({
    resourceDefinition: t.string({ required: true }),
    node: t.string({ required: true }),
    volumeNumber: t.int({ required: true }),
    props: t.field({ type: PropsChangeInput }),
  }),
});

builder.mutationFields((t) => ({
  createResource: t.field({
    type: ResourceRef,
    description:
      "Places a replica of a definition on a named node and pool (LINSTOR's `resource create`): one volume per volume definition, realized by the node's satellite (watch volumes' state). The autoplacer comes later.",
    args: { input: t.arg({ type: CreateResourceInput, required: true }) },
    resolve: (_r, { input }, ctx) => resources.createResourceRecord(ctx.service, input),
  }),
  deleteResource: t.field({
    type: ResourceRef,
    description:
      'Marks a replica for deletion (flag DELETE): its satellite takes DRBD down and removes the backing volumes, then the resource disappears. A satellite that is offline cleans up when it returns. Refused (IN_USE) while DRBD reports the replica Primary or as the last UpToDate copy of a volume, unless force: true.',
    args: {
      resourceDefinition: t.arg.string({ required: true }),
      node: t.arg.string({ required: true }),
      force: t.arg.boolean({ description: 'Delete even a replica DRBD reports Primary (in use) or the last UpToDate copy of a volume.' }),
    },
    resolve: (_r, args, ctx) => resources.deleteResourceRecord(ctx.service, { resourceDefinition: args.resourceDefinition, node: args.node, force: args.force ?? false }),
  }),
  modifyResource: t.field({
    type: ResourceRef,
    description: "Changes a resource's properties.",
    args: { input: t.arg({ type: ModifyResourceInput, required: true }) },
    resolve: (_r, { input }, ctx) => resources.modifyResource(ctx.service, input),
  }),
  modifyVolume: t.field({
    type: VolumeRef,
    description: "Changes a volume's properties.",
    args: { input: t.arg({ type: ModifyVolumeInput, required: true }) },
    resolve: (_r, { input }, ctx) => resources.modifyVolume(ctx.service, input),
  }),
}));
