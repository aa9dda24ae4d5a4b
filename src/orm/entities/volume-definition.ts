import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { baseProperties, propsProperty, stringList } from './base.js';
import { ResourceDefinition } from './resource-definition.js';

/** A volume definition (LINSTOR VolumeDefinition): number and size (KiB) of one volume of a definition. */
export const VolumeDefinition = defineEntity({
  name: 'VolumeDefinition',
  tableName: 'volume_definition',
  properties: {
    ...baseProperties,
    resourceDefinition: () => p.manyToOne(ResourceDefinition).deleteRule('cascade'),
    volumeNumber: p.integer(),
    sizeKib: p.bigint('bigint'),
    props: propsProperty(),
    flags: stringList(),
    /** DRBD minor number (/dev/drbd<minor>), unique in the cluster. */
    drbdMinor: p.integer().nullable(),
  },
  indexes: [
    { name: 'volume_definition_props_gin', expression: 'create index "volume_definition_props_gin" on "volume_definition" using gin ("props")' },
  ],
  uniques: [
    { name: 'volume_definition_number_unique', properties: ['resourceDefinition', 'volumeNumber'] },
    { name: 'volume_definition_drbd_minor_unique', properties: ['drbdMinor'] },
  ],
  checks: [
    { name: 'volume_definition_number_range', expression: 'volume_number >= 0 and volume_number <= 65534' },
    { name: 'volume_definition_size_positive', expression: 'size_kib > 0' },
    { name: 'volume_definition_drbd_minor_range', expression: 'drbd_minor is null or (drbd_minor >= 0 and drbd_minor <= 1048575)' },
  ],
});
export type IVolumeDefinition = InferEntity<typeof VolumeDefinition>;
