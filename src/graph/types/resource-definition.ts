import { resolveProps } from '../../common/props/inherit.js';
import { nameKey } from '../../common/names.js';
import { listResourceDefinitions, listVolumeDefinitions } from '../../controller/queries.js';
import * as definitions from '../../controller/services/resource-definition.js';
import { ResourceDefinition, type IResourceDefinition } from '../../orm/entities/resource-definition.js';
import type { IVolumeDefinition } from '../../orm/entities/volume-definition.js';
import { builder } from '../builder.js';
import {
  connection,
  connectionFields,
  DeleteResultRef,
  EffectivePropertyRef,
  LayerKindEnum,
  PropFilterInput,
  PropertyInput,
  propsFields,
  PropsChangeInput,
  VolumeDefinitionFlagEnum,
} from './common.js';
import { definitionLayers, volumeDefinitionLayers } from './inheritance.js';
import { ResourceDefinitionRef, ResourceGroupRef, ResourceRef, VolumeDefinitionRef, VolumeRef } from './refs.js';

ResourceDefinitionRef.implement({
  description: 'A resource definition (LINSTOR ResourceDefinition): a replicated block device and its volumes.',
  fields: (t) => ({
    uuid: t.exposeID('uuid'),
    name: t.exposeString('name'),
    externalName: t.string({ nullable: true, resolve: (d) => d.externalName ?? null }),
    resourceGroup: t.field({ type: ResourceGroupRef, resolve: (d, _a, ctx) => ctx.loaders.resourceGroup.load(d.resourceGroup.id) }),
    flags: t.stringList({ resolve: (d) => d.flags }),
    layerStack: t.field({ type: [LayerKindEnum], description: 'Empty: inherited from the resource group, else DRBD, STORAGE.', resolve: (d) => d.layerStack as never }),
    ...propsFields<IResourceDefinition>(t),
    effectiveProps: t.field({
      type: [EffectivePropertyRef],
      description: 'Properties after inheritance: controller -> resource group -> this definition.',
      resolve: async (d, _a, ctx) => resolveProps(await definitionLayers(d, ctx)),
    }),
    volumeDefinitions: t.field({ type: [VolumeDefinitionRef], resolve: (d, _a, ctx) => ctx.loaders.volumeDefinitionsByDefinition.load(d.id) }),
    resources: t.field({ type: [ResourceRef], description: 'Replicas of this definition.', resolve: (d, _a, ctx) => ctx.loaders.resourcesByDefinition.load(d.id) }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

VolumeDefinitionRef.implement({
  description: 'A volume definition (LINSTOR VolumeDefinition): number and size of one volume of a definition.',
  fields: (t) => ({
    uuid: t.exposeID('uuid'),
    volumeNumber: t.exposeInt('volumeNumber'),
    sizeKib: t.field({ type: 'KiB', resolve: (v) => v.sizeKib }),
    drbdMinor: t.int({ nullable: true, description: 'DRBD minor number (/dev/drbd<minor>), unique in the cluster (MinorNrAutoRange, default 1000-49999).', resolve: (v) => v.drbdMinor ?? null }),
    flags: t.field({ type: [VolumeDefinitionFlagEnum], resolve: (v) => v.flags as never }),
    ...propsFields<IVolumeDefinition>(t),
    effectiveProps: t.field({
      type: [EffectivePropertyRef],
      description: 'Properties after inheritance: controller -> resource group -> volume group -> resource definition -> this volume definition.',
      resolve: async (v, _a, ctx) => resolveProps(await volumeDefinitionLayers(v, ctx)),
    }),
    resourceDefinition: t.field({ type: ResourceDefinitionRef, resolve: (v, _a, ctx) => ctx.loaders.resourceDefinition.load(v.resourceDefinition.id) }),
    volumes: t.field({ type: [VolumeRef], description: 'The volumes realizing this definition, one per resource.', resolve: (v, _a, ctx) => ctx.loaders.volumesByVolumeDefinition.load(v.id) }),
  }),
});

const ResourceDefinitionFilterInput = builder.inputType('ResourceDefinitionFilter', {
  fields: (t) => ({
    names: t.stringList(),
    resourceGroups: t.stringList({ description: 'Only definitions in these resource groups.' }),
    props: t.field({ type: [PropFilterInput] }),
  }),
});

const VolumeDefinitionFilterInput = builder.inputType('VolumeDefinitionFilter', {
  fields: (t) => ({
    resourceDefinitions: t.stringList(),
    resourceGroups: t.stringList({ description: 'Only volume definitions of definitions in these groups.' }),
    props: t.field({ type: [PropFilterInput] }),
  }),
});

builder.queryFields((t) => ({
  volumeDefinitions: t.connection(
    {
      type: VolumeDefinitionRef,
      args: { filter: t.arg({ type: VolumeDefinitionFilterInput }) },
      resolve: (_r, args, ctx) => connection(args, (page) => listVolumeDefinitions(ctx.em, args.filter ?? {}, page)),
    },
    { name: 'VolumeDefinitionConnection', fields: connectionFields },
    { name: 'VolumeDefinitionEdge' },
  ),
  resourceDefinition: t.field({
    type: ResourceDefinitionRef,
    nullable: true,
    args: { name: t.arg.string({ required: true }) },
    resolve: (_r, { name }, ctx) => ctx.em.findOne(ResourceDefinition, { nameKey: nameKey(name) }),
  }),
  resourceDefinitions: t.connection(
    {
      type: ResourceDefinitionRef,
      args: { filter: t.arg({ type: ResourceDefinitionFilterInput }) },
      resolve: (_r, args, ctx) => connection(args, (page) => listResourceDefinitions(ctx.em, args.filter ?? {}, page)),
    },
    { name: 'ResourceDefinitionConnection', fields: connectionFields },
    { name: 'ResourceDefinitionEdge' },
  ),
  volumeDefinition: t.field({
    type: VolumeDefinitionRef,
    nullable: true,
    args: { resourceDefinition: t.arg.string({ required: true }), volumeNumber: t.arg.int({ required: true }) },
    resolve: async (_r, args, ctx) => {
      const rd = await ctx.em.findOne(ResourceDefinition, { nameKey: nameKey(args.resourceDefinition) });
      return rd ? (await ctx.loaders.volumeDefinitionsByDefinition.load(rd.id)).find((v) => v.volumeNumber === args.volumeNumber) ?? null : null;
    },
  }),
}));

const VolumeDefinitionSpecInput = builder.inputType('VolumeDefinitionSpecInput', {
  fields: (t) => ({
    volumeNumber: t.int({ description: 'Default: the next free number.' }),
    sizeKib: t.field({ type: 'KiB', required: true }),
    flags: t.field({ type: [VolumeDefinitionFlagEnum] }),
    props: t.field({ type: [PropertyInput] }),
  }),
});

const CreateResourceDefinitionInput = builder.inputType('CreateResourceDefinitionInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: "2-48 characters: letters, digits, '_' and inner '-'." }),
    resourceGroup: t.string({ description: 'Default DfltRscGrp.' }),
    externalName: t.string(),
    layerStack: t.field({ type: [LayerKindEnum] }),
    props: t.field({ type: [PropertyInput] }),
    volumeDefinitions: t.field({ type: [VolumeDefinitionSpecInput] }),
  }),
});

const ModifyResourceDefinitionInput = builder.inputType('ModifyResourceDefinitionInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    resourceGroup: t.string({ description: 'Moves the definition to this group.' }),
    layerStack: t.field({ type: [LayerKindEnum] }),
    props: t.field({ type: PropsChangeInput }),
  }),
});

