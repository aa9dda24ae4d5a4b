import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { buildGraphiql } from '../../scripts/build-graphiql.js';
import { startEmbeddedDatabase } from '../../src/orm/embedded.js';

const PG_START = 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start';

/**
 * Once per test run: start the embedded PostgreSQL, check that the real PostgreSQL answers, build the GraphiQL
 * bundle. Both database URLs reach the test workers through the environment.
 */
export default async function globalSetup(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bp-test-embedded-'));
  const embedded = await startEmbeddedDatabase({ dir });
  const url = new URL(embedded.url);
  url.pathname = '/postgres';
  process.env.BLOCKPLANE_TEST_EMBEDDED_URL = url.toString();
  (globalThis as { __embeddedDb?: { stop(): Promise<void>; dir: string } }).__embeddedDb = { stop: embedded.stop, dir };

  const realUrl = process.env.BLOCKPLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  process.env.BLOCKPLANE_TEST_PG_URL = realUrl;
  const client = new pg.Client({ connectionString: realUrl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (error) {
    await embedded.stop();
    throw new Error(
      `The tests need the machine's PostgreSQL at ${realUrl} (set BLOCKPLANE_TEST_PG_URL to use another): ${(error as Error).message}. ` +
        `Start it with: ${PG_START}`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
  await buildGraphiql();
}
