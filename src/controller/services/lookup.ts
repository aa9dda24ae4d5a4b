import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ApiError, ErrorCode } from '../../common/api-rc.js';
import { nameKey } from '../../common/names.js';
import { Node, type INode } from '../../orm/entities/node.js';
import { ResourceDefinition, type IResourceDefinition } from '../../orm/entities/resource-definition.js';
import { ResourceGroup, type IResourceGroup } from '../../orm/entities/resource-group.js';
import { Resource, type IResource } from '../../orm/entities/resource.js';
import { StoragePool, type IStoragePool } from '../../orm/entities/storage-pool.js';
import { VolumeDefinition, type IVolumeDefinition } from '../../orm/entities/volume-definition.js';
import { VolumeGroup, type IVolumeGroup } from '../../orm/entities/volume-group.js';

/**
 * Load-or-fail helpers: every one compares names case-insensitively and names the input field when missing.
 * Inside a transaction the row is locked (SELECT ... FOR UPDATE) until commit, so two requests that change the same
 * object run one after the other instead of overwriting each other's changes (e.g. two property updates).
 */
function lock(em: EntityManager): { lockMode?: LockMode } {
  return em.isInTransaction() ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {};
}

export async function getNode(em: EntityManager, name: string, field: string): Promise<INode> {
  return (await em.findOne(Node, { nameKey: nameKey(name) }, lock(em))) ?? fail(ApiError.notFound('node', name, field));
}

export async function getStoragePool(em: EntityManager, node: INode, name: string, field: string): Promise<IStoragePool> {
  return (await em.findOne(StoragePool, { node, nameKey: nameKey(name) }, lock(em))) ?? fail(ApiError.notFound('storage pool', `${node.name}/${name}`, field));
}

export async function getResourceGroup(em: EntityManager, name: string, field: string): Promise<IResourceGroup> {
  return (await em.findOne(ResourceGroup, { nameKey: nameKey(name) }, lock(em))) ?? fail(ApiError.notFound('resource group', name, field));
}

export async function getVolumeGroup(em: EntityManager, group: IResourceGroup, volumeNumber: number, field: string): Promise<IVolumeGroup> {
  return (await em.findOne(VolumeGroup, { resourceGroup: group, volumeNumber }, lock(em))) ?? fail(ApiError.notFound('volume group', `${group.name}/${volumeNumber}`, field));
}

export async function getResourceDefinition(em: EntityManager, name: string, field: string): Promise<IResourceDefinition> {
  return (await em.findOne(ResourceDefinition, { nameKey: nameKey(name) }, lock(em))) ?? fail(ApiError.notFound('resource definition', name, field));
}

export async function getVolumeDefinition(em: EntityManager, definition: IResourceDefinition, volumeNumber: number, field: string): Promise<IVolumeDefinition> {
  return (await em.findOne(VolumeDefinition, { resourceDefinition: definition, volumeNumber }, lock(em))) ?? fail(ApiError.notFound('volume definition', `${definition.name}/${volumeNumber}`, field));
}

export async function getResource(em: EntityManager, definitionName: string, nodeName: string, field: string): Promise<IResource> {
  const found = await em.findOne(Resource, { resourceDefinition: { nameKey: nameKey(definitionName) }, node: { nameKey: nameKey(nodeName) } }, lock(em));
  return found ?? fail(ApiError.notFound('resource', `${definitionName} on ${nodeName}`, field));
}

/**
 * Refuses to add to a definition that is being deleted (new replicas, volumes or growth would outlive or block
 * its deletion).
 * @throws ApiError NOT_ALLOWED
 */
export function checkNotDeleting(definition: IResourceDefinition, field: string): void {
  if (definition.flags.includes('DELETE')) {
    throw ApiError.invalid(ErrorCode.NOT_ALLOWED, field, `Resource definition '${definition.name}' is being deleted.`, 'Wait until it is gone, then create it again.');
  }
}

function fail(error: ApiError): never {
  throw error;
}
