/**
 * The two database servers every database test runs against: the embedded PostgreSQL (started once per test run by
 * global-setup.ts) and the machine's real PostgreSQL. Each test file gets fresh databases on both.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export type DatabaseKind = 'embedded' | 'postgresql';

export const DATABASE_KINDS: DatabaseKind[] = ['embedded', 'postgresql'];

/** Admin URL (database `postgres`) of each server; set by global-setup.ts. */
export function adminUrl(kind: DatabaseKind): string {
  const url = kind === 'embedded' ? process.env.BLOCKPLANE_TEST_EMBEDDED_URL : process.env.BLOCKPLANE_TEST_PG_URL;
  if (!url) throw new Error(`No ${kind} database for tests: run the tests through jest (global-setup.ts starts it).`);
  return url;
}

export interface TestDatabase {
  kind: DatabaseKind;
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty database on the `kind` server; `drop()` removes it. */
export async function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  const name = `bp_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl(kind) });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl(kind));
  url.pathname = `/${name}`;
  return {
    kind,
    url: url.toString(),
    drop: async () => {
      const a = new pg.Client({ connectionString: adminUrl(kind) });
      await a.connect();
      try {
        await a.query(`drop database if exists ${name} with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}
