import type { EntityManager } from '@mikro-orm/postgresql';
import { translateDbError } from '../orm/errors.js';
import type { ServiceContext } from './context.js';
import type { ModelAction, ModelEvent, ModelKind } from './events/bus.js';

export type Emit = (kind: ModelKind, action: ModelAction, path: string[], uuid?: string | null) => void;

/**
 * Runs `fn` in one database transaction named `name` (for logs). Events emitted inside are published only after
 * the commit, so nobody hears of a change that was rolled back. Constraint violations become ApiErrors.
 */
export async function withTransaction<T>(ctx: ServiceContext, name: string, fn: (em: EntityManager, emit: Emit) => Promise<T>): Promise<T> {
  const pending: ModelEvent[] = [];
  const emit: Emit = (kind, action, path, uuid = null) => pending.push({ kind, action, path, uuid, at: new Date() });
  let result: T;
  try {
    result = await ctx.em.transactional((em) => fn(em as EntityManager, emit));
  } catch (error) {
    throw translateDbError(error);
  }
  ctx.log.debug({ transaction: name, principal: ctx.principal.name, events: pending.length }, 'committed');
  for (const event of pending) ctx.events.publish(event);
  return result;
}
