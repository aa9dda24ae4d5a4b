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
    /** sha256 of the satellite's secret ("sha256:<hex>"); the secret itself is shown once and never stored. */
    satelliteSecretHash: p.string().length(80).nullable(),
    /** Host name the satellite reported (LINSTOR's uname). */
    satelliteHostname: p.string().length(253).nullable(),
    /** Highest desired-state revision the satellite acknowledged as applied. */
    appliedRevision: p.bigint('number').default(0),
    /** When the satellite was last heard from (connect, report, acknowledgement). */
    lastSeenAt: p.datetime().nullable(),
    /** Why the node is not converged, as the satellite or the connection reported it; null when all is well. */
    lastError: p.text().nullable(),
  },
  indexes: [
    { name: 'node_props_gin', expression: 'create index "node_props_gin" on "node" using gin ("props")' },
  ],
  uniques: [{ name: 'node_name_key_unique', properties: ['nameKey'] }],
});
export type INode = InferEntity<typeof Node>;
