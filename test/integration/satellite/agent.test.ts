import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphQLBoolean, GraphQLNonNull, GraphQLObjectType, GraphQLScalarType, GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import pino from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  diffDesiredState,
  PROTOCOL_VERSION,
  SATELLITE_CLOSE,
  SATELLITE_PATH,
  type ApplyReport,
  type DesiredState,
  type DesiredStateMessage,
} from '../../../src/common/protocol/satellite.js';
import { SatelliteAgent, type AgentTiming } from '../../../src/satellite/agent.js';
import { readSatelliteSecret, satelliteEndpoint } from '../../../src/satellite/config.js';
import { ExecaCommandRunner } from '../../../src/satellite/exec/command-runner.js';
import { losetupList } from '../../../src/satellite/layers/storage/file/commands.js';
import { parseLosetupList } from '../../../src/satellite/layers/storage/file/parse.js';
import { CachingProviderSource } from '../../../src/satellite/reconcile/reconcile.js';

/**
 * The agent against a tiny controller: a graphql-ws server on 127.0.0.1 with the satellite endpoint's schema
 * (ping / report(report: JSON!) / desiredState), on the real network stack, with the real FILE_THIN provider making
 * real files and loop devices (needs root and /dev/loop-control). The controller side is scripted by each test.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const runner = new ExecaCommandRunner();
const silent = pino({ level: process.env.TEST_LOG ?? 'silent' });
const FAST: Partial<AgentTiming> = { retryBaseMs: 20, retryMaxMs: 200, refusedRetryMs: 300, resubscribeDelayMs: 50, reportTimeoutMs: 5_000 };

/** A push-driven async iterator, the shape graphql-js subscriptions consume. */
class Channel<T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private waiting: ((r: IteratorResult<T>) => void) | null = null;
  closed = false;
  constructor(private readonly onClose: () => void) {}
  push(value: T): void {
    if (this.closed) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w({ value, done: false });
    } else this.queue.push(value);
  }
  next(): Promise<IteratorResult<T>> {
    if (this.queue.length > 0) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }
  return(): Promise<IteratorResult<T>> {
    this.closed = true;
    this.onClose();
    this.waiting?.({ value: undefined, done: true });
    this.waiting = null;
    return Promise.resolve({ value: undefined, done: true });
  }
  [Symbol.asyncIterator](): this {
    return this;
  }
}

interface Refusal {
  code: number;
  reason: string;
}

/**
 * The controller's satellite endpoint, scripted: the schema of the real one, a current desired state that every new
 * subscription receives in full, `update()` for deltas, and a record of connections, subscriptions and reports.
 */
class FakeController {
  port = 0;
  state: DesiredState;
  readonly connections: { params: Record<string, unknown> | undefined; socket: WebSocket }[] = [];
  readonly reports: ApplyReport[] = [];
  subscriptions = 0;
  /** Decides per connection attempt (1-based) whether to refuse it. */
  refuse: (attempt: number) => Refusal | null = () => null;
  private attempts = 0;
  private readonly channels = new Set<Channel<DesiredStateMessage>>();
  private wss: WebSocketServer | null = null;
  private server: { dispose(): void | Promise<void> } | null = null;
  private readonly waiters: { predicate: (r: ApplyReport) => boolean; resolve: (r: ApplyReport) => void }[] = [];

  constructor(state: DesiredState) {
    this.state = state;
  }

