import { ApiError, ErrorCode } from '../../common/api-rc.js';
import { checkName, DEFAULT_RESOURCE_GROUP, nameKey } from '../../common/names.js';
import { applyPropsChange, initialProps, type PropsChange } from '../../common/props/change.js';
import { formatKiB, parseKiB, type KiB } from '../../common/sizes.js';
import type { LayerKind, VolumeDefinitionFlag } from '../../common/vocabulary.js';
import { ResourceDefinition, type IResourceDefinition } from '../../orm/entities/resource-definition.js';
import { Resource } from '../../orm/entities/resource.js';
import { VolumeDefinition, type IVolumeDefinition } from '../../orm/entities/volume-definition.js';
import { Volume } from '../../orm/entities/volume.js';
import type { ServiceContext } from '../context.js';
import { allocateMinors, newDrbdSecret } from '../allocators/drbd.js';
import { LockMode } from '@mikro-orm/core';
import { Node } from '../../orm/entities/node.js';
import { drbdOptionsChanged, touchReplicaNodes } from './drbd-propagation.js';
import { withTransaction } from '../transaction.js';
import { checkNotDeleting, getResourceDefinition, getResourceGroup, getVolumeDefinition } from './lookup.js';
import { checkLayerStack, checkVolumeNumber, nextNumber } from './resource-group.js';

export interface VolumeDefinitionSpec {
  volumeNumber?: number | null;
  sizeKib: KiB | string;
  flags?: readonly VolumeDefinitionFlag[] | null;
  props?: PropsChange['set'];
}

export interface CreateResourceDefinitionInput {
  name: string;
  resourceGroup?: string | null;
  externalName?: string | null;
  layerStack?: readonly LayerKind[] | null;
  props?: PropsChange['set'];
  volumeDefinitions?: readonly VolumeDefinitionSpec[] | null;
}

export interface ModifyResourceDefinitionInput {
  name: string;
  resourceGroup?: string | null;
  layerStack?: readonly LayerKind[] | null;
  props?: PropsChange | null;
}

export interface CreateVolumeDefinitionInput extends VolumeDefinitionSpec {
  resourceDefinition: string;
}

export interface ModifyVolumeDefinitionInput {
  resourceDefinition: string;
  volumeNumber: number;
  sizeKib?: KiB | string | null;
  props?: PropsChange | null;
}

/** Creates a resource definition in a resource group (DfltRscGrp by default), optionally with volume definitions. */
export async function createResourceDefinition(ctx: ServiceContext, input: CreateResourceDefinitionInput): Promise<IResourceDefinition> {
  const name = checkName('resource definition', input.name, 'input.name');
  const props = initialProps('resourceDefinition', input.props, 'input.props');
  const layerStack = checkLayerStack(input.layerStack ?? [], 'input.layerStack');
  if (input.externalName != null && (input.externalName.length === 0 || input.externalName.length > 1024)) {
    throw ApiError.invalid(ErrorCode.INVALID_VALUE, 'input.externalName', 'The external name must have 1-1024 characters.', 'Shorten it, or leave it out.');
  }
  const specs = checkVolumeSpecs(input.volumeDefinitions ?? [], 'input.volumeDefinitions');
  return withTransaction(ctx, 'Create resource definition', async (em, emit) => {
    const group = await getResourceGroup(em, input.resourceGroup ?? DEFAULT_RESOURCE_GROUP, 'input.resourceGroup');
    if (await em.count(ResourceDefinition, { nameKey: nameKey(name) })) throw ApiError.alreadyExists('resource definition', name, 'input.name');
    const definition = em.create(ResourceDefinition, { name, resourceGroup: group, externalName: input.externalName ?? null, props, layerStack, flags: [], drbdSecret: newDrbdSecret() });
    const minors = await allocateMinors(em, specs.length);
    for (const [i, spec] of specs.entries()) {
      const vd = em.create(VolumeDefinition, { resourceDefinition: definition, ...spec, drbdMinor: minors[i]! });
      emit('VOLUME_DEFINITION', 'CREATED', [name, String(spec.volumeNumber)], vd);
    }
    await em.flush();
    emit('RESOURCE_DEFINITION', 'CREATED', [definition.name], definition);
    return definition;
  });
}

