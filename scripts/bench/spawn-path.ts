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
import { gql, startControllerProcess, summarize } from './lib.js';

const options = new Command()
  .name('bench:spawn-path')
  .addOption(new Option('--spawns <n>', 'spawns, one after the other (the first 10% are warm-up and not counted)').default('200'))
  .addOption(new Option('--nodes <n>', 'nodes marked ONLINE').default('12'))
  .addOption(new Option('--pg-url <url>', 'PostgreSQL server (a fresh database is created and dropped)').default('postgres://postgres@127.0.0.1:5432/postgres'))
  .addOption(new Option('--built', 'run the controller from the JavaScript build (npm run build first)'))
  .parse()
  .opts<{ spawns: string; nodes: string; pgUrl: string; built?: boolean }>();

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
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await gql(controller.url, `mutation($n: String!) { spawnResources(input: { resourceDefinition: $n, volumeSizes: ["64MiB"], selectFilter: { placeCount: 3 } }) { job { uuid } } }`, { n: `r${i}` });
    latencies.push(performance.now() - t0);
  }
  process.stdout.write(`spawn answer, ${count - Math.floor(count / 10)} spawns on ${options.nodes} nodes: ${JSON.stringify(summarize(latencies.slice(Math.floor(count / 10))))}\n`);
} finally {
  await controller.stop();
  await db.end().catch(() => undefined);
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
  await rm(dir, { recursive: true, force: true });
}