  async start(port = this.port): Promise<void> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port, path: SATELLITE_PATH });
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', reject);
    });
    this.port = (wss.address() as { port: number }).port;
    this.wss = wss;
    this.server = useServer(
      {
        schema: this.schema(),
        onConnect: (ctx) => {
          const refusal = this.refuse(++this.attempts);
          if (refusal) {
            ctx.extra.socket.close(refusal.code, refusal.reason);
            return false;
          }
          this.connections.push({ params: ctx.connectionParams, socket: ctx.extra.socket });
          return true;
        },
      },
      wss,
    );
  }

  /** Simulates a crash: connections are cut without a close handshake, then the port is released. Idempotent. */
  async crash(): Promise<void> {
    const [wss, server] = [this.wss, this.server];
    this.wss = null;
    this.server = null;
    this.channels.clear();
    if (!wss) return;
    for (const c of wss.clients) c.terminate();
    await server?.dispose(); // closes the WebSocketServer and its port too
  }

  /** Makes the new state current and sends every subscriber the delta to it. */
  update(next: DesiredState): void {
    const delta = diffDesiredState(this.state, next);
    this.state = next;
    this.send(delta);
  }

  send(message: DesiredStateMessage): void {
    for (const channel of this.channels) channel.push(message);
  }

  get liveSubscriptions(): number {
    return this.channels.size;
  }

  /** The first report (already received or still to come) that satisfies `predicate`. */
  report(predicate: (r: ApplyReport) => boolean, timeoutMs = 15_000): Promise<ApplyReport> {
    const found = this.reports.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching report within ${timeoutMs} ms; got ${JSON.stringify(this.reports)}`)), timeoutMs);
      this.waiters.push({
        predicate,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
    });
  }

  private schema(): GraphQLSchema {
    const json = new GraphQLScalarType({ name: 'JSON', serialize: (v) => v, parseValue: (v) => v });
    return new GraphQLSchema({
      query: new GraphQLObjectType({ name: 'Query', fields: { ping: { type: new GraphQLNonNull(GraphQLBoolean), resolve: () => true } } }),
      mutation: new GraphQLObjectType({
        name: 'Mutation',
        fields: {
          report: {
            type: new GraphQLNonNull(GraphQLBoolean),
            args: { report: { type: new GraphQLNonNull(json) } },
            resolve: (_root, args: { report: ApplyReport }) => {
              this.reports.push(args.report);
              for (const w of [...this.waiters]) {
                if (w.predicate(args.report)) {
                  this.waiters.splice(this.waiters.indexOf(w), 1);
                  w.resolve(args.report);
                }
              }
              return true;
            },
          },
        },
      }),
      subscription: new GraphQLObjectType({
        name: 'Subscription',
        fields: {
          desiredState: {
            type: new GraphQLNonNull(json),
            subscribe: () => {
              this.subscriptions++;
              const channel: Channel<DesiredStateMessage> = new Channel(() => this.channels.delete(channel));
              this.channels.add(channel);
              channel.push({ type: 'full', state: this.state });
              return channel;
            },
            resolve: (message: DesiredStateMessage) => message,
          },
        },
      }),
    });
  }
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function loopDevicesUnder(dir: string): Promise<{ device: string; backFile: string | null }[]> {
  return parseLosetupList((await runner.run({ argv: losetupList() })).stdout).filter((d) => d.backFile?.startsWith(`${dir}/`));
}

let root = '';
let poolDir = '';
const agents: SatelliteAgent[] = [];
const controllers: FakeController[] = [];

beforeAll(async () => {
  root = await realpath(await mkdtemp(path.join(tmpdir(), 'bp-agent-')));
  poolDir = path.join(root, 'thin');
  await mkdir(poolDir);
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
  await Promise.all(controllers.splice(0).map((c) => c.crash()));
});

afterAll(async () => {
  // Runs after failures too: detach whatever is still attached from our directory.
  if (root) {
    for (const d of await loopDevicesUnder(root).catch(() => [])) {
      await runner.run({ argv: ['losetup', '--detach', d.device] }).catch(() => undefined);
    }
    await rm(root, { recursive: true, force: true });
  }
});

const baseState = (revision: number): DesiredState => ({
  node: 'n1',
  revision,
  pools: [
    { name: 'DfltDisklessStorPool', providerKind: 'DISKLESS', props: {} },
    { name: 'thin', providerKind: 'FILE_THIN', props: { 'StorDriver/FileDir': poolDir } },
  ],
  volumes: [],
  drbdResources: [],
});

async function startController(state: DesiredState): Promise<FakeController> {
  const controller = new FakeController(state);
  await controller.start();
  controllers.push(controller);
  return controller;
}

function startAgent(controller: FakeController, options: { timing?: Partial<AgentTiming>; capacityIntervalMs?: number; secret?: string } = {}): SatelliteAgent {
  const agent = new SatelliteAgent({
    controllerUrl: `ws://127.0.0.1:${controller.port}`,
    nodeName: 'n1',
    secret: options.secret ?? 's3cret',
    hostname: 'host-1',
    providers: new CachingProviderSource({ runner }),
    log: silent,
    capacityIntervalMs: options.capacityIntervalMs ?? 600_000,
    timing: { ...FAST, ...options.timing },
  });
  agents.push(agent);
  agent.start();
  return agent;
}

