import { drbdGrossSizeKib } from '../../src/common/drbd-metadata.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import pino from 'pino';
import { GRAPHIQL_DIR } from '../../scripts/build-graphiql.js';
import { startController, type RunningController } from '../../src/bin/start-controller.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';

/**
 * A controller and three real satellite processes on this machine, with FILE/FILE_THIN pools on real files and
 * loop devices: registration, convergence, growth, deletion (also while a satellite is down), kill -9 during an
 * apply, a controller restart and a wrong secret.
 */
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const MiB = 1024 * 1024;

interface Satellite {
  name: string;
  secret: string;
  proc?: ChildProcess;
  output: string;
}

describe('controller with real satellite processes', () => {
  let db: TestDatabase;
  let controller: RunningController;
  let port = 0;
  let dir: string;
  const sats = new Map<string, Satellite>();
  const strays: ChildProcess[] = [];
  let mounted: string | undefined;

  const url = () => `${controller.api.url}/graphql`;
  async function gql(query: string, variables?: Record<string, unknown>): Promise<any> {
    const res = await fetch(url(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
    const body: any = await res.json();
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  }
  const createResource = (i: { resourceDefinition: string; node: string; storagePool: string }) =>
    gql(`mutation($i: CreateResourceInput!) { createResource(input: $i) { name } }`, { i });
  const deleteResource = (i: { resourceDefinition: string; node: string }) =>
    gql(`mutation($r: String!, $n: String!) { deleteResource(resourceDefinition: $r, node: $n) { flags } }`, { r: i.resourceDefinition, n: i.node });

  async function startCtl(): Promise<void> {
    controller = await startController({
      host: '127.0.0.1',
      port,
      dataDir: dir,
      databaseUrl: db.url,
      logLevel: 'silent',
      graphiqlDir: GRAPHIQL_DIR,
      log: pino({ level: process.env.BLOCKPLANE_TEST_LOG_LEVEL ?? 'silent' }),
    });
    port = Number(new URL(controller.api.url).port);
  }

  function startSatellite(sat: Satellite, secret = sat.secret): ChildProcess {
    // Each satellite is a host of its own for DRBD: its node name as host name, its own state directory, and (from
    // createNode) its own loopback address, so the emulated DRBD links between them are real TCP connections.
    const args = ['--node', sat.name, '--hostname', sat.name, '--state-dir', path.join(dir, 'state', sat.name), '--drbd-backend', 'emulated', '--capacity-interval', '2'];
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/bin/satellite.ts', '--controller', `ws://127.0.0.1:${port}`, ...args], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: '', BLOCKPLANE_SATELLITE_SECRET: secret, BLOCKPLANE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout!.on('data', (d) => (sat.output += d));
    proc.stderr!.on('data', (d) => (sat.output += d));
    return proc;
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; satellite output:\n${[...sats.values()].map((s) => `${s.name}: ${s.output.slice(-2000)}`).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const nodeStatus = async (name: string) => (await gql(`{ node(name: "${name}") { connectionStatus lastError appliedRevision desiredRevision } }`)).node;
  const waitStatus = (name: string, status: string, ms?: number) => until(`${name} ${status}`, async () => (await nodeStatus(name)).connectionStatus === status, ms);
  const volumes = async (rd: string, node: string) => (await gql(`{ resource(resourceDefinition: "${rd}", node: "${node}") { volumes { volumeNumber state devicePath backingDevicePath lastError usableSizeKib } } }`)).resource?.volumes;
  const imagesIn = async (node: string, pool = 'thin') => (await readdir(path.join(dir, node, pool))).filter((f) => f.endsWith('.img')).sort();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bp-e2e-sat-'));
    await chmod(dir, 0o755);
    db = await createTestDatabase('embedded');
    await startCtl();
    // s2's thick pool lives on a filesystem of its own (a 128 MiB ext4 image on a loop device), so its capacity moves
    // exactly with what this test allocates, whatever else runs on the machine.
    await mkdir(path.join(dir, 's2', 'thick'), { recursive: true });
    await execa('truncate', ['-s', '128M', path.join(dir, 's2-thick.fs')]);
    await execa('mkfs.ext4', ['-q', '-F', '-m', '0', path.join(dir, 's2-thick.fs')]);
    await execa('mount', ['-o', 'loop', path.join(dir, 's2-thick.fs'), path.join(dir, 's2', 'thick')]);
    mounted = path.join(dir, 's2', 'thick');
    for (const name of ['s1', 's2', 's3']) {
      const created = await gql(`mutation($n: String!, $a: String!) { createNode(input: { name: $n, netInterfaces: [{ address: $a }] }) { satelliteSecret } }`, { n: name, a: `127.0.0.${name.slice(1)}` });
      const sat: Satellite = { name, secret: created.createNode.satelliteSecret, output: '' };
      sats.set(name, sat);
      for (const [pool, kind] of [['thin', 'FILE_THIN'], ['thick', 'FILE']] as const) {
        await mkdir(path.join(dir, name, pool), { recursive: true });
        await gql(`mutation($i: CreateStoragePoolInput!) { createStoragePool(input: $i) { name } }`, {
          i: { node: name, name: pool, providerKind: kind, props: [{ key: 'StorDriver/FileDir', value: path.join(dir, name, pool) }] },
        });
      }
    }
  });

  afterAll(async () => {
    for (const p of [...[...sats.values()].map((s) => s.proc), ...strays]) if (p && p.exitCode === null) p.kill('SIGKILL');
    await controller?.stop().catch(() => undefined);
    // Detach every loop device still backed by a file of this test, then remove the files.
    const { stdout } = await execa('losetup', ['--json', '--list']).catch(() => ({ stdout: '{"loopdevices":[]}' }));
    for (const dev of (JSON.parse(stdout || '{"loopdevices":[]}').loopdevices ?? []) as { name: string; 'back-file'?: string }[]) {
      if (dev['back-file']?.startsWith(dir)) await execa('losetup', ['-d', dev.name]).catch(() => undefined);
    }
    if (mounted) await execa('umount', [mounted]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    await db?.drop();
  });

  it('brings three satellites ONLINE with their capacity reported', async () => {
    for (const sat of sats.values()) sat.proc = startSatellite(sat);
    for (const name of sats.keys()) await waitStatus(name, 'ONLINE');
    const pools = await until('capacity of every pool', async () => {
      const data = await gql(`{ storagePools(filter: { names: ["thin", "thick"] }) { edges { node { name node { name } totalCapacityKib freeCapacityKib lastError } } } }`);
      const all = data.storagePools.edges.map((e: any) => e.node);
      return all.every((p: any) => p.totalCapacityKib !== null) ? all : undefined;
    });
    expect(pools).toHaveLength(6);
    for (const p of pools) {
      expect(BigInt(p.totalCapacityKib)).toBeGreaterThan(0n);
      expect(BigInt(p.freeCapacityKib)).toBeLessThanOrEqual(BigInt(p.totalCapacityKib));
      expect(p.lastError).toBeNull();
    }
    expect(sats.get('s1')!.output).toContain('satellite s1 connected');
  });

  const thickFree = async () =>
    BigInt((await gql(`{ storagePool(node: "s2", name: "thick") { freeCapacityKib } }`)).storagePool.freeCapacityKib);

  it('creates backing files and loop devices on the chosen nodes, grows them and deletes them', async () => {
    const freeBefore = await thickFree();
    await gql(`mutation { createResourceDefinition(input: { name: "data", volumeDefinitions: [{ sizeKib: "32MiB" }, { sizeKib: "16MiB" }] }) { name } }`);
    await createResource({ resourceDefinition: 'data', node: 's1', storagePool: 'thin' });
    await createResource({ resourceDefinition: 'data', node: 's2', storagePool: 'thick' });
    for (const node of ['s1', 's2']) {
      const vols = await until(`volumes on ${node}`, async () => {
        const v = await volumes('data', node);
        return v?.every((x: any) => x.state === 'CREATED') ? v : undefined;
      });
      expect(vols.map((v: any) => [v.volumeNumber, v.usableSizeKib])).toEqual([[0, String(32 * 1024)], [1, String(16 * 1024)]]);
      for (const v of vols) {
        expect(existsSync(v.backingDevicePath)).toBe(true);
        expect(v.devicePath).toMatch(/^\/dev\/drbd\d+$/); // DRBD's device (emulated here: no kernel module)
      }
    }
    expect(await imagesIn('s1')).toEqual(['data_00000.img', 'data_00001.img']);
    expect(await imagesIn('s2', 'thick')).toEqual(['data_00000.img', 'data_00001.img']);
    expect(await imagesIn('s3')).toEqual([]);
    expect(statSync(path.join(dir, 's2', 'thick', 'data_00000.img')).blocks * 512).toBeGreaterThanOrEqual(32 * MiB); // thick: allocated
    // The satellite reports capacity after each change: 48 MiB fewer free on s2's own filesystem.
    await until('capacity after create', async () => freeBefore - (await thickFree()) >= 48n * 1024n);
    const node = (await gql(`{ node(name: "s2") { freeCapacityKib storagePools { freeCapacityKib } } }`)).node;
    expect(BigInt(node.freeCapacityKib)).toBe(node.storagePools.reduce((sum: bigint, p: any) => sum + BigInt(p.freeCapacityKib ?? 0), 0n));

    await gql(`mutation { modifyVolumeDefinition(input: { resourceDefinition: "data", volumeNumber: 0, sizeKib: "48MiB" }) { sizeKib } }`);
    for (const [node, pool] of [['s1', 'thin'], ['s2', 'thick']]) {
      await until(`grown volume on ${node}`, async () => (await volumes('data', node!))?.[0]?.usableSizeKib === String(48 * 1024));
      // The backing file holds the volume plus DRBD's internal metadata.
      expect(statSync(path.join(dir, node!, pool!, 'data_00000.img')).size).toBeGreaterThanOrEqual(Number(drbdGrossSizeKib(48n * 1024n)) * 1024);
      expect(statSync(path.join(dir, node!, pool!, 'data_00000.img')).size).toBeLessThan(49 * MiB);
    }

    await deleteResource({ resourceDefinition: 'data', node: 's2' });
    await until('resource gone on s2', async () => (await volumes('data', 's2')) === undefined);
    expect(await imagesIn('s2', 'thick')).toEqual([]);
    expect(await imagesIn('s1')).toEqual(['data_00000.img', 'data_00001.img']);
    await until('capacity back after delete', async () => freeBefore - (await thickFree()) < 1024n);
  });

  it('shows a pool whose storage is missing with the satellite\'s error, and nothing else breaks', async () => {
    await gql(`mutation($i: CreateStoragePoolInput!) { createStoragePool(input: $i) { name } }`, {
      i: { node: 's1', name: 'broken', providerKind: 'FILE', props: [{ key: 'StorDriver/FileDir', value: path.join(dir, 'no-such-dir') }] },
    });
    const pool = await until('pool error', async () => {
      const p = (await gql(`{ storagePool(node: "s1", name: "broken") { lastError } }`)).storagePool;
      return p.lastError ? p : undefined;
    });
    expect(pool.lastError).toContain(path.join(dir, 'no-such-dir'));
    expect((await nodeStatus('s1')).connectionStatus).toBe('ONLINE');
    expect((await volumes('data', 's1')).every((v: any) => v.state === 'CREATED')).toBe(true);
    // Fixing the storage fixes the pool, without restarting anything.
    await mkdir(path.join(dir, 'no-such-dir'));
    await until('pool healthy', async () => (await gql(`{ storagePool(node: "s1", name: "broken") { lastError } }`)).storagePool.lastError === null);
    await gql(`mutation { deleteStoragePool(node: "s1", name: "broken") { name } }`);
  });

  it('shows a killed satellite OFFLINE within 10 s, and cleans up what was deleted while it was down', async () => {
    await createResource({ resourceDefinition: 'data', node: 's3', storagePool: 'thin' });
    await until('volumes on s3', async () => (await volumes('data', 's3'))?.every((x: any) => x.state === 'CREATED'));
    const s3 = sats.get('s3')!;
    const killedAt = Date.now();
    s3.proc!.kill('SIGKILL');
    await waitStatus('s3', 'OFFLINE', 10_000);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    // The healthy nodes keep working meanwhile.
    await gql(`mutation { modifyVolumeDefinition(input: { resourceDefinition: "data", volumeNumber: 1, sizeKib: "24MiB" }) { sizeKib } }`);
    await until('s1 grew while s3 is down', async () => (await volumes('data', 's1'))?.[1]?.usableSizeKib === String(24 * 1024));

    await deleteResource({ resourceDefinition: 'data', node: 's3' });
    expect(await imagesIn('s3')).toEqual(['data_00000.img', 'data_00001.img']); // nobody there to delete them
    s3.proc = startSatellite(s3);
    await waitStatus('s3', 'ONLINE');
    await until('deleted while offline is cleaned up', async () => (await volumes('data', 's3')) === undefined && (await imagesIn('s3')).length === 0);
  });

  it('converges after a kill -9 as soon as an apply has begun (its first file exists), without orphans or duplicates', async () => {
    const s1 = sats.get('s1')!;
    await gql(`mutation { createResourceDefinition(input: { name: "burst", volumeDefinitions: [{ sizeKib: "8MiB" }, { sizeKib: "8MiB" }, { sizeKib: "8MiB" }, { sizeKib: "8MiB" }] }) { name } }`);
    await createResource({ resourceDefinition: 'burst', node: 's1', storagePool: 'thick' });
    await until('apply under way', async () => (await imagesIn('s1', 'thick')).length > 0, 10_000);
    s1.proc!.kill('SIGKILL');
    s1.proc = startSatellite(s1);
    await waitStatus('s1', 'ONLINE');
    await until('burst converged', async () => (await volumes('burst', 's1'))?.every((x: any) => x.state === 'CREATED'));
    expect(await imagesIn('s1', 'thick')).toEqual(['burst_00000.img', 'burst_00001.img', 'burst_00002.img', 'burst_00003.img']);
    const { stdout } = await execa('losetup', ['--json', '--list']);
    const attached = (JSON.parse(stdout).loopdevices as { 'back-file': string }[]).filter((d) => d['back-file']?.startsWith(path.join(dir, 's1', 'thick')));
    expect(attached.map((d) => path.basename(d['back-file'])).sort()).toEqual(['burst_00000.img', 'burst_00001.img', 'burst_00002.img', 'burst_00003.img']);
    const status = await nodeStatus('s1');
    await until('s1 acknowledged its revision', async () => {
      const n = await nodeStatus('s1');
      return n.appliedRevision === n.desiredRevision;
    });
    expect(status.lastError).toBeNull();
  });

  it('keeps working across a controller restart: satellites reconnect by themselves', async () => {
    await controller.stop();
    for (const name of sats.keys()) expect(sats.get(name)!.proc!.exitCode).toBeNull();
    await startCtl();
    for (const name of sats.keys()) await waitStatus(name, 'ONLINE');
    await deleteResource({ resourceDefinition: 'burst', node: 's1' });
    await until('burst deleted after the restart', async () => (await volumes('burst', 's1')) === undefined && (await imagesIn('s1', 'thick')).length === 0);
  });

  it('refuses a satellite with a wrong secret and shows why on the node', async () => {
    await createResource({ resourceDefinition: 'data', node: 's2', storagePool: 'thin' }).catch(() => undefined);
    const s2 = sats.get('s2')!;
    s2.proc!.kill('SIGTERM');
    await waitStatus('s2', 'OFFLINE');
    const impostor: Satellite = { name: 's2', secret: 'not-the-secret', output: '' };
    const proc = startSatellite(impostor);
    strays.push(proc);
    await waitStatus('s2', 'AUTHENTICATION_ERROR');
    expect((await nodeStatus('s2')).lastError).toMatch(/wrong secret/);
    await until('satellite logs the refusal', async () => /refused the secret|wrong secret/.test(impostor.output));
    expect(proc.exitCode).toBeNull(); // keeps retrying: an operator may fix the secret
    proc.kill('SIGTERM');
  });

  it('spawns 3 replicas across 4 nodes (one offline): backing volumes on the chosen nodes, jobs to DONE, growth, a restart mid-job, deletion', async () => {
    const s4: Satellite = { name: 's4', secret: '', output: '' };
    s4.secret = (await gql(`mutation { createNode(input: { name: "s4", netInterfaces: [{ address: "127.0.0.4" }] }) { satelliteSecret } }`)).createNode.satelliteSecret;
    await mkdir(path.join(dir, 's4', 'thin'), { recursive: true });
    await gql(`mutation($i: CreateStoragePoolInput!) { createStoragePool(input: $i) { name } }`, {
      i: { node: 's4', name: 'thin', providerKind: 'FILE_THIN', props: [{ key: 'StorDriver/FileDir', value: path.join(dir, 's4', 'thin') }] },
    });
    sats.set('s4', s4);
    s4.proc = startSatellite(s4);
    await waitStatus('s4', 'ONLINE');
    expect((await nodeStatus('s2')).connectionStatus).not.toBe('ONLINE'); // s2 is down since the previous test
    await until('capacity of s4', async () => (await gql(`{ storagePool(node: "s4", name: "thin") { freeCapacityKib } }`)).storagePool.freeCapacityKib !== null);
    await gql(`mutation { createResourceGroup(input: { name: "e2e", selectFilter: { placeCount: 3, storagePoolList: ["thin"] } }) { name } }`);

    const job = async (uuid: string) => (await gql(`query($u: ID!) { placementJob(uuid: $u) { state reason } }`, { u: uuid })).placementJob;
    const spawn = async (name: string) =>
      (await gql(`mutation($i: SpawnResourcesInput!) { spawnResources(input: $i) { job { uuid } resourceDefinition { resources { node { name } } } } }`, {
        i: { resourceGroup: 'e2e', resourceDefinition: name, volumeSizes: ['16MiB'] },
      })).spawnResources;

    const first = await spawn('spawned');
    const chosen = first.resourceDefinition.resources.map((r: any) => r.node.name).sort();
    expect(chosen).toEqual(['s1', 's3', 's4']);
    await until('spawn job DONE', async () => (await job(first.job.uuid)).state === 'DONE');
    for (const node of chosen) expect(await imagesIn(node)).toContain('spawned_00000.img');
    expect(await imagesIn('s2')).not.toContain('spawned_00000.img');

    // The grow answers with the definition, whose newest job is the one the grow started.
    const grown = await gql(`mutation { modifyVolumeDefinition(input: { resourceDefinition: "spawned", volumeNumber: 0, sizeKib: "32MiB" }) { resourceDefinition { placementJobs(last: 1) { uuid kind } } } }`);
    const grow = grown.modifyVolumeDefinition.resourceDefinition.placementJobs[0];
    expect(grow.kind).toBe('GROW');
    await until('grow job DONE', async () => (await job(grow.uuid)).state === 'DONE');
    for (const node of chosen) expect(statSync(path.join(dir, node, 'thin', 'spawned_00000.img')).size).toBe(Number(drbdGrossSizeKib(32n * 1024n)) * 1024);

    // A controller restart while a job is under way: the job finishes afterwards, its volumes exist exactly once.
    const second = await spawn('across-restart');
    await controller.stop();
    await startCtl();
    await until('job DONE after the restart', async () => (await job(second.job.uuid)).state === 'DONE');
    for (const node of chosen) expect((await imagesIn(node)).filter((f) => f.startsWith('across-restart_'))).toEqual(['across-restart_00000.img']);

    // One definition goes as a whole (its satellites remove the volumes, then the records go), the other replica by
    // replica, once its initial sync is over (deleting the only UpToDate copy while the others sync is refused).
    await gql(`mutation { deleteResourceDefinition(name: "spawned") { name } }`);
    await until('across-restart in sync', async () => {
      const edges = (await gql(`{ resources(filter: { resourceDefinitions: ["across-restart"] }) { edges { node { health } } } }`)).resources.edges;
      return edges.length === chosen.length && edges.every((e: any) => e.node.health === 'HEALTHY');
    });
    for (const node of chosen) await deleteResource({ resourceDefinition: 'across-restart', node });
    await until('volumes gone', async () => {
      for (const node of chosen) if ((await imagesIn(node)).some((f) => f.startsWith('spawned_') || f.startsWith('across-restart_'))) return false;
      return true;
    });
    const deletes = (await gql(`{ placementJobs(filter: { resourceDefinitions: ["spawned", "across-restart"] }) { edges { node { kind state } } } }`)).placementJobs.edges.map((e: any) => e.node);
    await until('delete jobs DONE', async () => {
      const jobs = (await gql(`{ placementJobs(filter: { resourceDefinitions: ["spawned", "across-restart"], states: [PLACED, REALIZING, FAILED] }) { totalCount } }`)).placementJobs;
      return jobs.totalCount === 0;
    });
    expect(deletes.filter((j: any) => j.kind === 'DELETE')).toHaveLength(4);
    await until('definition gone with its last replica', async () => (await gql(`{ resourceDefinition(name: "spawned") { name } }`)).resourceDefinition === null);
  });
});
