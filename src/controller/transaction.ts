import type { EntityManager } from '@mikro-orm/postgresql';
import { NodeChange } from '../orm/entities/node-change.js';
import { Node, type INode } from '../orm/entities/node.js';
import { PlacementJob, PlacementJobNode, type IPlacementJob } from '../orm/entities/placement-job.js';
import type { JobKind } from '../common/vocabulary.js';
import { translateDbError } from '../orm/errors.js';
import type { ServiceContext } from './context.js';
import type { ModelAction, ModelEvent, ModelKind } from './events/bus.js';

/**
 * Records an event to publish after commit. `subject` is the object (its uuid is read at publish time, after the
 * flush that assigned it) or a uuid.
 */
export type Emit = (kind: ModelKind, action: ModelAction, path: string[], subject?: { uuid: string } | string | null) => void;

/**
 * Runs `fn` in one database transaction named `name` (for logs). Events emitted inside are published only after
 * the commit, so nobody hears of a change that was rolled back. Constraint violations become ApiErrors.
 */
/**
 * Records that the desired state of `node` changes in this transaction: appends a change-log row (the node's new
 * revision) and, after commit, tells the satellite dispatcher. Call before the transaction's last flush.
 *
 * `afterCommit`: the node's revision moves in a short transaction of its own right after this one commits. For
 * nodes that are only affected indirectly (the peers of a replica that was added or removed): their row locks would
 * otherwise be taken after the rows the service locked first, in an order that deadlocks with other transactions.
 * Their desired state is read from the database when sent, so it is right even if the controller stops in between;
 * only the delta would wait for the next full sync.
 */
export type Touch = (node: INode | { id: number }, reason: string, options?: { afterCommit?: boolean; definition?: { id: number } }) => void;

/**
 * `definition` on a touch: the change is confined to that definition's DRBD resource and backing volumes on the node,
 * so the hub rebuilds only those entries of the node's desired state (buildDesiredStateUpdate). A transaction's touches
 * of one node add up; one touch without a definition (pools, addresses, inherited options, anything else) makes the
 * change unconfined, and the node's next desired state is built in full.
 */
interface Touched {
  reason: string;
  /** Definition objects (their ids are read after the flush that assigns them); null: not confined. */
  definitions: Set<{ id: number }> | null;
}

/** A node's revision move recorded by touchNodes: why, and the definitions it is confined to (null: not confined). */
export interface NodeTouch {
  reason: string;
  definitions: readonly number[] | null;
}

function addTouch(into: Map<number, Touched>, nodeId: number, reason: string, definition: { id: number } | undefined): void {
  const entry = into.get(nodeId);
  if (!entry) {
    into.set(nodeId, { reason, definitions: definition ? new Set([definition]) : null });
  } else if (!definition) {
    entry.definitions = null;
  } else {
    entry.definitions?.add(definition);
  }
}

/** The definition ids of a touch, once the definitions are flushed. */
function scopeOf(entry: Touched): number[] | null {
  return entry.definitions ? [...new Set([...entry.definitions].map((d) => d.id))].sort((a, b) => a - b) : null;
}

/**
 * Records a placement job for this transaction's changes: it waits for every node touched in the transaction to
 * acknowledge the revision drawn for it here. Returns the job (its node list is filled at the end); calling it again
 * returns the same job.
 *
 * `nodes`: a job of its own that waits only for these nodes (each must be touched in the transaction), for a
 * transaction that carries several independent requests (a batch of spawns): every call makes a new job.
 */
export type RecordJob = (kind: JobKind, resourceDefinition: string, nodes?: Iterable<{ id: number }>) => IPlacementJob;

/** Attempts of a transaction that PostgreSQL aborted to resolve a deadlock or serialization conflict. */
const MAX_ATTEMPTS = 5;