/** Changes a definition's properties or layer stack, or moves it to another resource group. */
export async function modifyResourceDefinition(ctx: ServiceContext, input: ModifyResourceDefinitionInput): Promise<IResourceDefinition> {
  return withTransaction(ctx, 'Modify resource definition', async (em, emit, touch) => {
    const definition = await getResourceDefinition(em, input.name, 'input.name');
    const before = definition.props;
    definition.props = applyPropsChange('resourceDefinition', definition.props, input.props, 'input.props');
    // Moving to another group changes the inherited options too.
    const moved = Boolean(input.resourceGroup);
    if (input.resourceGroup) definition.resourceGroup = await getResourceGroup(em, input.resourceGroup, 'input.resourceGroup');
    if (moved || drbdOptionsChanged(before, definition.props)) await touchReplicaNodes(em, touch, { definitionIds: [definition.id] }, `DRBD options of ${definition.name} changed`);
    if (input.layerStack) {
      const stack = checkLayerStack(input.layerStack, 'input.layerStack');
      if (stack.join() !== definition.layerStack.join() && (await em.count(Resource, { resourceDefinition: definition }))) {
        throw ApiError.invalid(ErrorCode.NOT_ALLOWED, 'input.layerStack', `The layer stack of '${definition.name}' cannot change while it has resources.`, 'Delete its resources first, or leave the layer stack as it is.');
      }
      definition.layerStack = stack;
    }
    await em.flush();
    emit('RESOURCE_DEFINITION', 'MODIFIED', [definition.name], definition);
    return definition;
  });
}

/**
 * Deletes a definition. Without resources it goes at once with its volume definitions. With resources it is marked
 * DELETE together with every replica: each satellite removes its backing volumes, each replica's record goes once its
 * satellite has converged, and the definition goes with its last replica (a placement job follows it all).
 */
export async function deleteResourceDefinition(ctx: ServiceContext, name: string): Promise<IResourceDefinition> {
  return withTransaction(ctx, 'Delete resource definition', async (em, emit, touch, job) => {
    const definition = await getResourceDefinition(em, name, 'name');
    const resources = await em.find(Resource, { resourceDefinition: definition }, { populate: ['node'], orderBy: { id: 'asc' } });
    if (resources.length > 0) {
      // Node rows in id order (as every writer takes them), then the replicas.
      const nodes = [...new Set(resources.map((r) => r.node))].sort((a, b) => a.id - b.id);
      await em.find(Node, { id: { $in: nodes.map((n) => n.id) } }, { lockMode: LockMode.PESSIMISTIC_WRITE, orderBy: { id: 'asc' } });
      if (!definition.flags.includes('DELETE')) definition.flags = [...definition.flags, 'DELETE'];
      for (const resource of resources.filter((r) => !r.flags.includes('DELETE'))) {
        resource.flags = [...resource.flags, 'DELETE'];
        for (const v of await em.find(Volume, { resource })) v.state = 'DELETING';
        emit('RESOURCE', 'MODIFIED', [definition.name, resource.node.name], resource);
      }
      await em.flush();
      nodes.forEach((n) => touch(n, `resource definition ${definition.name} deleted`));
      job('DELETE', definition.name);
      emit('RESOURCE_DEFINITION', 'MODIFIED', [definition.name], definition);
      return definition;
    }
    const volumeDefinitions = await em.find(VolumeDefinition, { resourceDefinition: definition });
    await em.nativeDelete(ResourceDefinition, { id: definition.id }); // volume definitions cascade
    volumeDefinitions.forEach((vd) => emit('VOLUME_DEFINITION', 'DELETED', [definition.name, String(vd.volumeNumber)], vd));
    emit('RESOURCE_DEFINITION', 'DELETED', [definition.name], definition);
    return definition;
  });
}

/** Adds a volume definition; without a number it takes the next free one. */
export async function createVolumeDefinition(ctx: ServiceContext, input: CreateVolumeDefinitionInput): Promise<IVolumeDefinition> {
  return withTransaction(ctx, 'Create volume definition', async (em, emit) => {
    const definition = await getResourceDefinition(em, input.resourceDefinition, 'input.resourceDefinition');
    checkNotDeleting(definition, 'input.resourceDefinition');
    const existing = await em.find(VolumeDefinition, { resourceDefinition: definition });
    const volumeNumber = input.volumeNumber ?? nextNumber(existing.map((v) => v.volumeNumber));
    const [spec] = checkVolumeSpecs([{ ...input, volumeNumber }], 'input', true);
    if (existing.some((v) => v.volumeNumber === volumeNumber)) throw ApiError.alreadyExists('volume definition', `${definition.name}/${volumeNumber}`, 'input.volumeNumber');
    if (await em.count(Resource, { resourceDefinition: definition })) {
      // Existing replicas would need the new volume realized on their nodes: that is placement work (issue 4).
      throw ApiError.invalid(ErrorCode.NOT_ALLOWED, 'input.resourceDefinition', `'${definition.name}' already has resources; volumes can only be added before it is deployed.`, 'Add the volume definition before creating resources.');
    }
    const [minor] = await allocateMinors(em, 1);
    const vd = em.create(VolumeDefinition, { resourceDefinition: definition, ...spec!, drbdMinor: minor! });
    await em.flush();
    emit('VOLUME_DEFINITION', 'CREATED', [definition.name, String(volumeNumber)], vd);
    return vd;
  });
}

