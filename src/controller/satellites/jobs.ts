import type { EntityManager } from '@mikro-orm/postgresql';
import { nameKey } from '../../common/names.js';
import type { ApplyReport } from '../../common/protocol/satellite.js';
import type { Emit } from '../transaction.js';

/**
 * Moves placement jobs forward from what a node's satellite reported, inside the report's transaction:
 * - DONE when every node of the job has acknowledged (appliedRevision >= the revision the job drew for it);
 * - FAILED (with the satellite's error) when a volume of the job's definition failed on this node; the satellite
 *   keeps retrying, and a later acknowledgement still makes the job DONE.
 * The node row of `nodeId` carries its new appliedRevision already (same transaction); `acknowledged` is the range of
 * revisions this report acknowledged (from: the node's applied revision before it, exclusive; to: after it).
 *
 * Only the jobs this report can change are looked at: those whose revision on this node it acknowledged, those
 * already FAILED (a failure may have cleared), and, when the report has failures, all of the node's jobs.
 * During a burst a node has hundreds of jobs open, and looking at every one of them on every report was the
 * database's largest cost per report (S2 benchmark on 20,000 replicas).
 */
export async function advanceJobs(em: EntityManager, nodeId: number, report: ApplyReport, emit: Emit, acknowledged: { from: number; to: number }): Promise<void> {
  const run = <T>(sql: string, params: unknown[]) => em.getConnection().execute<T[]>(sql, params, 'all', em.getTransactionContext());
  const failed = report.volumes.some((v) => v.state === 'FAILED');
  const candidates = `select job_id from placement_job_node where node_id = ? and revision > ? and revision <= ?
     union select jn.job_id from placement_job_node jn join placement_job f on f.id = jn.job_id where jn.node_id = ? and f.state = 'FAILED'
     ${failed ? 'union select job_id from placement_job_node where node_id = ?' : ''}`;
  const params = [nodeId, acknowledged.from, acknowledged.to, nodeId, ...(failed ? [nodeId] : [])];
  // Locked in id order: two nodes reporting at once then decide one after the other, and the second sees the
  // first's acknowledgement instead of both concluding "still waiting".
  const open = await run<{ id: number }>(
    `select j.id from placement_job j where j.state in ('PLACED', 'REALIZING', 'FAILED') and j.id in (${candidates}) order by j.id for update of j`,
    params,
  );
  if (open.length === 0) return;
  // Plain rows, with the nodes each job still waits for worked out by the database: during a burst a node has many
  // open jobs, and hydrating every one with all its nodes as entities on every report was the controller's largest
  // hydration cost in the S2 benchmark.
  const jobs = await run<JobRow>(
    `select j.id, j.uuid, j.kind, j.state, j.resource_definition as "resourceDefinition", j.reason,
            coalesce(array_agg(n.name order by n.name_key) filter (where n.applied_revision < jn.revision), '{}') as waiting
       from placement_job j join placement_job_node jn on jn.job_id = j.id join node n on n.id = jn.node_id
      where j.id in (${open.map(() => '?').join(', ')})
      group by j.id order by j.id`,
    open.map((o) => o.id),
  );
  const now = new Date();
  const updates: { id: number; state: string; reason: string | null; finished: boolean }[] = [];
  for (const job of jobs) {
    const failure = report.volumes.find((v) => v.state === 'FAILED' && nameKey(v.resource) === nameKey(job.resourceDefinition));
    let next: { state: string; reason: string | null };
    if (job.waiting.length === 0) next = { state: 'DONE', reason: null };
    else if (failure) next = { state: 'FAILED', reason: `volume ${failure.resource}/${failure.volumeNumber}: ${failure.error ?? 'failed'} (the satellite retries)` };
    else next = { state: 'REALIZING', reason: `waiting for ${job.waiting.join(', ')}` };
    if (next.state === job.state && next.reason === job.reason) continue;
    updates.push({ id: job.id, ...next, finished: next.state === 'DONE' });
    if (next.state !== job.state) emit('PLACEMENT_JOB', 'MODIFIED', [job.kind, job.resourceDefinition], job.uuid);
  }
  if (updates.length === 0) return;
  await run(
    `update placement_job j set state = u.state, reason = u.reason, updated_at = ?,
            finished_at = case when u.finished then ?::timestamptz else j.finished_at end
       from jsonb_to_recordset(?::jsonb) as u(id int, state text, reason text, finished boolean)
      where j.id = u.id`,
    [now, now, JSON.stringify(updates)],
  );
}

interface JobRow {
  id: number;
  uuid: string;
  kind: string;
  state: string;
  resourceDefinition: string;
  reason: string | null;
  /** Names of the job's nodes that have not acknowledged its revision yet. */
  waiting: string[];
}

/** Marks PLACED jobs of `nodeId` up to `revision` as REALIZING: their desired state went out to the satellite. */
export async function markJobsSent(em: EntityManager, nodeId: number, revision: number): Promise<{ uuid: string; kind: string; resourceDefinition: string }[]> {
  return em.getConnection().execute(
    `update placement_job j set state = 'REALIZING', updated_at = now()
      where j.state = 'PLACED' and exists (select 1 from placement_job_node jn where jn.job_id = j.id and jn.node_id = ? and jn.revision <= ?)
      returning uuid, kind, resource_definition as "resourceDefinition"`,
    [nodeId, revision],
  );
}

/**
 * PENDING volumes of `nodeId` become CREATING: the desired state that contains them went out to the satellite.
 * (Volumes stay PENDING while their node is offline, so the difference tells an operator where work is stuck.)
 * `definitions`: the resource definitions whose volumes the message sent carried (a delta's upserted volumes), or
 * null after a full state. A volume is PENDING only from its creation until the first message that carries it, so
 * a delta's volumes are the only candidates, and the node's other hundreds of volumes are not looked at.
 */
export async function markVolumesSent(em: EntityManager, nodeId: number, definitions: readonly string[] | null): Promise<{ uuid: string; resource: string; node: string; volumeNumber: number }[]> {
  const keys = definitions === null ? null : [...new Set(definitions.map(nameKey))];
  if (keys?.length === 0) return [];
  return em.getConnection().execute(
    `update volume v set state = 'CREATING', state_changed_at = now(), updated_at = now()
      from resource r, resource_definition d, volume_definition vd, node n
      where v.resource_id = r.id and r.resource_definition_id = d.id and v.volume_definition_id = vd.id and r.node_id = n.id
        and r.node_id = ? and v.state = 'PENDING'${keys ? ` and d.name_key in (${keys.map(() => '?').join(', ')})` : ''}
      returning v.uuid, d.name as resource, n.name as node, vd.volume_number as "volumeNumber"`,
    [nodeId, ...(keys ?? [])],
  );
}
