import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { baseProperties, namedProperties, propsProperty, stringList } from './base.js';

/**
 * A resource group (LINSTOR ResourceGroup): the template resource definitions are spawned from, with its
 * autoplacer select filter stored as columns (LINSTOR's RESOURCE_GROUPS table does the same).
 */
export const ResourceGroup = defineEntity({
  name: 'ResourceGroup',
  tableName: 'resource_group',
  properties: {
    ...baseProperties,
    ...namedProperties,
    description: p.text().nullable(),
    props: propsProperty(),
    placeCount: p.integer().nullable(),
    storagePoolList: stringList(),
    storagePoolDisklessList: stringList(),
    doNotPlaceWithRsc: stringList(),
    doNotPlaceWithRscRegex: p.text().nullable(),
    replicasOnSame: stringList(),
    replicasOnDifferent: stringList(),
    xReplicasOnDifferent: p.json<Record<string, number>>().defaultRaw(`'{}'`),
    disklessOnRemaining: p.boolean().nullable(),
    providerList: stringList(),
    nodeNameList: stringList(),
    layerStack: stringList(),
    peerSlots: p.integer().nullable(),
  },
  indexes: [
    { name: 'resource_group_props_gin', expression: 'create index "resource_group_props_gin" on "resource_group" using gin ("props")' },
  ],
  uniques: [{ name: 'resource_group_name_key_unique', properties: ['nameKey'] }],
  checks: [
    { name: 'resource_group_place_count_range', expression: 'place_count is null or (place_count >= 1 and place_count <= 32)' },
    { name: 'resource_group_peer_slots_range', expression: 'peer_slots is null or (peer_slots >= 1 and peer_slots <= 31)' },
  ],
});
export type IResourceGroup = InferEntity<typeof ResourceGroup>;
