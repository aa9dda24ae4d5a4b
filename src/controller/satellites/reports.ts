import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { ApplyReport } from '../../common/protocol/satellite.js';
import { nameKey } from '../../common/names.js';
import { Node } from '../../orm/entities/node.js';
import { Resource } from '../../orm/entities/resource.js';
import { StoragePool } from '../../orm/entities/storage-pool.js';
import type { EventBus } from '../events/bus.js';
import { withTransaction } from '../transaction.js';
import { nodeRevision } from './desired-state.js';
import { advanceJobs } from './jobs.js';

/** A volume of the reporting node as ingestReport reads it (bigints as strings, as the driver returns them). */
interface VolumeRow {
  id: number;
  uuid: string;
  resourceId: number;
  definition: string;
  definitionKey: string;
  volumeNumber: number;
  state: string;
  lastError: string | null;
  devicePath: string | null;
  backingDevicePath: string | null;
  usableSizeKib: string | null;
  allocatedSizeKib: string | null;
  resourceDeleting: boolean;
}

/** The VolumeRows that satisfy `where` (over volume v, resource r, resource_definition d, volume_definition vd). */
const volumeRows = (where: string) =>
  `select v.id, v.uuid, v.resource_id as "resourceId", d.name as definition, d.name_key as "definitionKey", vd.volume_number as "volumeNumber",
          v.state, v.last_error as "lastError", v.device_path as "devicePath", v.backing_device_path as "backingDevicePath",
          v.usable_size_kib as "usableSizeKib", v.allocated_size_kib as "allocatedSizeKib", 'DELETE' = any(r.flags) as "resourceDeleting"
     from volume v join resource r on r.id = v.resource_id join resource_definition d on d.id = r.resource_definition_id
     join volume_definition vd on vd.id = v.volume_definition_id
    where ${where}`;

/**
 * Records what a satellite reported after a reconcile pass, in one transaction:
 * - the node: seen now; ONLINE after its first report on a connection (FULL_SYNC_FAILED when it could not process
 *   its state at all); `lastError` summarizes what is not converged; a converged report acknowledges its revision;
 * - pools: capacity and error; volumes: CREATED (with device and sizes) or FAILED (with the tool's error); a
 *   partial report (ApplyReport.partial) changes only the volumes it lists;
 * - resources marked DELETE on this node are removed once the satellite has converged on a revision that includes
 *   their deletion (the backing volumes are gone), never before.
 */
