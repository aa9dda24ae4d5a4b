/**
 * Writes schema.graphql from the Pothos schema (types and fields sorted, so the file is stable).
 *   tsx scripts/print-schema.ts           rewrite schema.graphql
 *   tsx scripts/print-schema.ts --check   exit 1 when schema.graphql differs from the code (CI runs this)
 */
import { readFile, writeFile } from 'node:fs/promises';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { schema } from '../src/graph/schema.js';

const file = new URL('../schema.graphql', import.meta.url);
const printed = `${printSchema(lexicographicSortSchema(schema))}\n`;

if (process.argv.includes('--check')) {
  const current = await readFile(file, 'utf8').catch(() => '');
  if (current !== printed) {
    console.error('schema.graphql is stale: the code defines a different schema. Run `npm run schema:print` and commit the result.');
    process.exit(1);
  }
  console.log('schema.graphql is up to date');
} else {
  await writeFile(file, printed);
  console.log('wrote schema.graphql');
}
