import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { baseProperties, propsProperty, stringList } from './base.js';
import { Node } from './node.js';
import { ResourceDefinition } from './resource-definition.js';

/**
 * A resource (LINSTOR Resource): one replica of a definition on one node. The foreign keys refuse to delete a
 * node or definition that still has resources, so no resource can point at nothing.
 */
export const Resource = defineEntity({
  name: 'Resource',
  tableName: 'resource',
  properties: {
    ...baseProperties,
    resourceDefinition: () => p.manyToOne(ResourceDefinition).deleteRule('no action'),
    node: () => p.manyToOne(Node).deleteRule('no action'),
    props: propsProperty(),
    flags: stringList(),
  },
  indexes: [
    { name: 'resource_props_gin', expression: 'create index "resource_props_gin" on "resource" using gin ("props")' },
    { name: 'resource_node_idx', properties: ['node'] },
  ],
  uniques: [{ name: 'resource_definition_node_unique', properties: ['resourceDefinition', 'node'] }],
});
export type IResource = InferEntity<typeof Resource>;
