import type { EntityManager } from '@mikro-orm/postgresql';
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
export async function withTransaction<T>(ctx: ServiceContext, name: string, fn: (em: EntityManager, emit: Emit) => Promise<T>): Promise<T> {
  const pending: { kind: ModelKind; action: ModelAction; path: string[]; subject: { uuid: string } | string | null }[] = [];
  const emit: Emit = (kind, action, path, subject = null) => pending.push({ kind, action, path, subject });
  let result: T;
  try {
    // clear: the transaction works on its own copies, so a rolled-back change never lingers in the caller's
    // identity map.
    result = await ctx.em.transactional((em) => fn(em as EntityManager, emit), { clear: true });
  } catch (error) {
    throw translateDbError(error);
  }
  ctx.log.debug({ transaction: name, principal: ctx.principal.name, events: pending.length }, 'committed');
  const at = new Date();
  for (const { subject, ...event } of pending) {
    const uuid = typeof subject === 'string' || subject === null ? subject : subject.uuid;
    ctx.events.publish({ ...event, uuid: uuid ?? null, at } satisfies ModelEvent);
  }
  return result;
}
