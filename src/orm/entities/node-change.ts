import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Node } from './node.js';

/**
 * The desired-state change log: one row per node whose desired state a transaction changed. Insert-only, keyed by
 * a global sequence, so a node's revision is the highest id for it and no counter row is updated by every
 * transaction (measured: counters deadlock and cut throughput under concurrent spawns; see DESIGN.md).
 */
export const NodeChange = defineEntity({
  name: 'NodeChange',
  tableName: 'node_change',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    node: () => p.manyToOne(Node).deleteRule('cascade'),
    reason: p.string().length(200),
    /**
     * The resource definitions whose DRBD resources and backing volumes on this node are all this change touched, so
     * the hub rebuilds only those (see buildDesiredStateUpdate); null when anything else may have changed too (pools,
     * addresses, inherited options, ...), which means a full rebuild.
     */
    resourceDefinitions: p.array<number>().columnType('integer[]').nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  indexes: [{ name: 'node_change_node_id_idx', properties: ['node', 'id'] }],
});
export type INodeChange = InferEntity<typeof NodeChange>;
