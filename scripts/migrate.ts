/**
 * Migration tooling.
 *   tsx scripts/migrate.ts create [name]   diff the entities against the migrations so far and write a new one
 *   tsx scripts/migrate.ts up              apply pending migrations to BLOCKPLANE_DATABASE_URL
 * `create` works on a scratch database that it creates and drops (on BLOCKPLANE_MIGRATION_URL, default the local
 * PostgreSQL at 127.0.0.1:5432), so the diff always starts from exactly the checked-in migrations.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { ormConfig } from '../src/orm/config.js';

const [command, rawName] = process.argv.slice(2);
// The name becomes part of a class name: keep it an identifier.
const name = rawName?.replace(/\W+/g, '_');
const adminUrl = process.env.BLOCKPLANE_MIGRATION_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function withScratchDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const db = `bp_migration_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${db}`);
  try {
    const url = new URL(adminUrl);
    url.pathname = `/${db}`;
    return await fn(url.toString());
  } finally {
    await admin.query(`drop database if exists ${db} with (force)`);
    await admin.end();
  }
}

async function writeIndex(): Promise<void> {
  const files = (await readdir('src/orm/migrations')).filter((f) => /^Migration\d+.*\.ts$/.test(f)).sort();
  const names = files.map((f) => f.replace(/\.ts$/, ''));
  const body = [
    '/** Migrations in order. Generated files are never edited after they land; add a new one instead. */',
    ...names.map((n) => `import { ${n} } from './${n}.js';`),
    '',
    'export const MIGRATIONS = [',
    ...names.map((n) => `  { name: '${n}', class: ${n} },`),
    '];',
    '',
  ].join('\n');
  await writeFile('src/orm/migrations/index.ts', body);
}

if (command === 'create') {
  await withScratchDatabase(async (clientUrl) => {
    const orm = await MikroORM.init(ormConfig({ clientUrl }));
    await orm.migrator.up();
    const result = await orm.migrator.createMigration('src/orm/migrations', false, false, name);
    console.log(result.fileName ? `wrote ${result.fileName}` : 'no schema changes');
    await orm.close();
  });
  await writeIndex();
} else if (command === 'up') {
  const clientUrl = process.env.BLOCKPLANE_DATABASE_URL;
  if (!clientUrl) throw new Error('Set BLOCKPLANE_DATABASE_URL to the database to migrate.');
  const orm = await MikroORM.init(ormConfig({ clientUrl }));
  console.log(await orm.migrator.up());
  await orm.close();
} else {
  console.error('usage: tsx scripts/migrate.ts create [name] | up');
  process.exit(2);
}
