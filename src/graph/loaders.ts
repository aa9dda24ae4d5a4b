import type { EntityManager } from '@mikro-orm/postgresql';
import DataLoader from 'dataloader';
import type { Props } from '../common/props/keys.js';
import { ControllerConfig } from '../orm/entities/controller-config.js';
import { raw } from '@mikro-orm/core';
import { NetInterface, type INetInterface } from '../orm/entities/net-interface.js';
import { PlacementJob, PlacementJobNode, type IPlacementJob, type IPlacementJobNode } from '../orm/entities/placement-job.js';
import { Node, type INode } from '../orm/entities/node.js';
import { ResourceDefinition, type IResourceDefinition } from '../orm/entities/resource-definition.js';
import { ResourceGroup, type IResourceGroup } from '../orm/entities/resource-group.js';
import { Resource, type IResource } from '../orm/entities/resource.js';
import { StoragePool, type IStoragePool } from '../orm/entities/storage-pool.js';
import { VolumeDefinition, type IVolumeDefinition } from '../orm/entities/volume-definition.js';
import { VolumeGroup, type IVolumeGroup } from '../orm/entities/volume-group.js';
import { Volume, type IVolume } from '../orm/entities/volume.js';

/**
 * Batch loaders, one set per operation: every nested field asks its loader, and all requests of one tick become a
 * single `where ... in (...)` query, so a list of N nodes with their pools costs 2 queries, not N+1.
 */
export function createLoaders(em: EntityManager) {
  function byId<T extends { id: number }>(entity: unknown): DataLoader<number, T> {
    return new DataLoader<number, T>(async (ids) => {
      const rows = (await em.find(entity as typeof Node, { id: { $in: [...ids] } })) as unknown as T[];
      const found = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => found.get(id) ?? new Error(`object ${id} vanished during the request`));
    });
  }
  function byParent<T extends object>(entity: unknown, fk: string, orderBy: Record<string, 'asc'> = { id: 'asc' }): DataLoader<number, T[]> {
    return new DataLoader<number, T[]>(async (ids) => {
      const rows = (await em.find(entity as typeof Node, { [fk]: { $in: [...ids] } } as never, { orderBy })) as unknown as T[];
      const groups = new Map<number, T[]>(ids.map((id) => [id, []]));
      for (const row of rows) groups.get((row as Record<string, { id: number }>)[fk]!.id)?.push(row);
      return ids.map((id) => groups.get(id)!);
    });
  }
  let controllerProps: Promise<Props> | undefined;
  /** Desired-state revision per node: the highest change-log id (one grouped query per batch). */
  const nodeRevision = new DataLoader<number, number>(async (ids) => {
    const rows: { node_id: number; revision: string }[] = await em
      .getConnection()
      .execute(`select node_id, max(id) as revision from node_change where node_id in (${ids.map(() => '?').join(', ')}) group by node_id`, [...ids]);
    const byNode = new Map(rows.map((r) => [Number(r.node_id), Number(r.revision)]));
    return ids.map((id) => byNode.get(id) ?? 0);
  });
  return {
    node: byId<INode>(Node),
    nodeRevision,
    storagePool: byId<IStoragePool>(StoragePool),
    resourceGroup: byId<IResourceGroup>(ResourceGroup),
    resourceDefinition: byId<IResourceDefinition>(ResourceDefinition),
    volumeDefinition: byId<IVolumeDefinition>(VolumeDefinition),
    resource: byId<IResource>(Resource),
    netInterfacesByNode: byParent<INetInterface>(NetInterface, 'node'),
    storagePoolsByNode: byParent<IStoragePool>(StoragePool, 'node'),
    resourcesByNode: byParent<IResource>(Resource, 'node'),
    resourcesByDefinition: byParent<IResource>(Resource, 'resourceDefinition'),
    volumeGroupsByGroup: byParent<IVolumeGroup>(VolumeGroup, 'resourceGroup', { volumeNumber: 'asc' }),
    definitionsByGroup: byParent<IResourceDefinition>(ResourceDefinition, 'resourceGroup'),
    volumeDefinitionsByDefinition: byParent<IVolumeDefinition>(VolumeDefinition, 'resourceDefinition', { volumeNumber: 'asc' }),
    volumesByResource: byParent<IVolume>(Volume, 'resource'),
    volumesByVolumeDefinition: byParent<IVolume>(Volume, 'volumeDefinition'),
    volumesByStoragePool: byParent<IVolume>(Volume, 'storagePool'),
    jobNodesByJob: byParent<IPlacementJobNode>(PlacementJobNode, 'job', { node: 'asc' }),
    /** Placement jobs per definition name (case-insensitive), newest first. */
    jobsByDefinition: new DataLoader<string, IPlacementJob[]>(async (names) => {
      const keys = names.map((n) => n.toUpperCase());
      const rows = await em.find(PlacementJob, { [raw('upper(resource_definition)')]: { $in: keys } } as never, { orderBy: { id: 'desc' } });
      return keys.map((k) => rows.filter((j) => j.resourceDefinition.toUpperCase() === k));
    }),
    /** The controller's properties, read at most once per operation. */
    controllerProps: (): Promise<Props> =>
      (controllerProps ??= em.findOneOrFail(ControllerConfig, { id: 1 }).then((c) => c.props)),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
