import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { nameKey } from '../../common/names.js';
import type { DrbdStateChange } from './state-store.js';
import { VolumeDefinition } from '../../orm/entities/volume-definition.js';
import type { EventBus } from '../events/bus.js';
import { withTransaction } from '../transaction.js';

/**
 * Records that volumes have data (LINSTOR's DRBD_INITIALIZED volume definition flag) once any replica reports one
 * UpToDate. From then on no node is told to seed them (`initialSyncSourceVolumes`): a replica that loses its
 * metadata later must sync from its peers, never overwrite them. The nodes' revisions are not moved for this (that
 * would send every replica of every new resource a second desired state): the withdrawal travels with each node's
 * next change, and meanwhile the satellite itself never seeds a volume a peer reports UpToDate.
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
  await withTransaction(ctx, 'DRBD volumes initialized', async (tx, emit) => {
    const vds = await tx.find(VolumeDefinition, { resourceDefinition: { nameKey: { $in: [...fresh.keys()] } } }, { populate: ['resourceDefinition'] });
    for (const vd of vds) {
      const entry = fresh.get(vd.resourceDefinition.nameKey);
      if (!entry?.volumes.has(vd.volumeNumber)) continue;
      known.add(`${vd.resourceDefinition.nameKey}/${vd.volumeNumber}`);
      if (vd.flags.includes('DRBD_INITIALIZED')) continue;
      vd.flags = [...vd.flags, 'DRBD_INITIALIZED'];
      emit('VOLUME_DEFINITION', 'MODIFIED', [vd.resourceDefinition.name, String(vd.volumeNumber)], vd);
    }
    await tx.flush();
  });
}
