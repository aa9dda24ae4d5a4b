/** Every entity, listed explicitly for the ORM configuration (no folder scanning). Import-only module. */
import { ControllerConfig } from './controller-config.js';
import { NetInterface } from './net-interface.js';
import { NodeChange } from './node-change.js';
import { PlacementJob, PlacementJobNode } from './placement-job.js';
import { Node } from './node.js';
import { Resource } from './resource.js';
import { ResourceDefinition } from './resource-definition.js';
import { ResourceGroup } from './resource-group.js';
import { StoragePool, StoragePoolUsage } from './storage-pool.js';
import { Volume } from './volume.js';
import { VolumeDefinition } from './volume-definition.js';
import { VolumeGroup } from './volume-group.js';

export const ALL_ENTITIES = [
  ControllerConfig,
  Node,
  NetInterface,
  StoragePool,
  StoragePoolUsage,
  ResourceGroup,
  VolumeGroup,
  ResourceDefinition,
  VolumeDefinition,
  Resource,
  Volume,
  NodeChange,
  PlacementJob,
  PlacementJobNode,
];
