/**
 * `npm run bench:spawn-path`: the latency of one spawn at a time through the real controller process with nothing
 * else running: no satellites (the nodes are marked ONLINE with capacity directly in a fresh PostgreSQL database), so
 * the number is the API, the transaction and placement alone, without the satellite traffic S1 also carries.
 * Benchmark tooling only. Combine with BENCH_CONTROLLER_NODE_ARGS="--cpu-prof --cpu-prof-dir /tmp/prof" to profile it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import pg from 'pg';
import { freePort } from '../../src/orm/embedded.js';
import { gql, pool, startControllerProcess, summarize } from './lib.js';

const options = new Command()
  .name('bench:spawn-path')
  .addOption(new Option('--spawns <n>', 'spawns, one after the other (the first 10% are warm-up and not counted)').default('200'))
  .addOption(new Option('--nodes <n>', 'nodes marked ONLINE').default('12'))
  .addOption(new Option('--concurrency <n>', 'spawns in flight at once (1: one after the other; more: the throughput of the spawn path alone)').default('1'))
  .addOption(new Option('--pg-url <url>', 'PostgreSQL server (a fresh database is created and dropped)').default('postgres://postgres@127.0.0.1:5432/postgres'))
  .addOption(new Option('--built', 'run the controller from the JavaScript build (npm run build first)'))
  .parse()
  .opts<{ spawns: string; nodes: string; concurrency: string; pgUrl: string; built?: boolean }>();

const name = `bench_spawn_path_${process.pid}`;
const admin = new pg.Client({ connectionString: options.pgUrl });
await admin.connect();
await admin.query(`create database ${name}`);
const url = new URL(options.pgUrl);
url.pathname = `/${name}`;
const dir = await mkdtemp(path.join(tmpdir(), 'bp-spawn-path-'));
const db = new pg.Client({ connectionString: url.toString() });
const controller = await startControllerProcess({ dataDir: dir, databaseUrl: url.toString(), port: await freePort(), built: options.built === true });
try {
  for (let i = 1; i <= Number(options.nodes); i++) {
    await gql(controller.url, `mutation($n: String!, $a: String!) { createNode(input: { name: $n, netInterfaces: [{ address: $a }] }) { satelliteSecret } }`, { n: `n${i}`, a: `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}` });
    await gql(controller.url, `mutation($n: String!) { createStoragePool(input: { node: $n, name: "pool", providerKind: FILE_THIN, props: [{ key: "StorDriver/FileDir", value: "/unused" }] }) { name } }`, { n: `n${i}` });
  }
  await db.connect();
  await db.query(`update node set connection_status = 'ONLINE'`);
  await db.query(`update storage_pool set total_capacity_kib = 1099511627776, free_capacity_kib = 1099511627776 where provider_kind <> 'DISKLESS'`);
  const latencies: number[] = [];
  const count = Number(options.spawns);
  const concurrency = Number(options.concurrency);
  const spawn = async (i: number) => {
    const t0 = performance.now();
    await gql(controller.url, `mutation($n: String!) { spawnResources(input: { resourceDefinition: $n, volumeSizes: ["64MiB"], selectFilter: { placeCount: 3 } }) { job { uuid } } }`, { n: `r${i}` });
    latencies.push(performance.now() - t0);
  };
  const warmUp = Math.floor(count / 10);
  for (let i = 0; i < warmUp; i++) await spawn(i);
  latencies.length = 0;
  const t0 = performance.now();
  const outcomes = await pool(count - warmUp, concurrency, (i) => spawn(warmUp + i));
  const seconds = (performance.now() - t0) / 1000;
  const failed = outcomes.filter((o) => o instanceof Error);
  if (failed.length > 0) process.stdout.write(`${failed.length} spawns failed; first: ${(failed[0] as Error).message}\n`);
  process.stdout.write(
    `spawn answer, ${count - warmUp} spawns on ${options.nodes} nodes at concurrency ${concurrency}: ${JSON.stringify(summarize(latencies))}, ${((count - warmUp) / seconds).toFixed(1)} per s\n`,
  );
} finally {
  await controller.stop();
  await db.end().catch(() => undefined);
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
  await rm(dir, { recursive: true, force: true });
}
