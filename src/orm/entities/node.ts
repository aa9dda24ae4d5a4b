import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { CONNECTION_STATUSES, NODE_TYPES } from '../../common/vocabulary.js';
import { baseProperties, namedProperties, propsProperty } from './base.js';

/** A cluster node (LINSTOR Node). `Aux/` properties are its labels for placement. */
export const Node = defineEntity({
  name: 'Node',
  tableName: 'node',
  properties: {
    ...baseProperties,
    ...namedProperties,
    type: p.enum([...NODE_TYPES]),
    connectionStatus: p.enum([...CONNECTION_STATUSES]).default('OFFLINE'),
    props: propsProperty(),
  },
  indexes: [
    { name: 'node_props_gin', expression: 'create index "node_props_gin" on "node" using gin ("props")' },
  ],
  uniques: [{ name: 'node_name_key_unique', properties: ['nameKey'] }],
});
export type INode = InferEntity<typeof Node>;
