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

/**
 * What storage pools hold, kept by the database itself (triggers on volume, resource and volume definition, see the
 * pool_usage migration) as rows of changes: every statement that changes what a pool holds adds one row per pool
 * with the difference (reserved KiB, resources with a volume in the pool), so concurrent writers never wait for each
 * other here. A pool's usage is the sum of its rows; a placement, which runs alone, folds them into one row per pool
 * from time to time (compactPoolUsage). The autoplacer reads these few rows instead of aggregating every volume of
 * the cluster per placement (31 ms per spawn at 20,000 replicas, the part of a spawn that grew with the cluster).
 */
export const StoragePoolUsage = defineEntity({
  name: 'StoragePoolUsage',
  tableName: 'storage_pool_usage',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    pool: () => p.manyToOne(StoragePool).deleteRule('cascade'),
    reservedKib: p.bigint('bigint'),
    resources: p.integer(),
  },
  indexes: [{ name: 'storage_pool_usage_pool_idx', properties: ['pool'] }],
});
export type IStoragePoolUsage = InferEntity<typeof StoragePoolUsage>;
