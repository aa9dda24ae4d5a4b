/**
 * BENCHMARK TOOL, not a product mode: "hollow satellites", like Kubernetes' kubemark hollow nodes. Runs many
 * satellites in ONE Node process so that a benchmark can put 50-200 nodes in front of a controller on one machine.
 *
 * Each hollow satellite is the real thing above the storage tools: its own graphql-ws connection to the controller
 * speaking the real protocol (the real SatelliteAgent), the real DrbdLayer (.res files in its own directory) over the
 * real EmulatedDrbdBackend (real TCP links between the nodes' addresses, e.g. 127.1.X.Y), and the real reconcile pass.
 * Only two things are hollow:
 * - storage is an in-memory provider (scripts/bench/memory-provider.ts): no lvcreate, losetup or fallocate;
 * - the emulated DRBD backend has no drbdadm validator (spawning drbdadm thousands of times would measure drbdadm,
 *   not blockplane) and keeps its metadata in memory.
 *
 * CLI:
 *   node --import tsx scripts/bench/hollow-satellites.ts --controller ws://127.0.0.1:PORT --nodes-file nodes.json --res-dir DIR
 * where nodes.json is `[{ "name": ..., "secret": ..., "address": ... }]` (the nodes must be registered on the
 * controller with those addresses). Prints `hollow satellites: N connected` once all are connected and stops cleanly
 * on SIGTERM/SIGINT.
 */
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, Option } from 'commander';
import pino, { type Logger } from 'pino';
import { SatelliteAgent, type AgentTiming } from '../../src/satellite/agent.js';
import { DrbdLayer } from '../../src/satellite/layers/drbd/drbd-layer.js';
import { EmulatedDrbdBackend } from '../../src/satellite/layers/drbd/emulated/backend.js';
import { MemoryProviderSource } from './memory-provider.js';

/** One hollow satellite's node, as registered on the controller. */
export interface HollowNode {
  name: string;
  /** The node's secret (createNode / rotateNodeSecret). */
  secret: string;
  /** The node's DRBD address (its net interface on the controller), e.g. 127.1.0.1; informational here. */
  address: string;
}

export interface HollowSatellitesOptions {
  /** The controller, e.g. `ws://127.0.0.1:3370`. */
  controllerUrl: string;
  nodes: HollowNode[];
  /** A scratch directory; node `n` writes its DRBD .res files to `<resDir>/<n>`. */
  resDir: string;
  /** Default: silent. Every line carries `hollow: true`. */
  log?: Logger;
  /**
   * Interval of the capacity refresh passes (default 1 hour, so that they do not dominate a benchmark; every change
   * of the desired state runs a pass anyway).
   */
  capacityIntervalMs?: number;
  /** Agent timing overrides (default none: keepalives and retries at their production defaults). */
  timing?: Partial<AgentTiming>;
}

export interface HollowSatellites {
  /** Stops every agent (normal close, so the controller marks the nodes OFFLINE at once), then its DRBD layer. */
  stop(): Promise<void>;
  /** How many hollow satellites have an acknowledged connection to the controller right now. */
  connected(): number;
  /** Resolves once every hollow satellite has connected at least once; rejects after `timeoutMs` (default 60 s). */
  allConnected(timeoutMs?: number): Promise<void>;
}

const DEFAULT_CAPACITY_INTERVAL_MS = 60 * 60_000;

interface Running {
  agent: SatelliteAgent;
  drbd: DrbdLayer;
}

/**
 * Starts one hollow satellite per node, all at once (their DRBD layers start concurrently, then every agent connects
 * in the background). Resolves when all are started, not when they are connected: see {@link HollowSatellites}.
 * On a failure the ones already started are stopped again before the error is thrown.
 */
export async function startHollowSatellites(options: HollowSatellitesOptions): Promise<HollowSatellites> {
  const log = (options.log ?? pino({ level: 'silent' })).child({ hollow: true });
  const names = new Set<string>();
  for (const node of options.nodes) {
    if (names.has(node.name)) throw new Error(`hollow satellites: node ${node.name} is listed twice`);
    names.add(node.name);
  }
  log.info({ count: options.nodes.length, controller: options.controllerUrl }, 'BENCHMARK TOOL: starting hollow satellites (in-memory storage, emulated DRBD)');

  const everConnected = new Set<string>();
  const waiters = new Set<() => void>();
  const onConnected = (name: string) => {
    everConnected.add(name);
    if (everConnected.size === options.nodes.length) for (const wake of waiters) wake();
  };

  const results = await Promise.allSettled(options.nodes.map((node) => startOne(node, options, log, () => onConnected(node.name))));
  const running = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stopAll = async () => {
    await Promise.all(running.map(async ({ agent, drbd }) => {
      await agent.stop();
      await drbd.stop();
    }));
  };
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    await stopAll();
    throw failure.reason;
  }

  let stopped: Promise<void> | null = null;
  return {
    stop: () => {
      stopped ??= stopAll().then(() => log.info('BENCHMARK TOOL: hollow satellites stopped'));
      for (const wake of waiters) wake();
      return stopped;
    },
    connected: () => running.filter((r) => r.agent.connected).length,
    allConnected: (timeoutMs = 60_000) =>
      new Promise<void>((resolve, reject) => {
        if (everConnected.size === options.nodes.length) return resolve();
        const timer = setTimeout(() => {
          waiters.delete(wake);
          reject(new Error(`hollow satellites: only ${everConnected.size} of ${options.nodes.length} connected within ${timeoutMs} ms`));
        }, timeoutMs);
        const wake = () => {
          clearTimeout(timer);
          waiters.delete(wake);
          if (everConnected.size === options.nodes.length) resolve();
          else reject(new Error('hollow satellites: stopped before all connected'));
        };
        waiters.add(wake);
      }),
  };
}

