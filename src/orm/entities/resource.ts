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
    /** DRBD node id of this replica within its definition (0-31). */
    drbdNodeId: p.integer().nullable(),
    /** DRBD TCP port of this replica, unique on its node. */
    drbdPort: p.integer().nullable(),
  },
  indexes: [
    { name: 'resource_props_gin', expression: 'create index "resource_props_gin" on "resource" using gin ("props")' },
    { name: 'resource_node_idx', properties: ['node'] },
  ],
  uniques: [
    { name: 'resource_definition_node_unique', properties: ['resourceDefinition', 'node'] },
    { name: 'resource_drbd_node_id_unique', properties: ['resourceDefinition', 'drbdNodeId'] },
    { name: 'resource_drbd_port_unique', properties: ['node', 'drbdPort'] },
  ],
  checks: [
    { name: 'resource_drbd_node_id_range', expression: 'drbd_node_id is null or (drbd_node_id >= 0 and drbd_node_id <= 31)' },
    { name: 'resource_drbd_port_range', expression: 'drbd_port is null or (drbd_port >= 1 and drbd_port <= 65535)' },
  ],
});
export type IResource = InferEntity<typeof Resource>;
