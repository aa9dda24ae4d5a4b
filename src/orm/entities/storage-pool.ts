import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { PROVIDER_KINDS } from '../../common/vocabulary.js';
import { baseProperties, namedProperties, propsProperty } from './base.js';
import { Node } from './node.js';

/**
 * A storage pool on one node (LINSTOR StoragePool). Its driver settings are `StorDriver/*` properties; capacity
 * is reported by the satellite and stays null until the first report.
 */
export const StoragePool = defineEntity({
  name: 'StoragePool',
  tableName: 'storage_pool',
  properties: {
    ...baseProperties,
    ...namedProperties,
    node: () => p.manyToOne(Node).deleteRule('cascade'),
    providerKind: p.enum([...PROVIDER_KINDS]),
    props: propsProperty(),
    totalCapacityKib: p.bigint('bigint').nullable(),
    freeCapacityKib: p.bigint('bigint').nullable(),
    capacityReportedAt: p.datetime().nullable(),
    /** The satellite's last error for this pool (e.g. volume group missing); null when the pool is usable. */
    lastError: p.text().nullable(),
  },
  indexes: [
    { name: 'storage_pool_props_gin', expression: 'create index "storage_pool_props_gin" on "storage_pool" using gin ("props")' },
  ],
  uniques: [{ name: 'storage_pool_node_name_key_unique', properties: ['node', 'nameKey'] }],
  checks: [
    { name: 'storage_pool_capacity_non_negative', expression: '(total_capacity_kib is null or total_capacity_kib >= 0) and (free_capacity_kib is null or free_capacity_kib >= 0)' },
  ],
});
export type IStoragePool = InferEntity<typeof StoragePool>;