async function startOne(node: HollowNode, options: HollowSatellitesOptions, parentLog: Logger, onConnected: () => void): Promise<Running> {
  // The agent adds `node` to its own lines; the DRBD layer and backend do not.
  const log = parentLog.child({ node: node.name });
  // Several satellites share this host: the node name is each one's host name (its DRBD `on` section).
  const hostname = node.name;
  const resDir = path.join(options.resDir, node.name);
  // No validator and no metadataDir: see the header.
  const backend = new EmulatedDrbdBackend({ log });
  let agent: SatelliteAgent | undefined;
  const drbd = new DrbdLayer({ backend, resDir, hostname, log, report: (r) => agent!.drbdReporter(r) });
  await drbd.start();
  agent = new SatelliteAgent({
    controllerUrl: options.controllerUrl,
    nodeName: node.name,
    secret: node.secret,
    hostname,
    providers: new MemoryProviderSource(),
    drbd,
    log: parentLog,
    capacityIntervalMs: options.capacityIntervalMs ?? DEFAULT_CAPACITY_INTERVAL_MS,
    timing: options.timing ?? {},
    onConnected,
  });
  agent.start();
  return { agent, drbd };
}

/** Reads and checks nodes.json: an array of `{ name, secret, address }` strings. */
async function readNodesFile(file: string): Promise<HollowNode[]> {
  const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
  if (!Array.isArray(parsed)) throw new Error(`${file}: expected a JSON array of { name, secret, address }`);
  return parsed.map((entry: unknown, i) => {
    const e = entry as Partial<Record<keyof HollowNode, unknown>> | null;
    if (typeof e?.name !== 'string' || typeof e.secret !== 'string' || typeof e.address !== 'string') {
      throw new Error(`${file}: entry ${i} is not { name, secret, address } (all strings)`);
    }
    return { name: e.name, secret: e.secret, address: e.address };
  });
}

async function main(): Promise<void> {
  const program = new Command()
    .name('hollow-satellites')
    .description('BENCHMARK TOOL (not a product mode): runs many hollow satellites (real agent, emulated DRBD, in-memory storage) in one process.')
    .requiredOption('--controller <url>', 'controller URL, e.g. ws://127.0.0.1:3370')
    .requiredOption('--nodes-file <file>', 'JSON array of { name, secret, address } of registered nodes')
    .requiredOption('--res-dir <dir>', 'scratch directory for the DRBD .res files (one subdirectory per node)')
    .addOption(new Option('--log-level <level>', 'log level (logs go to stderr)').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('warn'))
    .addOption(new Option('--connect-timeout <seconds>', 'fail when not all are connected within this long').default('120'))
    .parse();
  const opts = program.opts<{ controller: string; nodesFile: string; resDir: string; logLevel: string; connectTimeout: string }>();
  const log = pino({ level: opts.logLevel }, pino.destination(2));
  const nodes = await readNodesFile(opts.nodesFile).catch((error: unknown) => program.error(`--nodes-file: ${(error as Error).message}`));
  process.stderr.write(`BENCHMARK TOOL: starting ${nodes.length} hollow satellites (in-memory storage, emulated DRBD; not a product mode)\n`);

  const started = performance.now();
  const hollow = await startHollowSatellites({ controllerUrl: opts.controller, nodes, resDir: path.resolve(opts.resDir), log });
  let signalled = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (signalled) return;
      signalled = true;
      log.info({ signal }, 'BENCHMARK TOOL: stopping hollow satellites');
      hollow.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          log.error({ err: error }, 'stopping the hollow satellites failed');
          process.exit(1);
        },
      );
    });
  }
  try {
    await hollow.allConnected(Number(opts.connectTimeout) * 1000);
  } catch (error) {
    if (signalled) return;
    process.stderr.write(`${(error as Error).message}\n`);
    await hollow.stop();
    process.exit(1);
  }
  process.stderr.write(`BENCHMARK TOOL: all connected after ${Math.round(performance.now() - started)} ms\n`);
  process.stdout.write(`hollow satellites: ${nodes.length} connected\n`);
}

const invokedAs = process.argv[1];
if (invokedAs !== undefined && import.meta.url === pathToFileURL(await realpath(invokedAs).catch(() => invokedAs)).href) await main();
