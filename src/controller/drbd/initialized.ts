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
 * metadata later must sync from its peers, never overwrite them. Only the seeding node's desired state changes: its
 * id goes to `withdrawSeeding` after the commit, and the caller moves its revision (coalesced, see the hub); the
 * satellite itself also never seeds a volume a peer reports UpToDate, nor one whose metadata it did not just create.
 *
 * `known` remembers what was recorded already, so a resync's many reports cost no database work.
 */
export async function recordInitializedVolumes(
  em: EntityManager,
  events: EventBus,
  log: Logger,
  changes: readonly DrbdStateChange[],
  known: Set<string>,
  /** The node whose satellite reported `changes`. */
  node: string,
  /** Called after the commit with the seeding node of each definition whose volumes became initialized. */
  withdrawSeeding: (seeds: { node: number; definition: number }[]) => void,
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
  // Remembered only once committed: a failed transaction must be tried again with the next report.
  const done: string[] = [];
  const seeds: { node: number; definition: number }[] = [];
  await withTransaction(ctx, 'DRBD volumes initialized', async (tx, emit) => {
    const seeded = new Set<number>();
    done.length = 0;
    seeds.length = 0;
    const vds = await tx.find(VolumeDefinition, { resourceDefinition: { nameKey: { $in: [...fresh.keys()] } } }, { populate: ['resourceDefinition'] });
    // Only a node that holds a diskful replica of the definition speaks for its data (not a same-named DRBD resource
    // blockplane does not manage, nor a replica being torn down).
    const holders: { definition: number }[] = vds.length
      ? await tx.getConnection().execute(
          `select distinct r.resource_definition_id as definition from resource r join node n on n.id = r.node_id
            where n.name_key = ? and r.resource_definition_id in (${[...new Set(vds.map((v) => v.resourceDefinition.id))].map(() => '?').join(', ')})
              and not ('DELETE' = any(r.flags)) and not ('DRBD_DISKLESS' = any(r.flags)) and not ('DISKLESS' = any(r.flags))`,
          [nameKey(node), ...new Set(vds.map((v) => v.resourceDefinition.id))],
          'all',
          tx.getTransactionContext(),
        )
      : [];
    const held = new Set(holders.map((h) => Number(h.definition)));
    for (const vd of vds) {
      if (!held.has(vd.resourceDefinition.id)) continue;
      const entry = fresh.get(vd.resourceDefinition.nameKey);
      if (!entry?.volumes.has(vd.volumeNumber)) continue;
      done.push(`${vd.resourceDefinition.nameKey}/${vd.volumeNumber}`);
      if (vd.flags.includes('DRBD_INITIALIZED')) continue;
      vd.flags = [...vd.flags, 'DRBD_INITIALIZED'];
      emit('VOLUME_DEFINITION', 'MODIFIED', [vd.resourceDefinition.name, String(vd.volumeNumber)], vd);
      seeded.add(vd.resourceDefinition.id);
    }
    await tx.flush();
    // Only the seeding node's instruction changes (one node per definition).
    if (seeded.size > 0) {
      const rows: { node_id: number; resource_definition_id: number }[] = await tx.getConnection().execute(
        `select distinct on (resource_definition_id) node_id, resource_definition_id from resource
          where resource_definition_id in (${[...seeded].map(() => '?').join(', ')})
            and not ('DELETE' = any(flags)) and not ('DRBD_DISKLESS' = any(flags)) and not ('DISKLESS' = any(flags))
          order by resource_definition_id, drbd_node_id`,
        [...seeded],
        'all',
        tx.getTransactionContext(),
      );
      for (const r of rows) seeds.push({ node: Number(r.node_id), definition: Number(r.resource_definition_id) });
    }
  });
  for (const key of done) known.add(key);
  if (seeds.length > 0) withdrawSeeding(seeds);
}