describe('SatelliteAgent', () => {
  it('syncs, creates and deletes a real volume, resyncs after a bad delta, and reconnects after the controller restarts', async () => {
    const controller = await startController(baseState(1));
    const agent = startAgent(controller);

    // Full state: both pools usable, no volumes; connectionParams carry the identity and the protocol version.
    const first = await controller.report((r) => r.revision === 1);
    expect(controller.connections[0]!.params).toEqual({ nodeName: 'n1', secret: 's3cret', protocolVersion: PROTOCOL_VERSION, hostname: 'host-1' });
    expect(first).toMatchObject({ revision: 1, converged: true, volumes: [] });
    expect(first.pools.map((p) => [p.name, p.error])).toEqual([
      ['DfltDisklessStorPool', null],
      ['thin', null],
    ]);
    expect(first.pools[0]).toMatchObject({ totalKib: '0', freeKib: '0' });
    expect(BigInt(first.pools[1]!.totalKib!)).toBeGreaterThan(0n);
    expect(agent.connected).toBe(true);

    // A delta adds a volume: a real sparse file attached to a real loop device.
    controller.update({ ...baseState(2), volumes: [{ resource: 'r1', volumeNumber: 0, pool: 'thin', sizeKib: '4096' }] });
    const created = await controller.report((r) => r.revision === 2);
    expect(created.converged).toBe(true);
    expect(created.volumes).toEqual([
      { resource: 'r1', volumeNumber: 0, state: 'CREATED', error: null, devicePath: expect.stringMatching(/^\/dev\/loop\d+$/), usableKib: '4096', allocatedKib: expect.any(String) },
    ]);
    const file = path.join(poolDir, 'r1_00000.img');
    expect(existsSync(file)).toBe(true);
    expect(await loopDevicesUnder(poolDir)).toEqual([expect.objectContaining({ device: created.volumes[0]!.devicePath, backFile: file })]);

    // A delta removes it: file and loop device are gone.
    controller.update(baseState(3));
    const deleted = await controller.report((r) => r.revision === 3);
    expect(deleted).toMatchObject({ converged: true, volumes: [{ resource: 'r1', volumeNumber: 0, state: 'DELETED', error: null }] });
    expect(existsSync(file)).toBe(false);
    expect(await loopDevicesUnder(poolDir)).toEqual([]);

    // A delta that does not fit the satellite's revision makes it subscribe again, which brings a full state.
    expect(controller.subscriptions).toBe(1);
    controller.state = baseState(5);
    controller.send({ ...diffDesiredState(baseState(4), baseState(5)) });
    await controller.report((r) => r.revision === 5);
    expect(controller.subscriptions).toBe(2);
    expect(controller.liveSubscriptions).toBe(1);

    // All of that over one connection (reports and resubscriptions must not disturb it).
    expect(controller.connections).toHaveLength(1);

    // The controller dies and comes back on the same port with a newer state: the satellite reconnects by itself.
    const port = controller.port;
    await controller.crash();
    await waitFor('the agent to notice the lost connection', () => !agent.connected);
    controller.state = baseState(10);
    await controller.start(port);
    await controller.report((r) => r.revision === 10);
    expect(controller.connections).toHaveLength(2);
    expect(controller.connections[1]!.params).toEqual(controller.connections[0]!.params);
    expect(agent.connected).toBe(true);
    expect(agent.desired?.revision).toBe(10);
  });

  it('keeps retrying after the controller refuses it, including with codes graphql-ws treats as fatal', async () => {
    const refusals: Refusal[] = [
      { code: SATELLITE_CLOSE.UNKNOWN_NODE, reason: "node 'n1' is not registered" },
      { code: SATELLITE_CLOSE.WRONG_SECRET, reason: 'wrong secret' }, // fatal for graphql-ws: the agent builds a new client
      { code: SATELLITE_CLOSE.ALREADY_CONNECTED, reason: 'already connected' }, // fatal too
      { code: SATELLITE_CLOSE.NOT_A_STORAGE_NODE, reason: 'not a storage node' }, // fatal too
    ];
    const controller = await startController({ ...baseState(1), pools: [baseState(1).pools[0]!] });
    controller.refuse = (attempt) => refusals[attempt - 1] ?? null;
    const started = Date.now();
    startAgent(controller);
    await controller.report((r) => r.revision === 1);
    // Three refusals (unknown node, wrong secret, not a storage node) waited the slow delay (~300 ms here), the
    // "already connected" one only the short backoff.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 270);
    expect(controller.connections).toHaveLength(1);
  });

  it('drops a connection whose controller stops answering pings, and reconnects', async () => {
    const controller = await startController({ ...baseState(1), pools: [baseState(1).pools[0]!] });
    const agent = startAgent(controller, { timing: { pingIntervalMs: 100, pongTimeoutMs: 300 } });
    await controller.report((r) => r.revision === 1);
    // The controller's process hangs: its socket stays open but nothing is read or answered.
    controller.connections[0]!.socket.pause();
    controller.state = baseState(2);
    await controller.report((r) => r.revision === 2);
    expect(controller.connections).toHaveLength(2);
    expect(agent.connected).toBe(true);
    controller.connections[0]!.socket.terminate();
  });

  it('reports partially after the first report: only changed and newly named volumes, complete again on a new connection', async () => {
    const vol = (resource: string) => ({ resource, volumeNumber: 0, pool: 'thin', sizeKib: '4096' });
    const controller = await startController({ ...baseState(1), volumes: [vol('p1'), vol('p2')] });
    startAgent(controller, { capacityIntervalMs: 100 });
    const first = await controller.report((r) => r.revision === 1);
    expect(first.partial).toBeUndefined();
    expect(first.volumes.map((v) => [v.resource, v.state])).toEqual([['p1', 'CREATED'], ['p2', 'CREATED']]);
    // A capacity refresh over the same state: pools as always, no volume (nothing changed).
    const refresh = await controller.report((r) => r !== first && r.revision === 1);
    expect(refresh).toMatchObject({ partial: true, converged: true, volumes: [] });
    expect(refresh.pools.map((p) => p.name)).toEqual(['DfltDisklessStorPool', 'thin']);
    // A delta with a new volume: only that one is reported.
    controller.update({ ...baseState(2), volumes: [vol('p1'), vol('p2'), vol('p3')] });
    const added = await controller.report((r) => r.revision === 2);
    expect(added).toMatchObject({ partial: true, converged: true });
    expect(added.volumes.map((v) => [v.resource, v.state])).toEqual([['p3', 'CREATED']]);
    // A new connection (the controller restarted): complete again.
    const port = controller.port;
    await controller.crash();
    controller.state = { ...baseState(3), volumes: [vol('p1'), vol('p2'), vol('p3')] };
    await controller.start(port);
    const after = await controller.report((r) => r.revision === 3);
    expect(after.partial).toBeUndefined();
    expect(after.volumes.map((v) => v.resource).sort()).toEqual(['p1', 'p2', 'p3']);
  });

  it('refreshes capacity periodically by running passes over the same state', async () => {
    const controller = await startController(baseState(1));
    startAgent(controller, { capacityIntervalMs: 100 });
    await waitFor('five reports', () => controller.reports.length >= 5);
    expect(controller.reports.slice(0, 5).map((r) => [r.revision, r.converged])).toEqual(Array(5).fill([1, true]));
    expect(controller.connections).toHaveLength(1);
  });

  it('reports a pool whose directory is missing as the pool\'s error and keeps retrying; fixing it converges', async () => {
    const missing = path.join(root, 'later');
    const state: DesiredState = {
      node: 'n1',
      revision: 1,
      pools: [{ name: 'later', providerKind: 'FILE_THIN', props: { 'StorDriver/FileDir': missing } }],
      volumes: [{ resource: 'r2', volumeNumber: 0, pool: 'later', sizeKib: '1024' }],
      drbdResources: [],
    };
    const controller = await startController(state);
    startAgent(controller, { timing: { passBackoffMs: 100 } });
    const failed = await controller.report((r) => r.revision === 1);
    expect(failed.converged).toBe(false);
    expect(failed.pools[0]!.error).toContain('does not exist');
    expect(failed.volumes[0]).toMatchObject({ state: 'FAILED', error: expect.stringMatching(/^pool later unusable: /) });
    await mkdir(missing);
    const fixed = await controller.report((r) => r.revision === 1 && r.converged);
    expect(fixed.volumes[0]).toMatchObject({ resource: 'r2', state: 'CREATED', devicePath: expect.stringMatching(/^\/dev\/loop\d+$/) });
    controller.update({ ...state, revision: 2, volumes: [] });
    await controller.report((r) => r.revision === 2 && r.converged);
    expect(existsSync(path.join(missing, 'r2_00000.img'))).toBe(false);
  });

  it('stops promptly while it cannot reach the controller', async () => {
    const controller = await startController(baseState(1));
    const port = controller.port;
    await controller.crash();
    const agent = new SatelliteAgent({
      controllerUrl: `ws://127.0.0.1:${port}`,
      nodeName: 'n1',
      secret: 's3cret',
      providers: new CachingProviderSource({ runner }),
      log: silent,
      timing: { ...FAST, retryBaseMs: 1_000, retryMaxMs: 5_000 },
    });
    agent.start();
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    await agent.stop();
    expect(Date.now() - started).toBeLessThan(200);
    expect(agent.connected).toBe(false);
  });

  it('reports a malformed desired-state message as fatal and keeps the state it has', async () => {
    const controller = await startController({ ...baseState(1), pools: [baseState(1).pools[0]!] });
    const agent = startAgent(controller);
    await controller.report((r) => r.revision === 1);
    controller.send({ type: 'full', state: { node: 'n1', revision: 2, pools: 'all of them' } } as unknown as DesiredStateMessage);
    const report = await controller.report((r) => r.fatal !== undefined);
    expect(report).toEqual({ revision: 1, converged: false, pools: [], volumes: [], fatal: 'malformed desired-state message: state.pools: expected an array' });
    expect(agent.desired?.revision).toBe(1);
  });

  it('reports a desired state meant for another node as fatal instead of applying it', async () => {
    const controller = await startController({ ...baseState(4), node: 'n2' });
    const agent = startAgent(controller);
    const report = await controller.report((r) => r.revision === 4);
    expect(report).toEqual({ revision: 4, converged: false, pools: [], volumes: [], fatal: "received the desired state of node 'n2', but this satellite is node 'n1'" });
    expect(agent.desired).toBeNull();
  });
});

