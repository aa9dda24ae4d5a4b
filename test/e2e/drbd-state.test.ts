import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { createClient, type Client } from 'graphql-ws';
import pino from 'pino';
import WebSocket from 'ws';
import { GRAPHIQL_DIR } from '../../scripts/build-graphiql.js';
import { startController, type RunningController } from '../../src/bin/start-controller.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';

/**
 * The DRBD state a client sees over graphql-ws while a controller and three real satellite processes (emulated DRBD
 * backend, real TCP links between 127.0.2.1-3) spawn a 2-volume resource: volume lifecycle to CREATED, the initial
 * resync to UpToDate everywhere, the current state for a late subscriber, a kill -9 of one satellite (its peers
 * DEGRADED, itself UNKNOWN) and its return to HEALTHY after a restart.
 */
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const NODES = ['s1', 's2', 's3'] as const;
/**
 * The emulated backend resyncs at 1 GiB/s and reports every 100 ms: 64 MiB would be done before its first progress
 * report could be seen. 1 GiB takes about a second (sparse FILE_THIN files: nothing is written).
 */
const VOLUME_SIZES = ['1GiB', '512MiB'];
const SYNC_STATES = new Set(['SyncSource', 'SyncTarget']);

interface Satellite {
  name: string;
  secret: string;
  proc?: ChildProcess;
  output: string;
}

interface Replication {
  peer: string;
  connectionState: string;
  replicationState: string;
  peerDiskState: string;
  donePercent: number | null;
}
interface DrbdStateEvent {
  resource: string;
  node: string;
  health: string;
  at: string;
  drbd: {
    backend: string;
    role: string;
    health: string;
    updatedAt: string;
    volumes: { volumeNumber: number; diskState: string; health: string; replication: Replication[] }[];
    connections: { peer: string; connectionState: string; peerDevices: { volumeNumber: number; replicationState: string; peerDiskState: string; donePercent: number | null }[] }[];
  } | null;
}
interface VolumeEvent {
  resource: string;
  node: string;
  volumeNumber: number;
  state: string;
  error: string | null;
  at: string;
}

const DRBD_STATE = `subscription($r: String) { drbdState(resource: $r) {
  resource node health at
  drbd { backend role health updatedAt
    volumes { volumeNumber diskState health replication { peer connectionState replicationState peerDiskState donePercent } }
    connections { peer connectionState peerDevices { volumeNumber replicationState peerDiskState donePercent } } } } }`;
const VOLUME_EVENTS = `subscription($r: String) { volumeEvents(resource: $r) { resource node volumeNumber state error at } }`;

/** What a subscription delivered so far, in arrival order. */
interface Recording<T> {
  events: T[];
  errors: unknown[];
  stop: () => void;
}

function record<T>(client: Client, query: string, field: string, variables: Record<string, unknown>): Recording<T> {
  const recording: Recording<T> = { events: [], errors: [], stop: () => undefined };
  recording.stop = client.subscribe(
    { query, variables },
    {
      next: (message) => {
        if (message.errors) recording.errors.push(message.errors);
        else recording.events.push((message.data as Record<string, T>)[field]!);
      },
      error: (error) => recording.errors.push(error),
      complete: () => undefined,
    },
  );
  return recording;
}

/** A replica whose every volume is UpToDate and replicates Connected/Established/UpToDate to both other nodes. */
function fullyHealthy(e: DrbdStateEvent): boolean {
  const peers = NODES.filter((n) => n !== e.node);
  return (
    e.health === 'HEALTHY' &&
    e.drbd !== null &&
    e.drbd.health === 'HEALTHY' &&
    e.drbd.volumes.length === VOLUME_SIZES.length &&
    e.drbd.volumes.every(
      (v) =>
        v.diskState === 'UpToDate' &&
        v.health === 'HEALTHY' &&
        v.replication.map((r) => r.peer).sort().join() === peers.join() &&
        v.replication.every((r) => r.connectionState === 'Connected' && r.replicationState === 'Established' && r.peerDiskState === 'UpToDate'),
    ) &&
    e.drbd.connections.map((c) => c.peer).sort().join() === peers.join() &&
    e.drbd.connections.every((c) => c.connectionState === 'Connected')
  );
}

