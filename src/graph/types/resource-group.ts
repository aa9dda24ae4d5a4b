import { nameKey } from '../../common/names.js';
import { listResourceGroups } from '../../controller/queries.js';
import * as groups from '../../controller/services/resource-group.js';
import { ResourceGroup, type IResourceGroup } from '../../orm/entities/resource-group.js';
import type { IVolumeGroup } from '../../orm/entities/volume-group.js';
import { builder } from '../builder.js';
import {
  connection,
  connectionFields,
  DeleteResultRef,
  LayerKindEnum,
  PropFilterInput,
  PropertyInput,
  propsFields,
  PropsChangeInput,
  ProviderKindEnum,
  VolumeGroupFlagEnum,
} from './common.js';
import { ResourceDefinitionRef, ResourceGroupRef, VolumeGroupRef } from './refs.js';

const XReplicasRef = builder.objectRef<{ key: string; count: number }>('XReplicasOnDifferent').implement({
  description: 'At most `count` replicas on nodes sharing one value of the node property `key`.',
  fields: (t) => ({ key: t.exposeString('key'), count: t.exposeInt('count') }),
});

const SelectFilterRef = builder.objectRef<IResourceGroup>('SelectFilter').implement({
  description: 'How the autoplacer chooses nodes and pools for definitions of this group (LINSTOR AutoSelectFilter).',
  fields: (t) => ({
    placeCount: t.int({ nullable: true, description: 'Diskful replicas to place.', resolve: (g) => g.placeCount ?? null }),
    storagePoolList: t.stringList({ description: 'Allowed diskful pools (empty: any).', resolve: (g) => g.storagePoolList }),
    storagePoolDisklessList: t.stringList({ description: 'Allowed diskless pools (empty: any).', resolve: (g) => g.storagePoolDisklessList }),
    doNotPlaceWithRsc: t.stringList({ description: 'Avoid nodes that hold these resources.', resolve: (g) => g.doNotPlaceWithRsc }),
    doNotPlaceWithRscRegex: t.string({ nullable: true, description: 'Avoid nodes holding resources whose name matches (case-insensitive).', resolve: (g) => g.doNotPlaceWithRscRegex ?? null }),
    replicasOnSame: t.stringList({ description: 'Node property keys (KEY or KEY=VALUE) every replica node must share.', resolve: (g) => g.replicasOnSame }),
    replicasOnDifferent: t.stringList({ description: 'Node property keys whose value must differ between replica nodes (KEY=VALUE: never VALUE).', resolve: (g) => g.replicasOnDifferent }),
    xReplicasOnDifferent: t.field({
      type: [XReplicasRef],
      resolve: (g) => Object.entries(g.xReplicasOnDifferent).sort(([a], [b]) => a.localeCompare(b)).map(([key, count]) => ({ key, count })),
    }),
    disklessOnRemaining: t.boolean({ nullable: true, description: 'Add diskless replicas on all remaining nodes.', resolve: (g) => g.disklessOnRemaining ?? null }),
    providerList: t.field({ type: [ProviderKindEnum], description: 'Allowed provider kinds (empty: any).', resolve: (g) => g.providerList as never }),
    nodeNameList: t.stringList({ description: 'Allowed nodes (empty: any).', resolve: (g) => g.nodeNameList }),
    layerStack: t.field({ type: [LayerKindEnum], description: 'Layer stack of new resources (empty: DRBD, STORAGE).', resolve: (g) => g.layerStack as never }),
  }),
});