describe('satellite configuration', () => {
  it('derives the satellite endpoint from a controller address', () => {
    expect(satelliteEndpoint('ws://127.0.0.1:3370')).toBe('ws://127.0.0.1:3370/satellite');
    expect(satelliteEndpoint('http://ctrl.example.com:3370/')).toBe('ws://ctrl.example.com:3370/satellite');
    expect(satelliteEndpoint('https://ctrl.example.com')).toBe('wss://ctrl.example.com/satellite');
    expect(satelliteEndpoint('wss://proxy.example.com/blockplane/satellite')).toBe('wss://proxy.example.com/blockplane/satellite');
    expect(() => satelliteEndpoint('ctrl:3370')).toThrow('use ws://, wss://, http:// or https://');
    expect(() => satelliteEndpoint('not a url')).toThrow("'not a url' is not a controller URL");
  });

  it('reads the secret from a file (trimmed) or a value, and says how to give one when neither is there', async () => {
    const file = path.join(root, 'secret');
    await writeFile(file, 'from-file\n');
    expect(await readSatelliteSecret({ file, value: 'from-env' })).toBe('from-file');
    expect(await readSatelliteSecret({ value: ' from-env ' })).toBe('from-env');
    await expect(readSatelliteSecret({ value: '' })).rejects.toThrow('no satellite secret: pass --secret-file');
    await expect(readSatelliteSecret({ file: path.join(root, 'nope') })).rejects.toThrow('cannot read the satellite secret file');
    await writeFile(file, '\n');
    await expect(readSatelliteSecret({ file })).rejects.toThrow('is empty');
  });
});