/** Changes a volume definition's properties and grows it. Shrinking is refused: it would destroy data. */
export async function modifyVolumeDefinition(ctx: ServiceContext, input: ModifyVolumeDefinitionInput): Promise<IVolumeDefinition> {
  const newSize = input.sizeKib == null ? null : checkSize(input.sizeKib, 'input.sizeKib');
  return withTransaction(ctx, 'Modify volume definition', async (em, emit, touch, job) => {
    const definition = await getResourceDefinition(em, input.resourceDefinition, 'input.resourceDefinition');
    const vd = await getVolumeDefinition(em, definition, input.volumeNumber, 'input.volumeNumber');
    vd.props = applyPropsChange('volumeDefinition', vd.props, input.props, 'input.props');
    if (newSize !== null && newSize !== vd.sizeKib) {
      checkNotDeleting(definition, 'input.resourceDefinition');
      if (newSize < vd.sizeKib) {
        throw ApiError.invalid(
          ErrorCode.SIZE_SHRINK,
          'input.sizeKib',
          `Volume ${definition.name}/${vd.volumeNumber} is ${formatKiB(vd.sizeKib)}; shrinking it to ${formatKiB(newSize)} would destroy data.`,
          `Give a size of at least ${vd.sizeKib} KiB, or create a new, smaller volume and copy the data.`,
        );
      }
      vd.sizeKib = newSize;
      const volumes = await em.find(Volume, { volumeDefinition: vd }, { populate: ['resource'] });
      if (volumes.length > 0 && !vd.flags.includes('RESIZE')) vd.flags = [...vd.flags, 'RESIZE'];
      await em.flush();
      // Every replica grows: each node with a volume of this definition gets the new size.
      volumes.forEach((v) => touch(v.resource.node, `volume ${definition.name}/${vd.volumeNumber} grown`, { definition }));
      if (volumes.length > 0) job('GROW', definition.name);
    }
    await em.flush();
    emit('VOLUME_DEFINITION', 'MODIFIED', [definition.name, String(vd.volumeNumber)], vd);
    return vd;
  });
}

/** Deletes a volume definition that no resource realizes. */
export async function deleteVolumeDefinition(ctx: ServiceContext, definitionName: string, volumeNumber: number): Promise<IVolumeDefinition> {
  return withTransaction(ctx, 'Delete volume definition', async (em, emit) => {
    const definition = await getResourceDefinition(em, definitionName, 'resourceDefinition');
    const vd = await getVolumeDefinition(em, definition, volumeNumber, 'volumeNumber');
    const volumes = await em.find(Volume, { volumeDefinition: vd }, { populate: ['resource.node'] });
    if (volumes.length > 0) {
      throw ApiError.inUse('volume definition', `${definition.name}/${volumeNumber}`, [{ kind: 'volume', names: volumes.map((v) => `${definition.name}/${volumeNumber} on ${v.resource.node.name}`) }]);
    }
    em.remove(vd);
    await em.flush();
    emit('VOLUME_DEFINITION', 'DELETED', [definition.name, String(volumeNumber)], vd);
    return vd;
  });
}

type CheckedSpec = { volumeNumber: number; sizeKib: KiB; flags: VolumeDefinitionFlag[]; props: Record<string, string> };

function checkVolumeSpecs(specs: readonly VolumeDefinitionSpec[], field: string, single = false): CheckedSpec[] {
  const used: number[] = [];
  return specs.map((spec, i) => {
    const f = single ? field : `${field}[${i}]`;
    const volumeNumber = spec.volumeNumber ?? nextNumber(used);
    checkVolumeNumber(volumeNumber, `${f}.volumeNumber`);
    if (used.includes(volumeNumber)) throw ApiError.alreadyExists('volume definition', String(volumeNumber), `${f}.volumeNumber`);
    used.push(volumeNumber);
    return {
      volumeNumber,
      sizeKib: checkSize(spec.sizeKib, `${f}.sizeKib`),
      flags: checkUserFlags(spec.flags ?? [], `${f}.flags`),
      props: initialProps('volumeDefinition', spec.props, `${f}.props`),
    };
  });
}

/** Flags a user may set on a volume definition; the others (RESIZE, DELETE, DRBD_INITIALIZED) record system state. */
const USER_VOLUME_DEFINITION_FLAGS: readonly VolumeDefinitionFlag[] = ['GROSS_SIZE'];

function checkUserFlags(flags: readonly VolumeDefinitionFlag[], field: string): VolumeDefinitionFlag[] {
  flags.forEach((flag, i) => {
    if (!USER_VOLUME_DEFINITION_FLAGS.includes(flag)) {
      throw ApiError.invalid(ErrorCode.INVALID_VALUE, `${field}[${i}]`, `The flag ${flag} is set by blockplane itself, not by users.`, `Leave it out; users may set ${USER_VOLUME_DEFINITION_FLAGS.join(', ')}.`);
    }
  });
  return [...new Set(flags)];
}

function checkSize(size: KiB | string, field: string): KiB {
  const kib = parseKiB(size, field);
  if (kib === 0n) {
    throw ApiError.invalid(ErrorCode.INVALID_SIZE, field, 'A volume cannot be 0 KiB.', 'Give a size of at least 1 KiB, e.g. "1GiB".');
  }
  return kib;
}
