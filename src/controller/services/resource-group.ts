import { ApiError, ErrorCode } from '../../common/api-rc.js';
import { checkName, DEFAULT_RESOURCE_GROUP, nameKey } from '../../common/names.js';
import { applyPropsChange, initialProps, type PropsChange } from '../../common/props/change.js';
import { checkPropKey } from '../../common/props/keys.js';
import { LAYER_KINDS, MAX_VOLUME_NUMBER, PROVIDER_KINDS, VOLUME_GROUP_FLAGS, type LayerKind, type ProviderKind, type VolumeGroupFlag } from '../../common/vocabulary.js';
import { ResourceDefinition } from '../../orm/entities/resource-definition.js';
import { ResourceGroup, type IResourceGroup } from '../../orm/entities/resource-group.js';
import { VolumeGroup, type IVolumeGroup } from '../../orm/entities/volume-group.js';
import type { ServiceContext } from '../context.js';
import { drbdOptionsChanged, touchReplicaNodes } from './drbd-propagation.js';
import { withTransaction } from '../transaction.js';
import { getResourceGroup, getVolumeGroup } from './lookup.js';

/**
 * The autoplacer select filter of a resource group. In a modify request an omitted field stays as it is and a
 * null clears it.
 */
export interface SelectFilterInput {
  placeCount?: number | null;
  storagePoolList?: readonly string[] | null;
  storagePoolDisklessList?: readonly string[] | null;
  doNotPlaceWithRsc?: readonly string[] | null;
  doNotPlaceWithRscRegex?: string | null;
  replicasOnSame?: readonly string[] | null;
  replicasOnDifferent?: readonly string[] | null;
  xReplicasOnDifferent?: readonly { key: string; count: number }[] | null;
  disklessOnRemaining?: boolean | null;
  providerList?: readonly ProviderKind[] | null;
  nodeNameList?: readonly string[] | null;
  layerStack?: readonly LayerKind[] | null;
}

export interface CreateResourceGroupInput {
  name: string;
  description?: string | null;
  selectFilter?: SelectFilterInput | null;
  peerSlots?: number | null;
  props?: PropsChange['set'];
}

export interface ModifyResourceGroupInput {
  name: string;
  description?: string | null;
  selectFilter?: SelectFilterInput | null;
  peerSlots?: number | null;
  props?: PropsChange | null;
}

export interface CreateVolumeGroupInput {
  resourceGroup: string;
  volumeNumber?: number | null;
  flags?: readonly VolumeGroupFlag[] | null;
  props?: PropsChange['set'];
}

export interface ModifyVolumeGroupInput {
  resourceGroup: string;
  volumeNumber: number;
  flags?: readonly VolumeGroupFlag[] | null;
  props?: PropsChange | null;
}

/** Creates a resource group with its select filter. */
export async function createResourceGroup(ctx: ServiceContext, input: CreateResourceGroupInput): Promise<IResourceGroup> {
  const name = checkName('resource group', input.name, 'input.name');
  const props = initialProps('resourceGroup', input.props, 'input.props');
  const filter = checkSelectFilter(input.selectFilter ?? {}, 'input.selectFilter');
  const peerSlots = checkPeerSlots(input.peerSlots, 'input.peerSlots');
  return withTransaction(ctx, 'Create resource group', async (em, emit) => {
    if (await em.count(ResourceGroup, { nameKey: nameKey(name) })) throw ApiError.alreadyExists('resource group', name, 'input.name');
    const group = em.create(ResourceGroup, { name, description: input.description ?? null, props, peerSlots, ...filter });
    await em.flush();
    emit('RESOURCE_GROUP', 'CREATED', [group.name], group);
    return group;
  });
}