describe('blockplane-satellite (src/bin/satellite.ts)', () => {
  /** Runs the CLI; resolves with its output once `until` matches stdout (then sends SIGTERM) or it exits. */
  function runCli(args: string[], env: Record<string, string>, until?: RegExp): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/bin/satellite.ts'), ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', BLOCKPLANE_LOG_LEVEL: 'warn', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`satellite did not finish in time; stdout: ${stdout}; stderr: ${stderr}`));
      }, 30_000);
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (until?.test(stdout)) child.kill('SIGTERM');
      });
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  it('connects, prints one line saying so, and exits 0 on SIGTERM', async () => {
    const controller = await startController({ ...baseState(1), pools: [baseState(1).pools[0]!] });
    const url = `ws://127.0.0.1:${controller.port}/satellite`;
    const result = await runCli(['--controller', `ws://127.0.0.1:${controller.port}`, '--node', 'n1'], { BLOCKPLANE_SATELLITE_SECRET: 'from-env' }, /connected to/);
    expect(result.stdout).toContain(`satellite n1 connected to ${url}\n`);
    expect(result.code).toBe(0);
    expect(controller.connections[0]!.params).toMatchObject({ nodeName: 'n1', secret: 'from-env', protocolVersion: PROTOCOL_VERSION });
  });

  it('refuses to start without a secret, saying how to give one', async () => {
    const result = await runCli(['--controller', 'ws://127.0.0.1:1'], {});
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no satellite secret: pass --secret-file <path> (or BLOCKPLANE_SATELLITE_SECRET_FILE), or set BLOCKPLANE_SATELLITE_SECRET');
  });
});