export async function ingestReport(
  em: EntityManager,
  events: EventBus,
  nodeId: number,
  report: ApplyReport,
  log: Logger,
  /** Whether the reporting connection is still the node's live one (checked under the node's row lock). */
  isLive: () => boolean = () => true,
): Promise<void> {
  const ctx = { em, events, log, principal: { name: `satellite:${nodeId}`, role: 'admin' as const } };
  const emptied = new Set<number>();
  await withTransaction(ctx, 'Satellite report', async (tx, emit) => {
    // The node row lock orders this report with status writes and with transactions that change the node's
    // desired state (they lock the row before drawing a revision), so what is read below is one consistent view.
    // FOR NO KEY UPDATE, the lock its own update of the row takes anyway: it does not hold up revision draws (see
    // lockRevisionDraws), only other reports, status writes and deletion of the node.
    await tx.getConnection().execute('select id from node where id = ? for no key update', [nodeId], 'all', tx.getTransactionContext());
    const node = await tx.findOneOrFail(Node, nodeId, { refresh: true });
    if (!isLive()) return;
    const now = new Date();
    node.lastSeenAt = now;
    const statusBefore = node.connectionStatus;
    const appliedBefore = node.appliedRevision;
    if (report.fatal) {
      node.connectionStatus = 'FULL_SYNC_FAILED';
      node.lastError = `The satellite could not apply its desired state: ${report.fatal}`;
    } else {
      if (node.connectionStatus === 'CONNECTED' || node.connectionStatus === 'FULL_SYNC_FAILED') node.connectionStatus = 'ONLINE';
      const failures = [
        ...report.pools.filter((p) => p.error).map((p) => `pool ${p.name}: ${p.error}`),
        ...report.volumes.filter((v) => v.state === 'FAILED').map((v) => `volume ${v.resource}/${v.volumeNumber}: ${v.error}`),
      ];
      node.lastError = failures.length > 0 ? `${failures.length} object(s) not converged; first: ${failures[0]}` : null;
      if (report.converged && report.revision > node.appliedRevision) node.appliedRevision = report.revision;
    }
    if (node.connectionStatus !== statusBefore) emit('NODE', 'MODIFIED', [node.name], node);

    const pools = await tx.find(StoragePool, { node });
    for (const r of report.pools) {
      const pool = pools.find((p) => p.nameKey === nameKey(r.name));
      if (!pool) continue; // deleted meanwhile
      const total = r.totalKib !== undefined ? BigInt(r.totalKib) : pool.totalCapacityKib;
      const free = r.freeKib !== undefined ? BigInt(r.freeKib) : pool.freeCapacityKib;
      const changed = pool.lastError !== r.error || pool.totalCapacityKib !== total || pool.freeCapacityKib !== free;
      pool.lastError = r.error;
      pool.totalCapacityKib = total ?? null;
      pool.freeCapacityKib = free ?? null;
      pool.capacityReportedAt = now;
      if (changed) emit('STORAGE_POOL', 'MODIFIED', [node.name, pool.name], pool);
    }

    // Plain rows, and one statement for the volumes that changed: hydrating a node's volumes as entities on every
    // report was a large share of the controller's work during bursts (benchmarks). A partial report (the usual
    // case) reads only the volumes it names: at 600 volumes per node, reading them all was the database's largest
    // cost per report.
    const run = <T>(sql: string, params: unknown[]) => tx.getConnection().execute<T[]>(sql, params, 'all', tx.getTransactionContext());
    const named = report.partial ? [...new Set(report.volumes.map((v) => nameKey(v.resource)))] : [];
    const volumes =
      report.partial && named.length === 0
        ? []
        : await run<VolumeRow>(
            volumeRows(`r.node_id = ?${report.partial ? ` and d.name_key in (${named.map(() => '?').join(', ')})` : ''}`),
            report.partial ? [nodeId, ...named] : [nodeId],
          );
    const byKey = new Map(volumes.map((v) => [`${v.definitionKey}/${v.volumeNumber}`, v]));
    const changed: VolumeRow[] = [];
    for (const r of report.volumes) {
      const volume = byKey.get(`${nameKey(r.resource)}/${r.volumeNumber}`);
      if (!volume || r.state === 'DELETED') continue;
      const next = { ...volume };
      if (r.state === 'CREATED') {
        next.state = 'CREATED';
        next.lastError = null;
        next.devicePath = r.devicePath ?? null;
        next.backingDevicePath = r.backingDevicePath ?? null;
        if (r.usableKib !== undefined) next.usableSizeKib = String(r.usableKib);
        if (r.allocatedKib !== undefined) next.allocatedSizeKib = String(r.allocatedKib);
      } else {
        next.state = 'FAILED';
        next.lastError = r.error ?? null;
      }
      if (volume.resourceDeleting) next.state = 'DELETING';
      const fields = ['state', 'lastError', 'devicePath', 'backingDevicePath', 'usableSizeKib', 'allocatedSizeKib'] as const;
      if (fields.every((f) => String(next[f]) === String(volume[f]))) continue;
      changed.push(next);
      emit('VOLUME', 'MODIFIED', [volume.definition, node.name, String(volume.volumeNumber)], volume.uuid);
    }
    // One statement for all of them (a pass that created 50 volumes reports 50 changes).
    if (changed.length > 0) {
      const rows = changed.map((v) => ({ id: v.id, state: v.state, last_error: v.lastError, device_path: v.devicePath, backing_device_path: v.backingDevicePath, usable_size_kib: v.usableSizeKib, allocated_size_kib: v.allocatedSizeKib }));
      await run(
        `update volume v set state = u.state, last_error = u.last_error, device_path = u.device_path, backing_device_path = u.backing_device_path,
                usable_size_kib = u.usable_size_kib, allocated_size_kib = u.allocated_size_kib, state_changed_at = ?, updated_at = ?
           from jsonb_to_recordset(?::jsonb) as u(id int, state text, last_error text, device_path text, backing_device_path text, usable_size_kib bigint, allocated_size_kib bigint)
          where v.id = u.id`,
        [now, now, JSON.stringify(rows)],
      );
    }

    // Written before the jobs are looked at: advanceJobs re-reads nodes (other reports may have committed meanwhile).
    await tx.flush();
    await advanceJobs(tx, nodeId, report, emit, { from: appliedBefore, to: node.appliedRevision });

    const marked = await tx.find(Resource, { node, flags: { $contains: ['DELETE'] } }, { populate: ['resourceDefinition'] });
    if (marked.length > 0 && report.converged && !report.fatal && report.revision >= (await nodeRevision(tx, nodeId))) {
      const ids = new Set(marked.map((r) => r.id));
      const markedVolumes = report.partial
        ? await run<VolumeRow>(volumeRows(`v.resource_id in (${[...ids].map(() => '?').join(', ')})`), [...ids])
        : volumes.filter((v) => ids.has(v.resourceId));
      for (const resource of marked) {
        for (const v of markedVolumes.filter((x) => x.resourceId === resource.id)) {
          emit('VOLUME', 'DELETED', [resource.resourceDefinition.name, node.name, String(v.volumeNumber)], v.uuid);
        }
        tx.remove(resource);
        emit('RESOURCE', 'DELETED', [resource.resourceDefinition.name, node.name], resource);
      }
      for (const r of marked) if (r.resourceDefinition.flags.includes('DELETE')) emptied.add(r.resourceDefinition.id);
    }
    await tx.flush();
  });
  if (emptied.size > 0) await removeEmptiedDefinitions(em, events, [...emptied]);
}

/**
 * A definition being deleted goes with its last replica. Run after the report's commit, as one statement: two nodes
 * removing the last two replicas at once each see the other's removal only once it committed, and the later of the
 * two statements finds none left. (Inside the report's transaction it would also take the definition row after the
 * node row, the opposite order of every definition writer.)
 */
async function removeEmptiedDefinitions(em: EntityManager, events: EventBus, ids: number[]): Promise<void> {
  const gone: { uuid: string; name: string }[] = await em.fork().getConnection().execute(
    `delete from resource_definition d where d.id in (${ids.map(() => '?').join(', ')}) and 'DELETE' = any(d.flags)
      and not exists (select 1 from resource r where r.resource_definition_id = d.id) returning d.uuid, d.name`,
    ids,
  );
  const at = new Date();
  for (const d of gone) events.publish({ kind: 'RESOURCE_DEFINITION', action: 'DELETED', path: [d.name], uuid: d.uuid, at });
}
