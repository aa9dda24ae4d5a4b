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
  },
  indexes: [
    { name: 'volume_definition_props_gin', expression: 'create index "volume_definition_props_gin" on "volume_definition" using gin ("props")' },
  ],
  uniques: [{ name: 'volume_definition_number_unique', properties: ['resourceDefinition', 'volumeNumber'] }],
  checks: [
    { name: 'volume_definition_number_range', expression: 'volume_number >= 0 and volume_number <= 65534' },
    { name: 'volume_definition_size_positive', expression: 'size_kib > 0' },
  ],
});
export type IVolumeDefinition = InferEntity<typeof VolumeDefinition>;
