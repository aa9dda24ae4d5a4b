import type { PropsLayer } from '../../common/props/inherit.js';
import type { IResourceDefinition } from '../../orm/entities/resource-definition.js';
import type { IResource } from '../../orm/entities/resource.js';
import type { IVolumeDefinition } from '../../orm/entities/volume-definition.js';
import type { IVolume } from '../../orm/entities/volume.js';
import type { GraphContext } from '../context.js';

/**
 * The property layers of each object, lowest priority first, loaded through the operation's batch loaders:
 * controller -> resource group -> (volume group) -> resource definition -> (volume definition) -> resource -> (volume).
 */
export async function definitionLayers(rd: IResourceDefinition, ctx: GraphContext): Promise<PropsLayer[]> {
  const [controller, group] = await Promise.all([ctx.loaders.controllerProps(), ctx.loaders.resourceGroup.load(rd.resourceGroup.id)]);
  return [
    { origin: 'controller', props: controller },
    { origin: 'resourceGroup', props: group.props },
    { origin: 'resourceDefinition', props: rd.props },
  ];
}

export async function volumeDefinitionLayers(vd: IVolumeDefinition, ctx: GraphContext): Promise<PropsLayer[]> {
  const rd = await ctx.loaders.resourceDefinition.load(vd.resourceDefinition.id);
  const [controller, group, volumeGroups] = await Promise.all([
    ctx.loaders.controllerProps(),
    ctx.loaders.resourceGroup.load(rd.resourceGroup.id),
    ctx.loaders.volumeGroupsByGroup.load(rd.resourceGroup.id),
  ]);
  const vg = volumeGroups.find((v) => v.volumeNumber === vd.volumeNumber);
  return [
    { origin: 'controller', props: controller },
    { origin: 'resourceGroup', props: group.props },
    ...(vg ? [{ origin: 'volumeGroup' as const, props: vg.props }] : []),
    { origin: 'resourceDefinition', props: rd.props },
    { origin: 'volumeDefinition', props: vd.props },
  ];
}

export async function resourceLayers(r: IResource, ctx: GraphContext): Promise<PropsLayer[]> {
  const rd = await ctx.loaders.resourceDefinition.load(r.resourceDefinition.id);
  return [...(await definitionLayers(rd, ctx)), { origin: 'resource', props: r.props }];
}

export async function volumeLayers(v: IVolume, ctx: GraphContext): Promise<PropsLayer[]> {
  const [vd, resource] = await Promise.all([ctx.loaders.volumeDefinition.load(v.volumeDefinition.id), ctx.loaders.resource.load(v.resource.id)]);
  return [...(await volumeDefinitionLayers(vd, ctx)), { origin: 'resource', props: resource.props }, { origin: 'volume', props: v.props }];
}
