/**
 * Host side of the kernel lane: boots throwaway qemu guests (TCG; this machine's /dev/kvm cannot run a stock
 * kernel, see shared/reference/vm-kernel.md) with the lane image (image.ts), virtio disks and optionally a link to
 * one other guest, and talks to the agent in each guest (agent.ts) over a virtio-serial port.
 *
 * Isolation and clean-up:
 * - links between guests are qemu `-netdev socket` links on 127.0.0.1 (one guest listens, the other connects);
 *   the guests get no other network, and nothing is bridged to the host's;
 * - every call has a timeout; a guest that does not answer in time fails the call with its console's tail;
 * - {@link Guest.powerOff} asks the agent to end (the guest's init then powers off) and kills qemu when that does
 *   not happen within seconds; tests call it in afterAll/finally. Beyond that, qemu runs under
 *   `setpriv --pdeathsig KILL` (it dies with the test process), each guest has a hard lifetime after which it is
 *   killed, and a process exit handler kills whatever is left.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import type { LaneImage } from './image.js';
import { AGENT_PORT_NAME, decode, encode, type AgentReady, type AgentRequest, type AgentResponse, type ExecResult, type StorageMethod } from './protocol.js';
import type { PoolSpec } from '../../src/satellite/layers/storage/provider.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');

/** A link to another guest: a virtio NIC whose wire is a TCP connection on 127.0.0.1 between the two qemus. */
export interface GuestLink {
  /** This guest's qemu listens on 127.0.0.1:port (start it first), or connects to the other one's. */
  mode: 'listen' | 'connect';
  port: number;
  /** The guest's address on the link, e.g. 169.254.100.1/24 (link-local: the link reaches no other network). */
  ip: string;
  mac: string;
}

/** How to boot one guest. */
export interface GuestOptions {
  /** The guest's host name (DRBD's `on` section name), also used in messages. */
  hostname: string;
  image: LaneImage;
  /** Directory holding agent.mjs (see {@link bundleAgent}); shared read-only with the guest. */
  agentDir: string;
  /** Host directory for this guest's disks, socket and console log. */
  runDir: string;
  memoryMiB?: number;
  cpus?: number;
  /** Raw sparse disks, /dev/vda, /dev/vdb, ... in this order. */
  disksMiB?: number[];
  link?: GuestLink;
  /** From qemu start to the agent's ready message (default 240 s). */
  bootTimeoutMs?: number;
  /** Hard limit on the guest's life: it is killed then, whatever it does (default 15 min). */
  lifetimeMs?: number;
  /** The agent's log level (pino), printed on the guest console. */
  agentLogLevel?: string;
}

/** Default time a call may take before it fails. */
export const DEFAULT_CALL_TIMEOUT_MS = 120_000;

const live = new Set<Guest>();
process.once('exit', () => {
  for (const guest of live) guest.kill();
});

/**
 * Bundles agent.ts (and the satellite code it imports) into `<dir>/agent.mjs` with the repository's esbuild. Done
 * per run, from the working tree, so the guest always runs the current code.
 */
export async function bundleAgent(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const outfile = path.join(dir, 'agent.mjs');
  await execa(
    path.join(REPO, 'node_modules', '.bin', 'esbuild'),
    [
      path.join(HERE, 'agent.ts'),
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--target=node20',
      `--outfile=${outfile}`,
      // Bundled CommonJS dependencies call require(); ESM output has none of its own.
      "--banner:js=import { createRequire as __laneCreateRequire } from 'node:module'; const require = __laneCreateRequire(import.meta.url);",
      '--log-level=warning',
    ],
    { cwd: REPO },
  );
  return outfile;
}

/** A free TCP port on 127.0.0.1 (for a guest link), as the kernel hands one out. */
export async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Resolves once something listens on 127.0.0.1:port (read from /proc/net/tcp, so no connection is made: a qemu
 * socket netdev takes the first connection as its peer).
 */