/** Changes a resource group. Definitions spawned from it see property changes through inheritance. */
export async function modifyResourceGroup(ctx: ServiceContext, input: ModifyResourceGroupInput): Promise<IResourceGroup> {
  const filter = input.selectFilter ? checkSelectFilter(input.selectFilter, 'input.selectFilter') : {};
  return withTransaction(ctx, 'Modify resource group', async (em, emit, touch) => {
    const group = await getResourceGroup(em, input.name, 'input.name');
    const before = group.props;
    group.props = applyPropsChange('resourceGroup', group.props, input.props, 'input.props');
    if (drbdOptionsChanged(before, group.props)) await touchReplicaNodes(em, touch, { groupId: group.id }, `DRBD options of group ${group.name} changed`);
    if (input.description !== undefined) group.description = input.description;
    if (input.peerSlots !== undefined) {
      const peerSlots = checkPeerSlots(input.peerSlots, 'input.peerSlots');
      // Peer slots size every deployed replica's DRBD metadata (and so its backing volume): their nodes' states change.
      if (peerSlots !== group.peerSlots) await touchReplicaNodes(em, touch, { groupId: group.id }, `peer slots of group ${group.name} changed`);
      group.peerSlots = peerSlots;
    }
    Object.assign(group, filter);
    await em.flush();
    emit('RESOURCE_GROUP', 'MODIFIED', [group.name], group);
    return group;
  });
}

/** Deletes a resource group and its volume groups. Refused for DfltRscGrp and while definitions use the group. */
export async function deleteResourceGroup(ctx: ServiceContext, name: string): Promise<IResourceGroup> {
  return withTransaction(ctx, 'Delete resource group', async (em, emit) => {
    const group = await getResourceGroup(em, name, 'name');
    if (group.nameKey === nameKey(DEFAULT_RESOURCE_GROUP)) {
      throw ApiError.invalid(ErrorCode.NOT_ALLOWED, 'name', `${DEFAULT_RESOURCE_GROUP} is the default resource group and always exists.`, 'Delete your own resource groups only.');
    }
    const users = await em.find(ResourceDefinition, { resourceGroup: group }, { orderBy: { id: 'asc' }, limit: 50 });
    if (users.length > 0) {
      const total = await em.count(ResourceDefinition, { resourceGroup: group });
      const names = users.map((d) => d.name);
      if (total > names.length) names.push(`... ${total - names.length} more`);
      throw ApiError.inUse('resource group', group.name, [{ kind: 'resource definition', names }]);
    }
    const volumeGroups = await em.find(VolumeGroup, { resourceGroup: group });
    await em.nativeDelete(ResourceGroup, { id: group.id }); // volume groups go with it (ON DELETE CASCADE)
    volumeGroups.forEach((vg) => emit('VOLUME_GROUP', 'DELETED', [group.name, String(vg.volumeNumber)], vg));
    emit('RESOURCE_GROUP', 'DELETED', [group.name], group);
    return group;
  });
}

/** Adds a volume group; without a number it takes the next free one. */
export async function createVolumeGroup(ctx: ServiceContext, input: CreateVolumeGroupInput): Promise<IVolumeGroup> {
  const props = initialProps('volumeGroup', input.props, 'input.props');
  return withTransaction(ctx, 'Create volume group', async (em, emit) => {
    const group = await getResourceGroup(em, input.resourceGroup, 'input.resourceGroup');
    const existing = await em.find(VolumeGroup, { resourceGroup: group });
    const volumeNumber = input.volumeNumber ?? nextNumber(existing.map((v) => v.volumeNumber));
    checkVolumeNumber(volumeNumber, 'input.volumeNumber');
    if (existing.some((v) => v.volumeNumber === volumeNumber)) throw ApiError.alreadyExists('volume group', `${group.name}/${volumeNumber}`, 'input.volumeNumber');
    const vg = em.create(VolumeGroup, { resourceGroup: group, volumeNumber, props, flags: [...new Set(input.flags ?? [])] });
    await em.flush();
    emit('VOLUME_GROUP', 'CREATED', [group.name, String(volumeNumber)], vg);
    return vg;
  });
}

