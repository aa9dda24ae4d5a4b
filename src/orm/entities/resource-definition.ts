import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { baseProperties, namedProperties, propsProperty, stringList } from './base.js';
import { ResourceGroup } from './resource-group.js';

/**
 * A resource definition (LINSTOR ResourceDefinition). It always belongs to a resource group (DfltRscGrp when none
 * is named); the foreign key refuses to delete a group that still has definitions.
 */
export const ResourceDefinition = defineEntity({
  name: 'ResourceDefinition',
  tableName: 'resource_definition',
  properties: {
    ...baseProperties,
    ...namedProperties,
    externalName: p.string().length(1024).nullable(),
    resourceGroup: () => p.manyToOne(ResourceGroup).deleteRule('no action'),
    props: propsProperty(),
    flags: stringList(),
    layerStack: stringList(),
    /** DRBD shared secret of the definition's connections (LINSTOR: base64 of 15 random bytes). */
    drbdSecret: p.string().length(64).nullable(),
  },
  indexes: [
    { name: 'resource_definition_props_gin', expression: 'create index "resource_definition_props_gin" on "resource_definition" using gin ("props")' },
    { name: 'resource_definition_resource_group_idx', properties: ['resourceGroup'] },
  ],
  uniques: [{ name: 'resource_definition_name_key_unique', properties: ['nameKey'] }],
});
export type IResourceDefinition = InferEntity<typeof ResourceDefinition>;