export async function waitForLoopbackListener(port: number, timeoutMs = 30_000): Promise<void> {
  const wanted = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const table = await readFile('/proc/net/tcp', 'utf8');
    // Columns: sl local_address rem_address st ...; st 0A is LISTEN.
    if (table.split('\n').some((line) => { const cols = line.trim().split(/\s+/); return cols[1] === wanted && cols[3] === '0A'; })) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms (did the listening guest's qemu start?)`);
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  what: string;
}

/** One running guest. Create with {@link Guest.launch}, then await {@link Guest.ready}. */
export class Guest {
  readonly hostname: string;
  /** Resolves with the agent's ready message; rejects when the guest dies or does not boot in time. */
  readonly ready: Promise<AgentReady>;
  /** ms from qemu start to the agent's ready message, once ready. */
  bootMs: number | null = null;

  private readonly qemu: ResultPromise;
  private readonly server: net.Server;
  private readonly consoleLog: WriteStream;
  private console = '';
  private socket: net.Socket | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private exited: { code: number | null; signal: string | null } | null = null;
  private readonly exitedPromise: Promise<void>;
  private readonly lifetime: NodeJS.Timeout;

  private constructor(
    private readonly options: GuestOptions,
    qemu: ResultPromise,
    server: net.Server,
    readonly consoleLogPath: string,
  ) {
    this.hostname = options.hostname;
    this.qemu = qemu;
    this.server = server;
    this.consoleLog = createWriteStream(consoleLogPath);
    const started = performance.now();
    const onChunk = (chunk: Buffer | string) => {
      const text = chunk.toString();
      this.consoleLog.write(text);
      this.console = (this.console + text).slice(-256 * 1024);
    };
    qemu.stdout?.on('data', onChunk);
    qemu.stderr?.on('data', onChunk);
    this.exitedPromise = qemu.then(
      (result) => this.onExit(result.exitCode ?? null, result.signal ?? null),
      () => this.onExit(null, 'spawn failed'),
    );

    this.ready = new Promise<AgentReady>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(this.failure(`did not boot within ${(options.bootTimeoutMs ?? 240_000) / 1000} s`));
        this.kill();
      }, options.bootTimeoutMs ?? 240_000);
      void this.exitedPromise.then(() => {
        clearTimeout(timer);
        reject(this.failure('qemu exited before the agent was ready'));
      });
      server.on('connection', (socket) => {
        if (this.socket) {
          socket.destroy();
          return;
        }
        this.socket = socket;
        let partial = '';
        socket.setEncoding('utf8');
        socket.on('data', (data: string) => {
          const lines = (partial + data).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) {
            if (line.trim() === '') continue;
            let message: AgentResponse | AgentReady;
            try {
              message = decode(line) as AgentResponse | AgentReady;
            } catch {
              onChunk(`[kernel lane: unreadable agent line ${JSON.stringify(line.slice(0, 200))}]\n`);
              continue;
            }
            if ('event' in message) {
              clearTimeout(timer);
              this.bootMs = Math.round(performance.now() - started);
              resolve(message);
            } else {
              this.settle(message);
            }
          }
        });
        socket.on('error', () => undefined);
      });
    });
    // Failures surface through whoever awaits ready; an unobserved rejection must not crash the test process.
    this.ready.catch(() => undefined);
    this.lifetime = setTimeout(() => this.kill(), options.lifetimeMs ?? 15 * 60_000);
    this.lifetime.unref();
    live.add(this);
  }

  /** Starts qemu for a guest; the guest is usable once {@link ready} resolves. */
  static async launch(options: GuestOptions): Promise<Guest> {
    await mkdir(options.runDir, { recursive: true });
    const socketPath = path.join(options.runDir, `${options.hostname}.sock`);
    await rm(socketPath, { force: true });
    // The host listens and qemu connects (chardev client): the channel exists before the guest boots, so nothing the
    // agent writes can be lost to a host that has not connected yet.
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve));

    const drives: string[] = [];
    for (const [index, sizeMiB] of (options.disksMiB ?? []).entries()) {
      const file = path.join(options.runDir, `${options.hostname}-disk${index}.img`);
      const handle = await open(file, 'w');
      await handle.truncate(sizeMiB * 1024 * 1024);
      await handle.close();
      // cache=unsafe: throwaway disks; a guest flush need not reach the host's disk.
      drives.push('-drive', `file=${file},if=virtio,format=raw,cache=unsafe`);
    }
    const link = options.link;
    const network = link
      ? [
          '-netdev',
          `socket,id=link0,${link.mode}=127.0.0.1:${link.port}`,
          // romfile=: no iPXE option ROM (it only adds boot time under SeaBIOS).
          '-device',
          `virtio-net-pci,netdev=link0,mac=${link.mac},romfile=`,
        ]
      : [];
    const append = [
      'console=ttyS0',
      'quiet',
      'panic=-1',
      `bp.hostname=${options.hostname}`,
      `bp.node=${process.execPath}`,
      `bp.loglevel=${options.agentLogLevel ?? 'info'}`,
      ...(link ? [`bp.ip=${link.ip}`] : []),
    ].join(' ');
    const args = [
      '--pdeathsig',
      'KILL',
      '--',
      'qemu-system-x86_64',
      '-accel',
      'tcg',
      '-m',
      String(options.memoryMiB ?? 1024),
      '-smp',
      String(options.cpus ?? 1),
      '-nodefaults',
      '-no-reboot',
      '-display',
      'none',
      '-serial',
      'stdio',
      '-kernel',
      options.image.vmlinuz,
      '-initrd',
      options.image.initrd,
      '-append',
      append,
      '-virtfs',
      'local,path=/,mount_tag=host0,security_model=none,readonly=on,multidevs=remap',
      '-virtfs',
      `local,path=${options.agentDir},mount_tag=lane0,security_model=none,readonly=on`,
      '-device',
      'virtio-serial-pci',
      '-chardev',
      `socket,id=agent,path=${socketPath}`,
      '-device',
      `virtserialport,chardev=agent,name=${AGENT_PORT_NAME}`,
      ...drives,
      ...network,
    ];
    const qemu = execa('setpriv', args, { reject: false, stdin: 'ignore', buffer: false, cleanup: true });
    return new Guest(options, qemu, server, path.join(options.runDir, `${options.hostname}-console.log`));
  }

  /** Sends one request and resolves with the agent's result; rejects with the agent's error, on timeout or exit. */
  call<T = unknown>(request: AgentRequest, timeoutMs = DEFAULT_CALL_TIMEOUT_MS): Promise<T> {
    const what = describe(request);
    if (this.exited) return Promise.reject(this.failure(`cannot ${what}: the guest is off`));
    if (!this.socket) return Promise.reject(this.failure(`cannot ${what}: the agent is not connected (await ready first)`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(this.failure(`${what}: no answer within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer, what });
      this.socket!.write(`${encode({ id, request })}\n`);
    });
  }

  /** Runs a command in the guest through the production ExecaCommandRunner (a non-allowed exit code rejects). */
  exec(argv: string[], options: { timeoutMs?: number; allowedExitCodes?: number[] } = {}): Promise<ExecResult> {
    return this.call<ExecResult>({ op: 'exec', argv, ...options }, (options.timeoutMs ?? 60_000) + 10_000);
  }

  /** Calls a storage provider method in the guest: `createProvider(pool, { runner })[method](...args)`. */
  storage<T = unknown>(pool: PoolSpec, method: StorageMethod, ...args: unknown[]): Promise<T> {
    return this.call<T>({ op: 'storage', pool, method, args });
  }

  /** The last `lines` lines of the guest's console (kernel messages, init, the agent's log). */
  consoleTail(lines = 40): string {
    return this.console.split('\n').slice(-lines).join('\n');
  }

  /**
   * Powers the guest off: asks the agent to end (init then runs `poweroff -f`), and kills qemu if it has not exited
   * within `graceMs`. Never rejects; safe to call more than once and on a guest that never booted.
   */
  async powerOff(graceMs = 20_000): Promise<{ forced: boolean }> {
    let forced = false;
    if (!this.exited && this.bootMs === null) {
      // Never became ready (still booting, or hung): there is no agent to ask.
      forced = true;
      this.kill();
    } else if (!this.exited) {
      await this.call({ op: 'shutdown' }, graceMs).catch(() => undefined);
      const exited = await Promise.race([this.exitedPromise.then(() => true), sleep(graceMs).then(() => false)]);
      if (!exited) {
        forced = true;
        this.kill();
        await this.exitedPromise;
      }
    }
    await this.exitedPromise;
    return { forced };
  }

  /** Kills qemu at once (SIGKILL). */
  kill(): void {
    if (!this.exited) this.qemu.kill('SIGKILL');
  }

  private settle(response: AgentResponse): void {
    const pending = this.pending.get(response.id);
    if (!pending) return;
    this.pending.delete(response.id);
    clearTimeout(pending.timer);
    if (response.ok) pending.resolve(response.result);
    else pending.reject(new Error(`guest ${this.hostname}: ${pending.what} failed: ${response.error.message}`));
  }

  private onExit(code: number | null, signal: string | null): void {
    this.exited = { code, signal };
    clearTimeout(this.lifetime);
    live.delete(this);
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(this.failure(`${pending.what}: the guest went off (qemu exit ${code ?? signal})`));
      this.pending.delete(id);
    }
    this.socket?.destroy();
    this.server.close();
    this.consoleLog.end();
  }

  private failure(message: string): Error {
    return new Error(
      `guest ${this.hostname}: ${message}\n--- last console lines (all: ${this.consoleLogPath}) ---\n${this.consoleTail()}`,
    );
  }
}

function describe(request: AgentRequest): string {
  switch (request.op) {
    case 'exec':
      return `exec \`${request.argv.join(' ')}\``;
    case 'storage':
      return `${request.pool.providerKind} ${request.method}(${request.args.map((a) => encode(a)).join(', ')})`;
    default:
      return request.op;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