/** Changes a volume group's flags and properties. */
export async function modifyVolumeGroup(ctx: ServiceContext, input: ModifyVolumeGroupInput): Promise<IVolumeGroup> {
  return withTransaction(ctx, 'Modify volume group', async (em, emit) => {
    const group = await getResourceGroup(em, input.resourceGroup, 'input.resourceGroup');
    const vg = await getVolumeGroup(em, group, input.volumeNumber, 'input.volumeNumber');
    vg.props = applyPropsChange('volumeGroup', vg.props, input.props, 'input.props');
    if (input.flags) vg.flags = [...new Set(input.flags)];
    await em.flush();
    emit('VOLUME_GROUP', 'MODIFIED', [group.name, String(vg.volumeNumber)], vg);
    return vg;
  });
}

/** Deletes a volume group. Definitions already spawned keep their volume definitions. */
export async function deleteVolumeGroup(ctx: ServiceContext, groupName: string, volumeNumber: number): Promise<IVolumeGroup> {
  return withTransaction(ctx, 'Delete volume group', async (em, emit) => {
    const group = await getResourceGroup(em, groupName, 'resourceGroup');
    const vg = await getVolumeGroup(em, group, volumeNumber, 'volumeNumber');
    em.remove(vg);
    await em.flush();
    emit('VOLUME_GROUP', 'DELETED', [group.name, String(volumeNumber)], vg);
    return vg;
  });
}

/** Smallest volume number not in `used`. */
export function nextNumber(used: readonly number[]): number {
  const taken = new Set(used);
  let n = 0;
  while (taken.has(n)) n++;
  return n;
}

export function checkVolumeNumber(n: number, field: string): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_VOLUME_NUMBER) {
    throw ApiError.invalid(ErrorCode.INVALID_VALUE, field, `${n} is not a valid volume number.`, `Use 0-${MAX_VOLUME_NUMBER}, or leave it out to take the next free number.`);
  }
}

function checkPeerSlots(value: number | null | undefined, field: string): number | null {
  if (value == null) return null;
  if (!Number.isInteger(value) || value < 1 || value > 31) {
    throw ApiError.invalid(ErrorCode.INVALID_VALUE, field, `${value} is not a valid number of DRBD peer slots.`, 'Use 1-31 (DRBD 9 supports 31 peers), or leave it out for the default of 7.');
  }
  return value;
}

type FilterColumns = Partial<Pick<IResourceGroup,
  'placeCount' | 'storagePoolList' | 'storagePoolDisklessList' | 'doNotPlaceWithRsc' | 'doNotPlaceWithRscRegex' | 'replicasOnSame' |
  'replicasOnDifferent' | 'xReplicasOnDifferent' | 'disklessOnRemaining' | 'providerList' | 'nodeNameList' | 'layerStack'>>;

/**
 * Validates a select filter and returns the columns to write: only fields present in the input, nulls as
 * "cleared". Node property keys in replicasOnSame/Different without a namespace get `Aux/` (as linstor-client does).
 */