export async function withTransaction<T>(
  ctx: ServiceContext,
  name: string,
  fn: (em: EntityManager, emit: Emit, touch: Touch, job: RecordJob) => Promise<T>,
): Promise<T> {
  let pending: { kind: ModelKind; action: ModelAction; path: string[]; subject: { uuid: string } | string | null }[] = [];
  const emit: Emit = (kind, action, path, subject = null) => pending.push({ kind, action, path, subject });
  let touched = new Map<number, Touched>();
  let later = new Map<number, Touched>();
  let result: T;
  for (let attempt = 1; ; attempt++) {
    pending = [];
    touched = new Map();
    later = new Map();
    try {
      // clear: the transaction works on its own copies, so a rolled-back change never lingers in the caller's
      // identity map.
      result = await ctx.em.transactional(
        async (em) => {
          const touch: Touch = (node, reason, options) => addTouch(options?.afterCommit ? later : touched, node.id, reason, options?.definition);
          // null: the transaction-wide job (waits for every touched node).
          const jobs: { job: IPlacementJob; nodes: Set<number> | null }[] = [];
          const recordJob: RecordJob = (kind, resourceDefinition, nodes) => {
            const shared = nodes ? undefined : jobs.find((j) => j.nodes === null);
            if (shared) return shared.job;
            const job = em.create(PlacementJob, { kind, state: 'PLACED', resourceDefinition, reason: null, finishedAt: null });
            jobs.push({ job, nodes: nodes ? new Set([...nodes].map((n) => n.id)) : null });
            return job;
          };
          const value = await fn(em as EntityManager, emit, touch, recordJob);
          await em.flush();
          // A node touched directly and after commit gets one entry covering both touches.
          for (const [id, entry] of later) {
            const direct = touched.get(id);
            if (!direct) continue;
            if (!entry.definitions) direct.definitions = null;
            else for (const d of entry.definitions) direct.definitions?.add(d);
            later.delete(id);
          }
          if (touched.size > 0) {
            // A node's revisions must follow commit order: a sequence id taken by a transaction that commits later
            // than one with a higher id would be skipped by a satellite that already saw the higher revision. So the
            // node rows are locked (in id order, against deadlocks) before their change-log ids are drawn, and
            // transactions changing one node draw its ids one after the other.
            const ids = [...touched.keys()].sort((a, b) => a - b);
            await lockRevisionDraws(em as EntityManager, ids);
            const changes = ids.map((id) =>
              em.create(NodeChange, { node: em.getReference(Node, id), reason: `${name}: ${touched.get(id)!.reason}`.slice(0, 200), resourceDefinitions: scopeOf(touched.get(id)!) }),
            );
            await em.flush();
            for (const { job, nodes } of jobs) {
              for (const change of changes) if (!nodes || nodes.has(change.node.id)) em.create(PlacementJobNode, { job, node: change.node, revision: change.id });
            }
          }
          for (const { job, nodes } of jobs) {
            // Nothing for a satellite to do (e.g. only diskless changes): the job is done with the commit.
            const waits = nodes ? [...nodes].some((id) => touched.has(id)) : touched.size > 0;
            if (!waits) Object.assign(job, { state: 'DONE', finishedAt: new Date() });
          }
          if (jobs.length > 0) {
            await em.flush();
            for (const { job } of jobs) emit('PLACEMENT_JOB', 'CREATED', [job.kind, job.resourceDefinition], job);
          }
          return value;
        },
        { clear: true },
      );
      break;
    } catch (error) {
      // A deadlock (40P01) or serialization failure (40001) rolled everything back: run the whole unit again. Node
      // rows are locked in id order at the end, but a service locks its own rows first, so two transactions touching
      // overlapping nodes (e.g. peers of two definitions) can still meet in opposite orders; PostgreSQL breaks the tie.
      const code = (error as { code?: string }).code;
      if ((code === '40P01' || code === '40001') && attempt < MAX_ATTEMPTS) {
        ctx.log.debug({ transaction: name, attempt, code }, 'transaction conflict; retrying');
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
        continue;
      }
      throw translateDbError(error);
    }
  }
  ctx.log.debug({ transaction: name, principal: ctx.principal.name, events: pending.length }, 'committed');
  const at = new Date();
  if (touched.size > 0) ctx.events.publishInternal({ type: 'desired-state-changed', nodeIds: [...touched.keys()] });
  for (const { subject, ...event } of pending) {
    const uuid = typeof subject === 'string' || subject === null ? subject : subject.uuid;
    ctx.events.publish({ ...event, uuid: uuid ?? null, at } satisfies ModelEvent);
  }
  if (later.size > 0) await touchNodes(ctx, name, new Map([...later].map(([id, entry]) => [id, { reason: entry.reason, definitions: scopeOf(entry) }])));
  return result;
}

