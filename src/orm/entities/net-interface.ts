import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { ENCRYPTION_TYPES } from '../../common/vocabulary.js';
import { baseProperties, namedProperties } from './base.js';
import { Node } from './node.js';

/** A network interface of a node: the address the controller reaches the satellite on, and DRBD's address. */
export const NetInterface = defineEntity({
  name: 'NetInterface',
  tableName: 'net_interface',
  properties: {
    ...baseProperties,
    ...namedProperties,
    node: () => p.manyToOne(Node).deleteRule('cascade'),
    address: p.string().length(64),
    satellitePort: p.integer().nullable(),
    encryptionType: p.enum([...ENCRYPTION_TYPES]).default('PLAIN'),
    isActive: p.boolean().default(false),
  },
  indexes: [
    // At most one active interface per node, whatever writes the table.
    { name: 'net_interface_one_active', expression: 'create unique index "net_interface_one_active" on "net_interface" ("node_id") where "is_active"' },
  ],
  uniques: [{ name: 'net_interface_node_name_key_unique', properties: ['node', 'nameKey'] }],
  checks: [
    { name: 'net_interface_port_range', expression: 'satellite_port is null or (satellite_port >= 1 and satellite_port <= 65535)' },
  ],
});
export type INetInterface = InferEntity<typeof NetInterface>;
