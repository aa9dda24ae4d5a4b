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
import { ExecaCommandRunner } from '../satellite/exec/command-runner.js';
import { CachingProviderSource } from '../satellite/reconcile/reconcile.js';

/** Name of the FILE_THIN pool the local satellite provides. */
export const LOCAL_POOL = 'local';

/**
 * The satellite `npm start` runs next to the controller, so a newcomer can create volumes at once: it registers this
 * host as a node (address 127.0.0.1) with a FILE_THIN pool in `<dataDir>/pools/local`, keeps the node's secret in
 * `<dataDir>/local-satellite.secret` (mode 0600) and runs the satellite agent in this process. Everything it
 * creates goes through the same services and protocol as any other satellite.
 */
export async function startLocalSatellite(ctx: ServiceContext, options: { dataDir: string; controllerUrl: string; log: Logger }): Promise<{ nodeName: string; stop(): Promise<void> }> {
  const nodeName = localNodeName();
  const secretFile = path.join(options.dataDir, 'local-satellite.secret');
  const poolDir = path.join(options.dataDir, 'pools', LOCAL_POOL);
  await mkdir(poolDir, { recursive: true });

  let secret: string | null = existsSync(secretFile) ? (await readFile(secretFile, 'utf8')).trim() : null;
  if (!(await ctx.em.fork().findOne(Node, { nameKey: nameKey(nodeName) }))) {
    secret = (await createNode(ctx, { name: nodeName, type: 'SATELLITE', netInterfaces: [{ address: '127.0.0.1' }] })).satelliteSecret;
    options.log.info({ node: nodeName }, 'registered the local node');
  } else if (!secret) {
    secret = (await rotateNodeSecret(ctx, nodeName)).satelliteSecret;
  }
  await writeFile(secretFile, `${secret}\n`, { mode: 0o600 });
  if (!(await ctx.em.fork().findOne(StoragePool, { node: { nameKey: nameKey(nodeName) }, nameKey: nameKey(LOCAL_POOL) }))) {
    await createStoragePool(ctx, { node: nodeName, name: LOCAL_POOL, providerKind: 'FILE_THIN', props: [{ key: 'StorDriver/FileDir', value: poolDir }] });
  }

  const log = options.log.child({ component: 'local-satellite', node: nodeName });
  const agent = new SatelliteAgent({
    controllerUrl: options.controllerUrl,
    nodeName,
    secret: secret!,
    providers: new CachingProviderSource({ runner: new ExecaCommandRunner() }),
    log,
  });
  agent.start();
  return { nodeName, stop: () => agent.stop() };
}

/** This host's name when it is a valid node name, else 'localhost'. */
function localNodeName(): string {
  const host = os.hostname().split('.')[0] ?? '';
  return /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(host) && /[A-Za-z]/.test(host) && host.length >= 2 ? host : 'localhost';
}
