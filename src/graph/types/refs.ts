import type { INetInterface } from '../../orm/entities/net-interface.js';
import type { INode } from '../../orm/entities/node.js';
import type { IResourceDefinition } from '../../orm/entities/resource-definition.js';
import type { IResourceGroup } from '../../orm/entities/resource-group.js';
import type { IResource } from '../../orm/entities/resource.js';
import type { IStoragePool } from '../../orm/entities/storage-pool.js';
import type { IVolumeDefinition } from '../../orm/entities/volume-definition.js';
import type { IVolumeGroup } from '../../orm/entities/volume-group.js';
import type { IVolume } from '../../orm/entities/volume.js';
import { builder } from '../builder.js';

/**
 * Object type references, declared here once so that type files can point at each other without import cycles.
 * Each is implemented (fields, queries, mutations) in the file named after it.
 */
export const NodeRef = builder.objectRef<INode>('Node');
export const NetInterfaceRef = builder.objectRef<INetInterface>('NetInterface');
export const StoragePoolRef = builder.objectRef<IStoragePool>('StoragePool');
export const ResourceGroupRef = builder.objectRef<IResourceGroup>('ResourceGroup');
export const VolumeGroupRef = builder.objectRef<IVolumeGroup>('VolumeGroup');
export const ResourceDefinitionRef = builder.objectRef<IResourceDefinition>('ResourceDefinition');
export const VolumeDefinitionRef = builder.objectRef<IVolumeDefinition>('VolumeDefinition');
export const ResourceRef = builder.objectRef<IResource>('Resource');
export const VolumeRef = builder.objectRef<IVolume>('Volume');
