import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { VOLUME_STATES } from '../../common/vocabulary.js';
import { baseProperties, propsProperty, stringList } from './base.js';
import { Resource } from './resource.js';
import { StoragePool } from './storage-pool.js';
import { VolumeDefinition } from './volume-definition.js';

/** A volume (LINSTOR Volume): one volume definition realized by one resource in one storage pool. */
export const Volume = defineEntity({
  name: 'Volume',
  tableName: 'volume',
  properties: {
    ...baseProperties,
    resource: () => p.manyToOne(Resource).deleteRule('cascade'),
    volumeDefinition: () => p.manyToOne(VolumeDefinition).deleteRule('no action'),
    storagePool: () => p.manyToOne(StoragePool).deleteRule('no action'),
    props: propsProperty(),
    flags: stringList(),
    allocatedSizeKib: p.bigint('bigint').nullable(),
    usableSizeKib: p.bigint('bigint').nullable(),
    devicePath: p.string().length(1024).nullable(),
    /** The backing device under DRBD (an LV, zvol or loop device); null for diskless replicas. */
    backingDevicePath: p.string().length(1024).nullable(),
    /** Lifecycle as realized by the satellite: PENDING until it reports, then CREATED or FAILED (with lastError). */
    state: p.enum([...VOLUME_STATES]).default('PENDING'),
    lastError: p.text().nullable(),
    stateChangedAt: p.datetime().nullable(),
    /**
     * What this volume holds in its pool for placement: its definition's size while its replica is not being deleted,
     * else null. Kept by the database (triggers, see Migration..._pool_usage); never written by the controller.
     */
    reservedKib: p.bigint('bigint').nullable(),
  },
  indexes: [
    { name: 'volume_props_gin', expression: 'create index "volume_props_gin" on "volume" using gin ("props")' },
    { name: 'volume_storage_pool_idx', properties: ['storagePool'] },
    { name: 'volume_volume_definition_idx', properties: ['volumeDefinition'] },
  ],
  uniques: [{ name: 'volume_resource_definition_unique', properties: ['resource', 'volumeDefinition'] }],
});
export type IVolume = InferEntity<typeof Volume>;
