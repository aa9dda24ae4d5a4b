import type { EntityManager } from '@mikro-orm/postgresql';
import { nameKey } from '../../common/names.js';
import type { ApplyReport } from '../../common/protocol/satellite.js';
import { PlacementJobNode } from '../../orm/entities/placement-job.js';
import type { Emit } from '../transaction.js';

/**
 * Moves placement jobs forward from what a node's satellite reported, inside the report's transaction:
 * - DONE when every node of the job has acknowledged (appliedRevision >= the revision the job drew for it);
 * - FAILED (with the satellite's error) when a volume of the job's definition failed on this node; the satellite
 *   keeps retrying, and a later acknowledgement still makes the job DONE.
 * The node row of `nodeId` carries its new appliedRevision already (same transaction).
 */
export async function advanceJobs(em: EntityManager, nodeId: number, report: ApplyReport, emit: Emit): Promise<void> {
  // Lock the open jobs of this node first (in id order): two nodes reporting at once then decide one after the
  // other, and the second sees the first's acknowledgement instead of both concluding "still waiting".
  const open: { id: number }[] = await em.getConnection().execute(
    `select j.id from placement_job j join placement_job_node jn on jn.job_id = j.id
      where jn.node_id = ? and j.state in ('PLACED', 'REALIZING', 'FAILED') order by j.id for update of j`,
    [nodeId],
    'all',
    em.getTransactionContext(),
  );
  if (open.length === 0) return;
  const ids = open.map((o) => o.id);
  const mine = await em.find(PlacementJobNode, { node: nodeId, job: { id: { $in: ids }, state: { $in: ['PLACED', 'REALIZING', 'FAILED'] } } }, { populate: ['job'], refresh: true });
  if (mine.length === 0) return;
  const all = await em.find(PlacementJobNode, { job: { $in: mine.map((m) => m.job) } }, { populate: ['node'], refresh: true });
  for (const { job } of mine) {
    const waiting = all.filter((x) => x.job === job && x.node.appliedRevision < x.revision);
    const failure = report.volumes.find((v) => v.state === 'FAILED' && nameKey(v.resource) === nameKey(job.resourceDefinition));
    const before = job.state;
    if (waiting.length === 0) {
      job.state = 'DONE';
      job.reason = null;
      job.finishedAt = new Date();
    } else if (failure) {
      job.state = 'FAILED';
      job.reason = `volume ${failure.resource}/${failure.volumeNumber}: ${failure.error ?? 'failed'} (the satellite retries)`;
    } else {
      job.state = 'REALIZING';
      job.reason = `waiting for ${waiting.map((x) => x.node.name).join(', ')}`;
    }
    if (job.state !== before) emit('PLACEMENT_JOB', 'MODIFIED', [job.kind, job.resourceDefinition], job);
  }
}

/** Marks PLACED jobs of `nodeId` up to `revision` as REALIZING: their desired state went out to the satellite. */
export async function markJobsSent(em: EntityManager, nodeId: number, revision: number): Promise<{ uuid: string; kind: string; resourceDefinition: string }[]> {
  return em.getConnection().execute(
    `update placement_job set state = 'REALIZING', updated_at = now()
      where state = 'PLACED' and id in (select job_id from placement_job_node where node_id = ? and revision <= ?)
      returning uuid, kind, resource_definition as "resourceDefinition"`,
    [nodeId, revision],
  );
}

/**
 * PENDING volumes of `nodeId` become CREATING: the desired state that contains them went out to the satellite.
 * (Volumes stay PENDING while their node is offline, so the difference tells an operator where work is stuck.)
 */
export async function markVolumesSent(em: EntityManager, nodeId: number): Promise<{ uuid: string; resource: string; node: string; volumeNumber: number }[]> {
  return em.getConnection().execute(
    `update volume v set state = 'CREATING', state_changed_at = now(), updated_at = now()
      from resource r, resource_definition d, volume_definition vd, node n
      where v.resource_id = r.id and r.resource_definition_id = d.id and v.volume_definition_id = vd.id and r.node_id = n.id
        and r.node_id = ? and v.state = 'PENDING'
      returning v.uuid, d.name as resource, n.name as node, vd.volume_number as "volumeNumber"`,
    [nodeId],
  );
}