ResourceGroupRef.implement({
  description: 'A resource group (LINSTOR ResourceGroup): the template definitions are spawned from; its properties are inherited by them.',
  fields: (t) => ({
    uuid: t.exposeID('uuid'),
    name: t.exposeString('name'),
    description: t.string({ nullable: true, resolve: (g) => g.description ?? null }),
    selectFilter: t.field({ type: SelectFilterRef, resolve: (g) => g }),
    peerSlots: t.int({ nullable: true, description: 'DRBD peer slots of new resources (default 7).', resolve: (g) => g.peerSlots ?? null }),
    ...propsFields<IResourceGroup>(t),
    volumeGroups: t.field({ type: [VolumeGroupRef], resolve: (g, _a, ctx) => ctx.loaders.volumeGroupsByGroup.load(g.id) }),
    resourceDefinitions: t.field({ type: [ResourceDefinitionRef], description: 'Definitions in this group.', resolve: (g, _a, ctx) => ctx.loaders.definitionsByGroup.load(g.id) }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

VolumeGroupRef.implement({
  description: 'A volume group (LINSTOR VolumeGroup): spawning creates one volume definition per volume group.',
  fields: (t) => ({
    uuid: t.exposeID('uuid'),
    volumeNumber: t.exposeInt('volumeNumber'),
    flags: t.field({ type: [VolumeGroupFlagEnum], resolve: (v) => v.flags as never }),
    ...propsFields<IVolumeGroup>(t),
    resourceGroup: t.field({ type: ResourceGroupRef, resolve: (v, _a, ctx) => ctx.loaders.resourceGroup.load(v.resourceGroup.id) }),
  }),
});

const ResourceGroupFilterInput = builder.inputType('ResourceGroupFilter', {
  fields: (t) => ({ names: t.stringList(), props: t.field({ type: [PropFilterInput] }) }),
});

builder.queryFields((t) => ({
  resourceGroup: t.field({
    type: ResourceGroupRef,
    nullable: true,
    args: { name: t.arg.string({ required: true }) },
    resolve: (_r, { name }, ctx) => ctx.em.findOne(ResourceGroup, { nameKey: nameKey(name) }),
  }),
  resourceGroups: t.connection(
    {
      type: ResourceGroupRef,
      args: { filter: t.arg({ type: ResourceGroupFilterInput }) },
      resolve: (_r, args, ctx) => connection(args, (page) => listResourceGroups(ctx.em, args.filter ?? {}, page)),
    },
    { name: 'ResourceGroupConnection', fields: connectionFields },
    { name: 'ResourceGroupEdge' },
  ),
  volumeGroup: t.field({
    type: VolumeGroupRef,
    nullable: true,
    args: { resourceGroup: t.arg.string({ required: true }), volumeNumber: t.arg.int({ required: true }) },
    resolve: async (_r, args, ctx) => {
      const group = await ctx.em.findOne(ResourceGroup, { nameKey: nameKey(args.resourceGroup) });
      return group ? (await ctx.loaders.volumeGroupsByGroup.load(group.id)).find((v) => v.volumeNumber === args.volumeNumber) ?? null : null;
    },
  }),
}));

const XReplicasInput = builder.inputType('XReplicasOnDifferentInput', {
  fields: (t) => ({ key: t.string({ required: true }), count: t.int({ required: true }) }),
});

export const SelectFilterInput = builder.inputType('SelectFilterInput', {
  description: 'Select filter fields. In modifyResourceGroup an omitted field is kept and null clears it. Node property keys without a namespace get Aux/ (site -> Aux/site).',
  fields: (t) => ({
    placeCount: t.int(),
    storagePoolList: t.stringList(),
    storagePoolDisklessList: t.stringList(),
    doNotPlaceWithRsc: t.stringList(),
    doNotPlaceWithRscRegex: t.string(),
    replicasOnSame: t.stringList(),
    replicasOnDifferent: t.stringList(),
    xReplicasOnDifferent: t.field({ type: [XReplicasInput] }),
    disklessOnRemaining: t.boolean(),
    providerList: t.field({ type: [ProviderKindEnum] }),
    nodeNameList: t.stringList(),
    layerStack: t.field({ type: [LayerKindEnum] }),
  }),
});

const CreateResourceGroupInput = builder.inputType('CreateResourceGroupInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    description: t.string(),
    selectFilter: t.field({ type: SelectFilterInput }),
    peerSlots: t.int(),
    props: t.field({ type: [PropertyInput] }),
  }),
});

const ModifyResourceGroupInput = builder.inputType('ModifyResourceGroupInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    description: t.string(),
    selectFilter: t.field({ type: SelectFilterInput }),
    peerSlots: t.int(),
    props: t.field({ type: PropsChangeInput }),
  }),
});

const CreateVolumeGroupInput = builder.inputType('CreateVolumeGroupInput', {
  fields: (t) => ({
    resourceGroup: t.string({ required: true }),
    volumeNumber: t.int({ description: 'Default: the next free number.' }),
    flags: t.field({ type: [VolumeGroupFlagEnum] }),
    props: t.field({ type: [PropertyInput] }),
  }),
});

const ModifyVolumeGroupInput = builder.inputType('ModifyVolumeGroupInput', {
  fields: (t) => ({
    resourceGroup: t.string({ required: true }),
    volumeNumber: t.int({ required: true }),
    flags: t.field({ type: [VolumeGroupFlagEnum], description: 'Replaces the flags when given.' }),
    props: t.field({ type: PropsChangeInput }),
  }),
});

builder.mutationFields((t) => ({
  createResourceGroup: t.field({
    type: ResourceGroupRef,
    args: { input: t.arg({ type: CreateResourceGroupInput, required: true }) },
    resolve: (_r, { input }, ctx) => groups.createResourceGroup(ctx.service, input),
  }),
  modifyResourceGroup: t.field({
    type: ResourceGroupRef,
    args: { input: t.arg({ type: ModifyResourceGroupInput, required: true }) },
    resolve: (_r, { input }, ctx) => groups.modifyResourceGroup(ctx.service, input),
  }),
  deleteResourceGroup: t.field({
    type: DeleteResultRef,
    description: 'Deletes a resource group and its volume groups; refused for DfltRscGrp and (IN_USE) while definitions use it.',
    args: { name: t.arg.string({ required: true }) },
    resolve: (_r, { name }, ctx) => groups.deleteResourceGroup(ctx.service, name),
  }),
  createVolumeGroup: t.field({
    type: VolumeGroupRef,
    args: { input: t.arg({ type: CreateVolumeGroupInput, required: true }) },
    resolve: (_r, { input }, ctx) => groups.createVolumeGroup(ctx.service, input),
  }),
  modifyVolumeGroup: t.field({
    type: VolumeGroupRef,
    args: { input: t.arg({ type: ModifyVolumeGroupInput, required: true }) },
    resolve: (_r, { input }, ctx) => groups.modifyVolumeGroup(ctx.service, input),
  }),
  deleteVolumeGroup: t.field({
    type: DeleteResultRef,
    args: { resourceGroup: t.arg.string({ required: true }), volumeNumber: t.arg.int({ required: true }) },
    resolve: async (_r, args, ctx) => {
      const vg = await groups.deleteVolumeGroup(ctx.service, args.resourceGroup, args.volumeNumber);
      return { uuid: vg.uuid, name: `${args.resourceGroup}/${vg.volumeNumber}` };
    },
  }),
}));
