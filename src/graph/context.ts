import type { EntityManager } from '@mikro-orm/postgresql';
import type { ServiceContext } from '../controller/context.js';
import type { Loaders } from './loaders.js';

/** Per-operation context: its own EntityManager fork, its batch loaders, and the service context for writes. */
export interface GraphContext {
  em: EntityManager;
  loaders: Loaders;
  service: ServiceContext;
}
