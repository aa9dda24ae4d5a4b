import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { EventBus } from './events/bus.js';
import type { SpawnBatcher } from './services/spawn.js';

/** Who runs an operation. Today every caller is the local operator; API tokens and roles plug in here later. */
export interface Principal {
  name: string;
  role: 'admin' | 'reader';
}

/** Everything a service needs for one unit of work. `em` is a fork owned by that unit of work. */
export interface ServiceContext {
  em: EntityManager;
  events: EventBus;
  principal: Principal;
  log: Logger;
  /** Shares transactions among concurrent spawns (the API server's); without it every spawn has its own. */
  spawns?: SpawnBatcher;
}
