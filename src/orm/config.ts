import { Migrator } from '@mikro-orm/migrations';
import { defineConfig, MikroORM, type Options } from '@mikro-orm/postgresql';
import { ALL_ENTITIES } from './entities/index.js';
import { MIGRATIONS } from './migrations/index.js';

export interface OrmOptions {
  /** PostgreSQL connection URL, e.g. postgres://user@host:5432/blockplane. */
  clientUrl: string;
  /** Connection pool size. */
  poolMax?: number;
  /** Called with every SQL statement the ORM runs (tests count queries with it). */
  onQuery?: (sql: string) => void;
}

/** The ORM configuration shared by the controller, the migration script and the tests. */
export function ormConfig(options: OrmOptions): Options {
  return defineConfig({
    clientUrl: options.clientUrl,
    entities: ALL_ENTITIES,
    extensions: [Migrator],
    migrations: {
      migrationsList: MIGRATIONS,
      path: 'src/orm/migrations',
      emit: 'ts',
      // No snapshot file: `scripts/migrate.ts create` diffs against a scratch database migrated to the current
      // state, and a running controller must never write into its source tree.
      snapshot: false,
      transactional: true,
      allOrNothing: true,
    },
    pool: { min: 0, max: options.poolMax ?? 10 },
    // Entities are plain defineEntity schemas; there is no reflection or folder discovery to do.
    discovery: { warnWhenNoEntities: true },
    forceUndefined: false,
    // Errors and queries are logged by the application; keep MikroORM itself quiet unless asked to count.
    debug: options.onQuery ? ['query'] : false,
    logger: options.onQuery ? (message) => options.onQuery!(message) : () => undefined,
    colors: false,
    allowGlobalContext: false,
  });
}

/**
 * Connects to the database and applies every pending migration (in one transaction), so a controller always runs
 * on the schema its code expects.
 */
export async function openOrm(options: OrmOptions): Promise<MikroORM> {
  const orm = await MikroORM.init(ormConfig(options));
  await orm.migrator.up();
  return orm;
}