/**
 * Takes what drawing new revisions (change-log ids) for the nodes `ids` needs, in node id order:
 * - the node rows FOR KEY SHARE: a node cannot be deleted meanwhile, and a service that holds one of them FOR UPDATE
 *   is waited for before any revision lock is taken (so it can take its own without meeting ours);
 * - then one transaction-scoped advisory lock per node, held until commit: two transactions changing one node draw
 *   its ids one after the other, so a node's revisions follow commit order.
 * Advisory rather than a row lock: satellite reports update their node's row (last seen, applied revision), and a
 * row lock would make every change of a node's desired state wait for the reports in flight (measured by the S2
 * benchmark: half of a spawn batch's time went there).
 */
export async function lockRevisionDraws(em: EntityManager, ids: readonly number[]): Promise<void> {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  if (sorted.length === 0) return;
  const list = sorted.map(() => '?').join(', ');
  const run = (sql: string) => em.getConnection().execute(sql, sorted, 'all', em.getTransactionContext());
  await run(`select id from node where id in (${list}) order by id for key share`);
  // The aggregate calls the lock function row by row in the subquery's order.
  await run(`select count(pg_advisory_xact_lock(hashtext('blockplane:revision'), n.id)) from (select id from node where id in (${list}) order by id) n`);
}

/**
 * Moves the revision of nodes in a transaction of its own that takes only their revision locks: for nodes affected
 * only indirectly by a committed transaction (see Touch's `afterCommit`), and for changes recorded outside of one (the
 * withdrawal of a seeding instruction). Failures are logged, not thrown: they only delay the change to the nodes'
 * next revision or reconnect.
 */
export async function touchNodes(ctx: ServiceContext, name: string, reasons: ReadonlyMap<number, NodeTouch>): Promise<void> {
  const ids = [...reasons.keys()].sort((a, b) => a - b);
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.em.fork().transactional(async (em) => {
        // The same locks as every other revision draw: a direct change of one of these nodes that drew a lower id
        // commits before this one does.
        await lockRevisionDraws(em as EntityManager, ids);
        for (const [id, touch] of reasons) {
          em.create(NodeChange, { node: em.getReference(Node, id), reason: `${name}: ${touch.reason}`.slice(0, 200), resourceDefinitions: touch.definitions ? [...touch.definitions] : null });
        }
        await em.flush();
      });
      ctx.events.publishInternal({ type: 'desired-state-changed', nodeIds: ids });
      return;
    } catch (error) {
      // A service may hold one of these rows from its start and want another of them at its end: PostgreSQL then
      // aborts one side. Try again; giving up only delays the change to the nodes' next revision or reconnect.
      const code = (error as { code?: string }).code;
      if ((code === '40P01' || code === '40001') && attempt < MAX_ATTEMPTS) {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
        continue;
      }
      // No revision marks the change: have the satellite hub send these nodes a fully rebuilt state instead (a state
      // built from the last one sent would not see a change the change log does not name).
      ctx.log.warn({ err: error, transaction: name }, 'could not move the revision of indirectly affected nodes; their states are rebuilt in full');
      ctx.events.publishInternal({ type: 'desired-state-changed', nodeIds: ids, full: true });
      return;
    }
  }
}
