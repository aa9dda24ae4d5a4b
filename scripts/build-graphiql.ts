/**
 * Bundles the GraphiQL explorer (React 19 + graphiql 4 + graphql-ws) into dist/graphiql/{graphiql.js,graphiql.css}
 * with esbuild, so the controller serves it from local files with no CDN. Takes about a second; skipped when the
 * bundle is newer than its entry (pass --force to rebuild).
 */
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const entry = fileURLToPath(new URL('../src/graph/ui/graphiql-entry.tsx', import.meta.url));
export const GRAPHIQL_DIR = fileURLToPath(new URL('../dist/graphiql', import.meta.url));

/** Builds the bundle when missing or older than the entry file (or always with `force`). */
export async function buildGraphiql(force = false): Promise<string> {
  const out = `${GRAPHIQL_DIR}/graphiql.js`;
  if (!force && existsSync(out) && statSync(out).mtimeMs > statSync(entry).mtimeMs) return GRAPHIQL_DIR;
  await build({
    entryPoints: { graphiql: entry },
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2020',
    outdir: GRAPHIQL_DIR,
    define: { 'process.env.NODE_ENV': '"production"' },
    jsx: 'automatic',
    logLevel: 'warning',
  });
  return GRAPHIQL_DIR;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const t0 = Date.now();
  await buildGraphiql(process.argv.includes('--force'));
  console.log(`GraphiQL bundle ready in ${GRAPHIQL_DIR} (${Date.now() - t0} ms)`);
}
