/**
 * The benchmark tool's hollow satellites (scripts/bench/hollow-satellites.ts) against a real in-process controller:
 * five of them connect, a 3-replica resource is spawned on them and becomes HEALTHY over the emulated DRBD links
 * between 127.1.0.1-5, and the in-memory pools report the space it took.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startHollowSatellites, type HollowNode, type HollowSatellites } from '../../scripts/bench/hollow-satellites.js';
import { startTestController, type TestController } from '../support/controller.js';

const NODE_COUNT = 5;
const POOL = 'bench';

interface PoolCapacity {
  node: string;
  free: bigint | null;
}

/** Polls `probe` every 50 ms until it returns a value other than undefined/false; fails after `ms`. */
async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('hollow satellites (benchmark tool)', () => {
  let t: TestController | undefined;
  let hollow: HollowSatellites | undefined;
  let dir: string | undefined;
  const nodes: HollowNode[] = [];

  const pools = async (): Promise<PoolCapacity[]> => {
    const data = await t!.ok<{ storagePools: { edges: { node: { name: string; node: { name: string }; freeCapacityKib: string | null } }[] } }>(
      '{ storagePools(first: 100) { edges { node { name node { name } freeCapacityKib } } } }',
    );
    return data.storagePools.edges
      .map((e) => e.node)
      .filter((p) => p.name === POOL)
      .map((p) => ({ node: p.node.name, free: p.freeCapacityKib === null ? null : BigInt(p.freeCapacityKib) }))
      .sort((a, b) => a.node.localeCompare(b.node));
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bp-test-hollow-'));
    t = await startTestController('embedded');
    for (let i = 1; i <= NODE_COUNT; i++) {
      const name = `hollow-${i}`;
      const address = `127.1.0.${i}`;
      const created = await t.ok<{ createNode: { satelliteSecret: string } }>(
        'mutation($n: String!, $a: String!) { createNode(input: { name: $n, netInterfaces: [{ address: $a }] }) { satelliteSecret } }',
        { n: name, a: address },
      );
      // The memory provider ignores the directory; the controller only wants a FILE_THIN pool to be well-formed.
      await t.ok('mutation($i: CreateStoragePoolInput!) { createStoragePool(input: $i) { name } }', {
        i: { node: name, name: POOL, providerKind: 'FILE_THIN', props: [{ key: 'StorDriver/FileDir', value: '/nonexistent/hollow' }] },
      });
      nodes.push({ name, secret: created.createNode.satelliteSecret, address });
    }
  });

  afterAll(async () => {
    await hollow?.stop();
    await t?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('connect, realize a 3-replica resource over emulated DRBD and report the space it took', async () => {
    hollow = await startHollowSatellites({ controllerUrl: t!.url.replace(/^http/, 'ws'), nodes, resDir: dir! });
    await hollow.allConnected(10_000);
    expect(hollow.connected()).toBe(NODE_COUNT);

    const statuses = await until('every node ONLINE', async () => {
      const data = await t!.ok<{ nodes: { edges: { node: { name: string; connectionStatus: string; satelliteHostname: string | null } }[] } }>(
        '{ nodes(first: 100) { edges { node { name connectionStatus satelliteHostname } } } }',
      );
      const all = data.nodes.edges.map((e) => e.node);
      return all.length === NODE_COUNT && all.every((n) => n.connectionStatus === 'ONLINE') && all;
    });
    expect(statuses.map((n) => n.satelliteHostname).sort()).toEqual(nodes.map((n) => n.name).sort());

    const before = await until('every pool to report its capacity', async () => {
      const p = await pools();
      return p.length === NODE_COUNT && p.every((x) => x.free !== null) && p;
    });

    const spawned = await t!.ok<{ spawnResources: { job: { uuid: string } | null } }>(
      'mutation { spawnResources(input: { resourceDefinition: "h1", volumeSizes: ["1GiB"], selectFilter: { placeCount: 3 } }) { job { uuid } } }',
    );
    expect(spawned.spawnResources.job?.uuid).toEqual(expect.any(String));

    type Replica = { node: { name: string }; health: string; volumes: { state: string; devicePath: string | null; backingDevicePath: string | null }[] };
    const replicas = await until('3 HEALTHY replicas with CREATED volumes', async () => {
      const data = await t!.ok<{ resources: { edges: { node: Replica }[] } }>(
        '{ resources(filter: { resourceDefinitions: ["h1"] }) { edges { node { node { name } health volumes { state devicePath backingDevicePath } } } } }',
      );
      const all = data.resources.edges.map((e) => e.node);
      return all.length === 3 && all.every((r) => r.health === 'HEALTHY' && r.volumes.length === 1 && r.volumes.every((v) => v.state === 'CREATED')) && all;
    });
    for (const r of replicas) {
      expect(r.volumes[0]!.devicePath).toMatch(/^\/dev\/drbd\d+$/);
      expect(r.volumes[0]!.backingDevicePath).toBe(`/dev/hollow/${POOL}/h1_00000`);
    }

    const chosen = new Set(replicas.map((r) => r.node.name));
    const after = await until('the chosen pools to report less free space', async () => {
      const p = await pools();
      return p.every((x) => {
        const old = before.find((b) => b.node === x.node)!.free!;
        return chosen.has(x.node) ? x.free !== null && x.free < old : x.free === old;
      }) && p;
    });
    for (const x of after) {
      const old = before.find((b) => b.node === x.node)!.free!;
      // 1 GiB of data plus DRBD's internal metadata, which the controller adds to the backing volume's size.
      if (chosen.has(x.node)) expect(old - x.free!).toBeGreaterThanOrEqual(1024n * 1024n);
    }

    await hollow.stop();
    expect(hollow.connected()).toBe(0);
    await until('every node OFFLINE', async () => {
      const data = await t!.ok<{ nodes: { edges: { node: { connectionStatus: string } }[] } }>('{ nodes(first: 100) { edges { node { connectionStatus } } } }');
      return data.nodes.edges.every((e) => e.node.connectionStatus === 'OFFLINE');
    });
  }, 30_000);
});