const CreateVolumeDefinitionInput = builder.inputType('CreateVolumeDefinitionInput', {
  fields: (t) => ({
    resourceDefinition: t.string({ required: true }),
    volumeNumber: t.int(),
    sizeKib: t.field({ type: 'KiB', required: true }),
    flags: t.field({ type: [VolumeDefinitionFlagEnum] }),
    props: t.field({ type: [PropertyInput] }),
  }),
});

const ModifyVolumeDefinitionInput = builder.inputType('ModifyVolumeDefinitionInput', {
  fields: (t) => ({
    resourceDefinition: t.string({ required: true }),
    volumeNumber: t.int({ required: true }),
    sizeKib: t.field({ type: 'KiB', description: 'New size; grow only (SIZE_SHRINK otherwise).' }),
    props: t.field({ type: PropsChangeInput }),
  }),
});

builder.mutationFields((t) => ({
  createResourceDefinition: t.field({
    type: ResourceDefinitionRef,
    args: { input: t.arg({ type: CreateResourceDefinitionInput, required: true }) },
    resolve: (_r, { input }, ctx) => definitions.createResourceDefinition(ctx.service, input),
  }),
  modifyResourceDefinition: t.field({
    type: ResourceDefinitionRef,
    args: { input: t.arg({ type: ModifyResourceDefinitionInput, required: true }) },
    resolve: (_r, { input }, ctx) => definitions.modifyResourceDefinition(ctx.service, input),
  }),
  deleteResourceDefinition: t.field({
    type: DeleteResultRef,
    description: 'Deletes a definition. Without resources it goes at once; with resources it and every replica are marked DELETE, the satellites remove the volumes, and the definition goes with its last replica (follow the DELETE placement job).',
    args: { name: t.arg.string({ required: true }) },
    resolve: (_r, { name }, ctx) => definitions.deleteResourceDefinition(ctx.service, name),
  }),
  createVolumeDefinition: t.field({
    type: VolumeDefinitionRef,
    args: { input: t.arg({ type: CreateVolumeDefinitionInput, required: true }) },
    resolve: (_r, { input }, ctx) => definitions.createVolumeDefinition(ctx.service, input),
  }),
  modifyVolumeDefinition: t.field({
    type: VolumeDefinitionRef,
    description: 'Changes properties and grows the volume; shrinking is refused with SIZE_SHRINK.',
    args: { input: t.arg({ type: ModifyVolumeDefinitionInput, required: true }) },
    resolve: (_r, { input }, ctx) => definitions.modifyVolumeDefinition(ctx.service, input),
  }),
  deleteVolumeDefinition: t.field({
    type: DeleteResultRef,
    args: { resourceDefinition: t.arg.string({ required: true }), volumeNumber: t.arg.int({ required: true }) },
    resolve: async (_r, args, ctx) => {
      const vd = await definitions.deleteVolumeDefinition(ctx.service, args.resourceDefinition, args.volumeNumber);
      return { uuid: vd.uuid, name: `${args.resourceDefinition}/${vd.volumeNumber}` };
    },
  }),
}));
