/**
 * `blockplane-satellite`: starts a satellite that connects to the controller, realizes its node's desired storage and
 * reports back. Flags override environment variables, which override the defaults (see --help).
 */
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import pino from 'pino';
import { SatelliteAgent } from '../satellite/agent.js';
import { DEFAULT_CAPACITY_INTERVAL_MS, DEFAULT_CONTROLLER_URL, readSatelliteSecret, satelliteEndpoint } from '../satellite/config.js';
import { ExecaCommandRunner } from '../satellite/exec/command-runner.js';
import { DrbdLayer } from '../satellite/layers/drbd/drbd-layer.js';
import { DRBD_BACKEND_CHOICES, selectDrbdBackend, type DrbdBackendChoice } from '../satellite/layers/drbd/select.js';
import { CachingProviderSource } from '../satellite/reconcile/reconcile.js';

const program = new Command()
  .name('blockplane-satellite')
  .description("blockplane satellite: connects to the controller and makes this node's storage match its desired state.")
  .addOption(new Option('--controller <url>', 'controller URL (ws://, wss://, http:// or https://)').env('BLOCKPLANE_CONTROLLER_URL').default(DEFAULT_CONTROLLER_URL))
  .addOption(new Option('--node <name>', 'name of this node as registered on the controller').env('BLOCKPLANE_NODE_NAME').default(os.hostname()))
  .addOption(
    new Option('--secret-file <path>', "file holding the node's secret (from createNode or rotateNodeSecret); or set BLOCKPLANE_SATELLITE_SECRET").env(
      'BLOCKPLANE_SATELLITE_SECRET_FILE',
    ),
  )
  .addOption(new Option('--log-level <level>', 'log level').env('BLOCKPLANE_LOG_LEVEL').choices(['trace', 'debug', 'info', 'warn', 'error']).default('info'))
  .addOption(
    new Option('--capacity-interval <seconds>', 'seconds between capacity refreshes when nothing else happens')
      .env('BLOCKPLANE_CAPACITY_INTERVAL')
      .default(String(DEFAULT_CAPACITY_INTERVAL_MS / 1000)),
  )
  .addOption(
    new Option('--hostname <name>', "this host's name for the controller and its DRBD `on` sections (default: the system host name)").env('BLOCKPLANE_HOSTNAME'),
  )
  .addOption(
    // auto by default (the contract): drbd-utils when the DRBD 9 module is loaded, else emulated with a loud
    // warning. Production nodes should pin drbd-utils, so a node whose module is missing fails (adjust errors on
    // every resource) instead of replicating nothing.
    new Option('--drbd-backend <backend>', 'DRBD backend: auto (drbd-utils when the DRBD 9 module is loaded, else emulated with a warning), drbd-utils (the kernel module; pin this in production), or emulated (no replication: development and tests)')
      .env('BLOCKPLANE_DRBD_BACKEND')
      .choices([...DRBD_BACKEND_CHOICES])
      .default('auto'),
  )
  .addOption(new Option('--state-dir <dir>', 'satellite state directory: generated DRBD .res files (drbd.d/) and emulated DRBD metadata').env('BLOCKPLANE_STATE_DIR').default('/var/lib/blockplane'))
  // Tests on hosts without device-mapper only: LVM then changes metadata and creates no devices.
  .addOption(new Option('--lvm-metadata-only', 'run LVM commands with --driverloaded n (testing only)').hideHelp())
  .parse();

const opts = program.opts<{
  controller: string;
  node: string;
  secretFile?: string;
  logLevel: string;
  capacityInterval: string;
  lvmMetadataOnly?: boolean;
  hostname?: string;
  drbdBackend: DrbdBackendChoice;
  stateDir: string;
}>();

/** The value of `fn`, or commander's usage error (exit code 1) with `prefix` and the error's message. */
async function orUsageError<T>(prefix: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    return program.error(`${prefix}${(error as Error).message}`);
  }
}

const url = await orUsageError('--controller: ', () => satelliteEndpoint(opts.controller));
const capacitySeconds = Number(opts.capacityInterval);
if (!Number.isFinite(capacitySeconds) || capacitySeconds <= 0) {
  program.error(`--capacity-interval: '${opts.capacityInterval}' is not a positive number of seconds.`);
}
const secret = await orUsageError('', () => readSatelliteSecret({ file: opts.secretFile, value: process.env.BLOCKPLANE_SATELLITE_SECRET }));

const log = pino({ level: opts.logLevel });
const runner = new ExecaCommandRunner({
  onCommand: (result, spec) => {
    if ('durationMs' in result) log.debug({ component: 'exec', argv: result.argv, exitCode: result.exitCode, ms: Math.round(result.durationMs) }, spec.purpose ?? 'command');
    else log.debug({ component: 'exec', command: result.command, exitCode: result.exitCode, timedOut: result.timedOut }, `${spec.purpose ?? 'command'} failed`);
  },
});
const hostname = opts.hostname ?? os.hostname();
const stateDir = path.resolve(opts.stateDir);
const resDir = path.join(stateDir, 'drbd.d');
const backend = await orUsageError('--drbd-backend: ', () => selectDrbdBackend({ choice: opts.drbdBackend, runner, log, hostname, resDir, stateDir }));
let agent: SatelliteAgent | undefined;
const drbd = new DrbdLayer({ backend, resDir, hostname, log, report: (r) => agent!.drbdReporter(r) });
await orUsageError('cannot start the DRBD layer: ', () => drbd.start());
agent = new SatelliteAgent({
  controllerUrl: url,
  nodeName: opts.node,
  secret,
  hostname,
  providers: new CachingProviderSource({ runner, lvmMetadataOnly: opts.lvmMetadataOnly === true }),
  drbd,
  log,
  capacityIntervalMs: Math.round(capacitySeconds * 1000),
  onConnected: () => process.stdout.write(`satellite ${opts.node} connected to ${url}\n`),
});
agent.start();

let signalled = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (signalled) return;
    signalled = true;
    log.info({ signal }, 'shutting down');
    agent!
      .stop()
      .then(() => drbd.stop())
      .then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
