import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { ServiceContext } from '../controller/context.js';
import { createNode, rotateNodeSecret } from '../controller/services/node.js';
import { createStoragePool } from '../controller/services/storage-pool.js';
import { Node } from '../orm/entities/node.js';
import { StoragePool } from '../orm/entities/storage-pool.js';
import { nameKey } from '../common/names.js';
import { SatelliteAgent } from '../satellite/agent.js';
import { DrbdLayer } from '../satellite/layers/drbd/drbd-layer.js';
import { selectDrbdBackend } from '../satellite/layers/drbd/select.js';
import { ExecaCommandRunner } from '../satellite/exec/command-runner.js';
import { CachingProviderSource } from '../satellite/reconcile/reconcile.js';

/** Name of the FILE_THIN pool each local satellite provides. */
export const LOCAL_POOL = 'local';

/**
 * The satellites `npm start` runs next to the controller, so a newcomer can create and replicate volumes at once.
 * Satellite i (1-based) is node `<host>` (i = 1) or `<host>-<i>`, with address 127.0.0.<i> (Linux routes all of
 * 127/8 to loopback, so each node has its own DRBD address and ports), a FILE_THIN pool in
 * `<dataDir>/pools/<node>` (the first keeps `<dataDir>/pools/local`), and its secret in
 * `<dataDir>/<node>.secret` (mode 0600). Each runs the satellite agent in this process with the EMULATED DRBD
 * backend (a development machine has no DRBD 9 module; the emulation says so in its logs and in the API).
 * Everything goes through the same services and protocol as any other satellite.
 */
export async function startLocalSatellites(
  ctx: ServiceContext,
  options: { dataDir: string; controllerUrl: string; log: Logger; count: number },
): Promise<{ nodeNames: string[]; stop(): Promise<void> }> {
  const running: { nodeName: string; stop(): Promise<void> }[] = [];
  try {
    for (let i = 1; i <= options.count; i++) running.push(await startOne(ctx, options, i));
  } catch (error) {
    await Promise.all(running.map((r) => r.stop()));
    throw error;
  }
  return { nodeNames: running.map((r) => r.nodeName), stop: async () => void (await Promise.all(running.map((r) => r.stop()))) };
}

async function startOne(ctx: ServiceContext, options: { dataDir: string; controllerUrl: string; log: Logger }, index: number): Promise<{ nodeName: string; stop(): Promise<void> }> {
  const base = localNodeName();
  const nodeName = index === 1 ? base : `${base}-${index}`;
  const secretFile = path.join(options.dataDir, index === 1 ? 'local-satellite.secret' : `${nodeName}.secret`);
  const poolDir = path.join(options.dataDir, 'pools', index === 1 ? LOCAL_POOL : nodeName);
  const stateDir = path.join(options.dataDir, 'satellites', nodeName);
  await mkdir(poolDir, { recursive: true });

  let secret: string | null = existsSync(secretFile) ? (await readFile(secretFile, 'utf8')).trim() : null;
  if (!(await ctx.em.fork().findOne(Node, { nameKey: nameKey(nodeName) }))) {
    secret = (await createNode(ctx, { name: nodeName, type: 'SATELLITE', netInterfaces: [{ address: `127.0.0.${index}` }] })).satelliteSecret;
    options.log.info({ node: nodeName }, 'registered a local node');
  } else if (!secret) {
    secret = (await rotateNodeSecret(ctx, nodeName)).satelliteSecret;
  }
  await writeFile(secretFile, `${secret}\n`, { mode: 0o600 });
  if (!(await ctx.em.fork().findOne(StoragePool, { node: { nameKey: nameKey(nodeName) }, nameKey: nameKey(LOCAL_POOL) }))) {
    await createStoragePool(ctx, { node: nodeName, name: LOCAL_POOL, providerKind: 'FILE_THIN', props: [{ key: 'StorDriver/FileDir', value: poolDir }] });
  }

  const log = options.log.child({ component: 'local-satellite', node: nodeName });
  const runner = new ExecaCommandRunner();
  // The node name is the DRBD host name: several local satellites share this machine's real host name.
  const hostname = nodeName;
  const resDir = path.join(stateDir, 'drbd.d');
  const backend = await selectDrbdBackend({ choice: 'emulated', runner, log, hostname, resDir, stateDir });
  let agent: SatelliteAgent | undefined;
  const drbd = new DrbdLayer({ backend, resDir, hostname, log, report: (r) => agent!.drbdReporter(r) });
  await drbd.start();
  agent = new SatelliteAgent({
    controllerUrl: options.controllerUrl,
    nodeName,
    secret: secret!,
    hostname,
    providers: new CachingProviderSource({ runner }),
    drbd,
    log,
  });
  agent.start();
  const a = agent;
  return {
    nodeName,
    stop: async () => {
      await a.stop();
      await drbd.stop();
    },
  };
}

/** This host's name when it is a valid node name, else 'localhost'. */
function localNodeName(): string {
  const host = os.hostname().split('.')[0] ?? '';
  return /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(host) && /[A-Za-z]/.test(host) && host.length >= 2 ? host : 'localhost';
}
