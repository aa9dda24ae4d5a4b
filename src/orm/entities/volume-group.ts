import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { baseProperties, propsProperty, stringList } from './base.js';
import { ResourceGroup } from './resource-group.js';

/** A volume group (LINSTOR VolumeGroup): each spawn creates one volume definition per volume group. */
export const VolumeGroup = defineEntity({
  name: 'VolumeGroup',
  tableName: 'volume_group',
  properties: {
    ...baseProperties,
    resourceGroup: () => p.manyToOne(ResourceGroup).deleteRule('cascade'),
    volumeNumber: p.integer(),
    props: propsProperty(),
    flags: stringList(),
  },
  indexes: [
    { name: 'volume_group_props_gin', expression: 'create index "volume_group_props_gin" on "volume_group" using gin ("props")' },
  ],
  uniques: [{ name: 'volume_group_number_unique', properties: ['resourceGroup', 'volumeNumber'] }],
  checks: [{ name: 'volume_group_number_range', expression: 'volume_number >= 0 and volume_number <= 65534' }],
});
export type IVolumeGroup = InferEntity<typeof VolumeGroup>;