/** A replica caught in a resync: a volume Inconsistent here, or syncing to/from a peer. */
function showsSync(e: DrbdStateEvent): boolean {
  return e.drbd?.volumes.some((v) => v.diskState === 'Inconsistent' || v.replication.some((r) => SYNC_STATES.has(r.replicationState))) ?? false;
}

/** The last event per node among `events`. */
function latest(events: readonly DrbdStateEvent[]): Map<string, DrbdStateEvent> {
  return new Map(events.map((e) => [e.node, e]));
}

describe('DRBD state and volume lifecycle over graphql-ws, with real satellite processes', () => {
  let db: TestDatabase;
  let controller: RunningController;
  let dir: string;
  let watcher: Client;
  let late: Client | undefined;
  let drbd: Recording<DrbdStateEvent>;
  let lifecycle: Recording<VolumeEvent>;
  const sats = new Map<string, Satellite>();

  const url = () => `${controller.api.url}/graphql`;
  async function gql(query: string, variables?: Record<string, unknown>): Promise<any> {
    const res = await fetch(url(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
    const body: any = await res.json();
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  }
  const wsClient = () => createClient({ url: url().replace(/^http/, 'ws'), webSocketImpl: WebSocket });

  function startSatellite(sat: Satellite): ChildProcess {
    // Own host name, state directory (emulated DRBD metadata survives a restart there) and loopback address per node.
    const args = ['--node', sat.name, '--hostname', sat.name, '--state-dir', path.join(dir, 'state', sat.name), '--drbd-backend', 'emulated', '--capacity-interval', '2'];
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/bin/satellite.ts', '--controller', url().replace(/^http/, 'ws').replace(/\/graphql$/, ''), ...args], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: '', BLOCKPLANE_SATELLITE_SECRET: sat.secret, BLOCKPLANE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout!.on('data', (d) => (sat.output += d));
    proc.stderr!.on('data', (d) => (sat.output += d));
    return proc;
  }

  async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 20_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > end) {
        const tail = drbd?.events.slice(-6).map((e) => JSON.stringify(e)).join('\n');
        throw new Error(
          `timed out waiting for ${what}; last drbdState events:\n${tail}\nsubscription errors: ${JSON.stringify([...(drbd?.errors ?? []), ...(lifecycle?.errors ?? [])])}\n` +
            `satellite output:\n${[...sats.values()].map((s) => `${s.name}: ${s.output.slice(-2000)}`).join('\n')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const connectionStatus = async (name: string) => (await gql(`{ node(name: "${name}") { connectionStatus } }`)).node.connectionStatus;
  const replicasWithHealth = async (health: string) =>
    (await gql(`{ resources(filter: { resourceDefinitions: ["r1"], health: [${health}] }) { edges { node { node { name } health drbd { health } } } } }`)).resources.edges
      .map((e: any) => e.node)
      .sort((a: any, b: any) => a.node.name.localeCompare(b.node.name));

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bp-e2e-drbd-'));
    await chmod(dir, 0o755);
    db = await createTestDatabase('embedded');
    controller = await startController({
      host: '127.0.0.1',
      port: 0,
      dataDir: dir,
      databaseUrl: db.url,
      logLevel: 'silent',
      graphiqlDir: GRAPHIQL_DIR,
      log: pino({ level: process.env.BLOCKPLANE_TEST_LOG_LEVEL ?? 'silent' }),
    });
    for (const name of NODES) {
      // 127.0.2.x, not satellites.test.ts's 127.0.0.x: both controllers hand out DRBD ports from 7000, and jest may run
      // the two files at once.
      const created = await gql(`mutation($n: String!, $a: String!) { createNode(input: { name: $n, netInterfaces: [{ address: $a }] }) { satelliteSecret } }`, { n: name, a: `127.0.2.${name.slice(1)}` });
      sats.set(name, { name, secret: created.createNode.satelliteSecret, output: '' });
      await mkdir(path.join(dir, name, 'thin'), { recursive: true });
      await gql(`mutation($i: CreateStoragePoolInput!) { createStoragePool(input: $i) { name } }`, {
        i: { node: name, name: 'thin', providerKind: 'FILE_THIN', props: [{ key: 'StorDriver/FileDir', value: path.join(dir, name, 'thin') }] },
      });
    }
    for (const sat of sats.values()) sat.proc = startSatellite(sat);
    for (const name of NODES) await until(`${name} ONLINE`, async () => (await connectionStatus(name)) === 'ONLINE');
    // The autoplacer only places on pools with reported capacity.
    await until('capacity of every pool', async () => {
      const pools = (await gql(`{ storagePools(filter: { names: ["thin"] }) { edges { node { freeCapacityKib } } } }`)).storagePools.edges;
      return pools.length === NODES.length && pools.every((p: any) => p.node.freeCapacityKib !== null);
    });
    watcher = wsClient();
  });

  afterAll(async () => {
    // Waits for each satellite's pipes to close too, or jest's worker would be left holding them.
    const running = [...sats.values()].flatMap((s) => (s.proc && s.proc.exitCode === null && s.proc.signalCode === null ? [s.proc] : []));
    await Promise.all(running.map((proc) => new Promise((resolve) => proc.once('close', resolve).kill('SIGKILL'))));
    drbd?.stop();
    lifecycle?.stop();
    await watcher?.dispose();
    await late?.dispose();
    await controller?.stop().catch(() => undefined);
    // Detach every loop device still backed by a file of this test, then remove the files.
    const { stdout } = await execa('losetup', ['--json', '--list']).catch(() => ({ stdout: '{"loopdevices":[]}' }));
    for (const dev of (JSON.parse(stdout || '{"loopdevices":[]}').loopdevices ?? []) as { name: string; 'back-file'?: string }[]) {
      if (dir && dev['back-file']?.startsWith(dir)) await execa('losetup', ['-d', dev.name]).catch(() => undefined);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
    await db?.drop();
  });

  it('streams every volume from PENDING/CREATING to CREATED and every replica through a resync to UpToDate', async () => {
    drbd = record<DrbdStateEvent>(watcher, DRBD_STATE, 'drbdState', { r: 'r1' });
    lifecycle = record<VolumeEvent>(watcher, VOLUME_EVENTS, 'volumeEvents', { r: 'r1' });
    // graphql-ws has no per-subscription acknowledgement. A third subscription on the same socket, sent after the two,
    // answers only after a database read, so the server has set the two up by then. (Were one still starting, nothing
    // would be lost: both send the current state first.)
    const barrier = record<unknown>(watcher, `subscription { nodeStatus(names: ["s1"]) { name } }`, 'nodeStatus', {});
    await until('the barrier subscription answers', () => barrier.events.length > 0);
    barrier.stop();
    expect(drbd.events).toEqual([]); // r1 does not exist yet: no current state to send
    expect(lifecycle.events).toEqual([]);

    const spawned = await gql(
      `mutation { spawnResources(input: { resourceGroup: "DfltRscGrp", resourceDefinition: "r1", volumeSizes: ${JSON.stringify(VOLUME_SIZES)}, selectFilter: { placeCount: 3 } }) { job { uuid state } resourceDefinition { resources { node { name } } } } }`,
    );
    expect(spawned.spawnResources.job.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(spawned.spawnResources.resourceDefinition.resources.map((r: any) => r.node.name).sort()).toEqual([...NODES]);

    await until(
      'every replica HEALTHY and UpToDate',
      () => {
        const now = latest(drbd.events);
        return NODES.every((n) => now.has(n) && fullyHealthy(now.get(n)!));
      },
      30_000,
    );
    const pairs = NODES.flatMap((node) => VOLUME_SIZES.map((_, volumeNumber) => `${node}/${volumeNumber}`));
    await until('every volume CREATED', () => pairs.every((p) => lifecycle.events.some((e) => `${e.node}/${e.volumeNumber}` === p && e.state === 'CREATED')));

    // Volume lifecycle: per volume, PENDING or CREATING first, CREATED last, never backwards (a step may repeat: each
    // event re-reads the volume), never FAILED.
    const order = ['PENDING', 'CREATING', 'CREATED'];
    expect(lifecycle.errors).toEqual([]);
    expect(new Set(lifecycle.events.map((e) => `${e.node}/${e.volumeNumber}`))).toEqual(new Set(pairs));
    for (const pair of pairs) {
      const states = lifecycle.events.filter((e) => `${e.node}/${e.volumeNumber}` === pair).map((e) => e.state);
      expect(['PENDING', 'CREATING']).toContain(states[0]);
      expect(states.at(-1)).toBe('CREATED');
      const ranks = states.map((s) => order.indexOf(s));
      expect(ranks).not.toContain(-1); // no FAILED (nor anything else)
      expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    }
    expect(lifecycle.events.every((e) => e.resource === 'r1' && e.error === null)).toBe(true);

    // DRBD state: only r1, from the emulated backend, and a resync was visible before UpToDate on some node.
    expect(drbd.errors).toEqual([]);
    expect(drbd.events.every((e) => e.resource === 'r1' && NODES.includes(e.node as (typeof NODES)[number]))).toBe(true);
    expect(drbd.events.every((e) => e.drbd === null || e.drbd.backend === 'emulated')).toBe(true);
    // Per node, the first event showing a resync (SyncSource/SyncTarget with progress strictly between 0 and 100 %)
    // comes before its first fully healthy event, on at least one node.
    const inProgress = (e: DrbdStateEvent) =>
      e.drbd?.volumes.some((v) => v.replication.some((r) => SYNC_STATES.has(r.replicationState) && r.donePercent !== null && r.donePercent > 0 && r.donePercent < 100)) ?? false;
    const syncedBeforeHealthy = NODES.filter((node) => {
      const own = drbd.events.filter((e) => e.node === node);
      const firstSync = own.findIndex(inProgress);
      return firstSync >= 0 && firstSync < own.findIndex(fullyHealthy);
    });
    expect(syncedBeforeHealthy.length).toBeGreaterThan(0);
    // Health follows: never HEALTHY mid-resync; while data flows over a link the replica has quorum, so it is SYNCING
    // or (a peer still unreachable or behind) DEGRADED, never FAILED. (Which of the two depends on how the nodes'
    // connections and syncs interleave, so neither is required.)
    expect(drbd.events.filter(showsSync).filter((e) => e.health === 'HEALTHY' || e.drbd!.health === 'HEALTHY')).toEqual([]);
    expect(drbd.events.filter(inProgress).map((e) => e.health).filter((h) => h !== 'SYNCING' && h !== 'DEGRADED')).toEqual([]);
  });

  it('gives a later subscriber the current state first: three HEALTHY replicas, with nothing changing', async () => {
    // Settled first: every satellite applied its latest desired state (DRBD_INITIALIZED moved the revisions).
    await until('every node converged', async () => {
      const nodes = (await gql(`{ nodes { edges { node { appliedRevision desiredRevision } } } }`)).nodes.edges;
      return nodes.every((e: any) => e.node.appliedRevision === e.node.desiredRevision);
    });
    const before = drbd.events.length;
    const now = latest(drbd.events);
    const subscribedAt = new Date();
    late = wsClient();
    const current = record<DrbdStateEvent>(late, DRBD_STATE, 'drbdState', { r: 'r1' });
    await until('the current state', () => current.events.length >= NODES.length);
    // Long enough for a change to show up, if the three events were changes rather than the current state.
    await new Promise((r) => setTimeout(r, 500));
    current.stop();
    expect(current.errors).toEqual([]);
    expect(current.events.map((e) => e.node).sort()).toEqual([...NODES]);
    for (const e of current.events) {
      expect(fullyHealthy(e)).toBe(true);
      // Exactly what the first subscriber last saw of that replica, received by the controller before this
      // subscription started.
      expect(e.drbd).toEqual(now.get(e.node)!.drbd);
      expect(new Date(e.drbd!.updatedAt).getTime()).toBeLessThanOrEqual(subscribedAt.getTime());
    }
    // Nothing changed meanwhile: the first subscriber saw no event either.
    expect(drbd.events.length).toBe(before);
  });

  it('shows the peers of a kill -9ed satellite DEGRADED with the link down, and the killed one UNKNOWN', async () => {
    const s3 = sats.get('s3')!;
    const from = drbd.events.length;
    const killedAt = Date.now();
    s3.proc!.kill('SIGKILL');
    const since = () => drbd.events.slice(from);
    const degradedView = (node: string) => (e: DrbdStateEvent) =>
      e.node === node && e.health === 'DEGRADED' && e.drbd?.connections.find((c) => c.peer === 's3')?.connectionState !== 'Connected';
    const seen = await until('s1 and s2 DEGRADED, s3 UNKNOWN', () => {
      const s1 = since().find(degradedView('s1'));
      const s2 = since().find(degradedView('s2'));
      const gone = since().find((e) => e.node === 's3' && e.drbd === null);
      return s1 && s2 && gone ? { s1, s2, gone } : undefined;
    });
    // The killed process's sockets close at once: no keepalive timeout is needed to notice.
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    expect(seen.gone.health).toBe('UNKNOWN');
    for (const e of [seen.s1, seen.s2]) {
      const other = e.node === 's1' ? 's2' : 's1';
      const toS3 = e.drbd!.connections.find((c) => c.peer === 's3')!;
      expect(toS3.connectionState).not.toBe('StandAlone'); // lost, not refused: DRBD keeps trying
      expect(e.drbd!.connections.find((c) => c.peer === other)!.connectionState).toBe('Connected');
      for (const v of e.drbd!.volumes) {
        expect(v.diskState).toBe('UpToDate'); // the local copy is fine
        expect(v.health).toBe('DEGRADED');
        const r = v.replication.find((x) => x.peer === 's3')!;
        expect(r.connectionState).not.toBe('Connected');
        expect(r.peerDiskState).not.toBe('UpToDate');
        expect(v.replication.find((x) => x.peer === other)).toMatchObject({ connectionState: 'Connected', replicationState: 'Established', peerDiskState: 'UpToDate' });
      }
    }

    expect((await replicasWithHealth('DEGRADED')).map((r: any) => [r.node.name, r.health, r.drbd?.health])).toEqual([
      ['s1', 'DEGRADED', 'DEGRADED'],
      ['s2', 'DEGRADED', 'DEGRADED'],
    ]);
    expect((await replicasWithHealth('UNKNOWN')).map((r: any) => [r.node.name, r.health, r.drbd])).toEqual([['s3', 'UNKNOWN', null]]);
    expect(await replicasWithHealth('HEALTHY')).toEqual([]);
  });

  it('brings every replica back to HEALTHY once the killed satellite restarts', async () => {
    const s3 = sats.get('s3')!;
    const from = drbd.events.length;
    s3.proc = startSatellite(s3);
    await until('s3 ONLINE', async () => (await connectionStatus('s3')) === 'ONLINE');
    await until('every replica HEALTHY again', () => {
      const now = latest(drbd.events.slice(from));
      return NODES.every((n) => now.has(n) && fullyHealthy(now.get(n)!));
    });
    expect(drbd.errors).toEqual([]);
    expect((await replicasWithHealth('HEALTHY')).map((r: any) => r.node.name)).toEqual([...NODES]);
    expect(await replicasWithHealth('DEGRADED')).toEqual([]);
    expect(await replicasWithHealth('UNKNOWN')).toEqual([]);
  });
});
