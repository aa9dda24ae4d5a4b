import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { nameKey } from '../../common/names.js';
import type { DrbdStateChange } from './state-store.js';
import { Resource } from '../../orm/entities/resource.js';
import { VolumeDefinition } from '../../orm/entities/volume-definition.js';
import type { EventBus } from '../events/bus.js';
import { withTransaction } from '../transaction.js';

/**
 * Records that volumes have data (LINSTOR's DRBD_INITIALIZED volume definition flag) once any replica reports one
 * UpToDate. From then on no node is told to seed them (`initialSyncSourceVolumes`): a replica that loses its
 * metadata later must sync from its peers, never overwrite them. The nodes of the definition get the new desired
 * state (their revision moves), so a satellite never keeps acting on the old instruction.
 *
 * `known` remembers what was recorded already, so a resync's many reports cost no database work.
 */
export async function recordInitializedVolumes(
  em: EntityManager,
  events: EventBus,
  log: Logger,
  changes: readonly DrbdStateChange[],
  known: Set<string>,
): Promise<void> {
  const fresh = new Map<string, { resource: string; volumes: Set<number> }>();
  for (const change of changes) {
    for (const v of change.state?.state.volumes ?? []) {
      const key = `${nameKey(change.resource)}/${v.volumeNumber}`;
      if (v.diskState !== 'UpToDate' || known.has(key)) continue;
      const entry = fresh.get(nameKey(change.resource)) ?? { resource: change.resource, volumes: new Set<number>() };
      entry.volumes.add(v.volumeNumber);
      fresh.set(nameKey(change.resource), entry);
    }
  }
  if (fresh.size === 0) return;
  const ctx = { em, events, log, principal: { name: 'drbd-state', role: 'admin' as const } };
  await withTransaction(ctx, 'DRBD volumes initialized', async (tx, emit, touch) => {
    const vds = await tx.find(VolumeDefinition, { resourceDefinition: { nameKey: { $in: [...fresh.keys()] } } }, { populate: ['resourceDefinition'] });
    const touchedDefinitions = new Set<number>();
    for (const vd of vds) {
      const entry = fresh.get(vd.resourceDefinition.nameKey);
      if (!entry?.volumes.has(vd.volumeNumber)) continue;
      known.add(`${vd.resourceDefinition.nameKey}/${vd.volumeNumber}`);
      if (vd.flags.includes('DRBD_INITIALIZED')) continue;
      vd.flags = [...vd.flags, 'DRBD_INITIALIZED'];
      touchedDefinitions.add(vd.resourceDefinition.id);
      emit('VOLUME_DEFINITION', 'MODIFIED', [vd.resourceDefinition.name, String(vd.volumeNumber)], vd);
    }
    if (touchedDefinitions.size === 0) return;
    const replicas = await tx.find(Resource, { resourceDefinition: { $in: [...touchedDefinitions] } }, { fields: ['node', 'flags'] });
    for (const r of replicas) if (!r.flags.includes('DELETE')) touch(r.node, 'volume data initialized', { afterCommit: true });
    await tx.flush();
  });
}