export function checkSelectFilter(f: SelectFilterInput, field: string): FilterColumns {
  const out: FilterColumns = {};
  if (f.placeCount !== undefined) {
    if (f.placeCount !== null && (!Number.isInteger(f.placeCount) || f.placeCount < 1 || f.placeCount > 32)) {
      throw ApiError.invalid(ErrorCode.INVALID_VALUE, `${field}.placeCount`, `${f.placeCount} is not a valid place count.`, 'Use 1-32 diskful replicas.');
    }
    out.placeCount = f.placeCount;
  }
  const names = (list: readonly string[] | null | undefined, key: string, kind: 'storage pool' | 'resource definition' | 'node'): string[] | undefined => {
    if (list === undefined) return undefined;
    const result = (list ?? []).map((n, i) => checkName(kind, n, `${field}.${key}[${i}]`));
    return [...new Map(result.map((n) => [nameKey(n), n])).values()];
  };
  const set = <K extends keyof FilterColumns>(key: K, value: FilterColumns[K] | undefined) => {
    if (value !== undefined) out[key] = value;
  };
  set('storagePoolList', names(f.storagePoolList, 'storagePoolList', 'storage pool'));
  set('storagePoolDisklessList', names(f.storagePoolDisklessList, 'storagePoolDisklessList', 'storage pool'));
  set('doNotPlaceWithRsc', names(f.doNotPlaceWithRsc, 'doNotPlaceWithRsc', 'resource definition'));
  set('nodeNameList', names(f.nodeNameList, 'nodeNameList', 'node'));
  if (f.doNotPlaceWithRscRegex !== undefined) {
    if (f.doNotPlaceWithRscRegex !== null) {
      try {
        new RegExp(f.doNotPlaceWithRscRegex, 'i');
      } catch (e) {
        throw ApiError.invalid(ErrorCode.INVALID_VALUE, `${field}.doNotPlaceWithRscRegex`, `'${f.doNotPlaceWithRscRegex}' is not a valid regular expression: ${(e as Error).message}.`, 'Give a valid regular expression (matched case-insensitively against resource names).');
      }
    }
    out.doNotPlaceWithRscRegex = f.doNotPlaceWithRscRegex || null;
  }
  const nodeKeys = (list: readonly string[] | null | undefined, key: string): string[] | undefined => {
    if (list === undefined) return undefined;
    return (list ?? []).map((entry, i) => {
      const eq = entry.indexOf('=');
      const rawKey = eq < 0 ? entry : entry.slice(0, eq);
      const propKey = rawKey.includes('/') ? rawKey : `Aux/${rawKey}`;
      checkPropKey('node', propKey, `${field}.${key}[${i}]`);
      return eq < 0 ? propKey : `${propKey}=${entry.slice(eq + 1)}`;
    });
  };
  set('replicasOnSame', nodeKeys(f.replicasOnSame, 'replicasOnSame'));
  set('replicasOnDifferent', nodeKeys(f.replicasOnDifferent, 'replicasOnDifferent'));
  if (f.xReplicasOnDifferent !== undefined) {
    const map: Record<string, number> = {};
    (f.xReplicasOnDifferent ?? []).forEach(({ key, count }, i) => {
      const propKey = key.includes('/') ? key : `Aux/${key}`;
      checkPropKey('node', propKey, `${field}.xReplicasOnDifferent[${i}].key`);
      if (!Number.isInteger(count) || count < 1) {
        throw ApiError.invalid(ErrorCode.INVALID_VALUE, `${field}.xReplicasOnDifferent[${i}].count`, `${count} is not a valid replica count.`, 'Use a count of at least 1 (replicas allowed per distinct value of the key).');
      }
      map[propKey] = count;
    });
    out.xReplicasOnDifferent = map;
  }
  if (f.disklessOnRemaining !== undefined) out.disklessOnRemaining = f.disklessOnRemaining;
  if (f.providerList !== undefined) {
    (f.providerList ?? []).forEach((p, i) => {
      if (!PROVIDER_KINDS.includes(p)) throw ApiError.invalid(ErrorCode.INVALID_VALUE, `${field}.providerList[${i}]`, `'${p}' is not a provider kind.`, `Use ${PROVIDER_KINDS.join(', ')}.`);
    });
    out.providerList = [...new Set(f.providerList ?? [])];
  }
  if (f.layerStack !== undefined) out.layerStack = checkLayerStack(f.layerStack ?? [], `${field}.layerStack`);
  return out;
}

/** A layer stack names each layer once and ends with STORAGE (LINSTOR's rule); empty means the default. */
export function checkLayerStack(stack: readonly LayerKind[], field: string): LayerKind[] {
  if (stack.length === 0) return [];
  stack.forEach((l, i) => {
    if (!LAYER_KINDS.includes(l)) throw ApiError.invalid(ErrorCode.INVALID_VALUE, `${field}[${i}]`, `'${l}' is not a layer.`, `Use ${LAYER_KINDS.join(', ')}.`);
  });
  if (new Set(stack).size !== stack.length || stack[stack.length - 1] !== 'STORAGE') {
    throw ApiError.invalid(ErrorCode.INVALID_VALUE, field, `[${stack.join(', ')}] is not a valid layer stack.`, 'Name each layer once and end with STORAGE, e.g. [DRBD, STORAGE].');
  }
  return [...stack];
}
