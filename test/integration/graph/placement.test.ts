import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Node } from '../../../src/orm/entities/node.js';
import { StoragePool } from '../../../src/orm/entities/storage-pool.js';
import { startTestController, type TestController } from '../../support/controller.js';
import { DATABASE_KINDS } from '../../support/databases.js';

const GiB = 1024n * 1024n;

describe.each(DATABASE_KINDS)('placementPlan: the autoplacer as a dry run over the database (%s)', (kind) => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController(kind);
    // Four nodes on three sites; capacity and status as satellites would have reported them.
    const layout = [
      ['a1', 'a', 100n],
      ['b1', 'b', 50n],
      ['b2', 'b', 80n],
      ['c1', 'c', 5n],
      ['d1', 'd', 200n],
    ] as const;
    for (const [name, site] of layout) {
      await t.ok(`mutation($n: String!, $s: String!) { createNode(input: { name: $n, netInterfaces: [{ address: "10.0.0.1" }], props: [{ key: "Aux/site", value: $s }] }) { node { name } } }`, { n: name, s: site });
      await t.ok(`mutation($n: String!) { createStoragePool(input: { node: $n, name: "ssd", providerKind: LVM, props: [{ key: "StorDriver/LvmVg", value: "vg0" }] }) { name } }`, { n: name });
    }
    const em = t.controller.orm.em.fork();
    for (const [name, , freeGiB] of layout) {
      const node = await em.findOneOrFail(Node, { name });
      node.connectionStatus = name === 'd1' ? 'OFFLINE' : 'ONLINE';
      const pool = await em.findOneOrFail(StoragePool, { node, name: 'ssd' });
      pool.totalCapacityKib = 200n * GiB;
      pool.freeCapacityKib = freeGiB * GiB;
    }
    await em.flush();
    await t.ok(`mutation { createResourceGroup(input: { name: "spread", selectFilter: { placeCount: 3, storagePoolList: ["ssd"], replicasOnDifferent: ["site"] } }) { name } }`);
  });
  afterAll(async () => {
    await t?.stop();
  });

  const PLAN = `query($i: PlacementPlanInput!) { placementPlan(input: $i) { ok needed sizeKib replicas { node storagePool } rejections { node storagePool reasons codes } explanation } }`;

  it('picks one node per site, preferring free space, and says why each other node was not chosen', async () => {
    const { placementPlan: plan } = await t.ok(PLAN, { i: { resourceGroup: 'spread', volumeSizes: ['3GiB', '1GiB'] } });
    expect(plan).toMatchObject({ ok: true, needed: 3, sizeKib: String(4n * GiB) });
    // Site b has two candidates: b2 (80 GiB free) beats b1 (50 GiB); c1 (5 GiB) is small but enough and the only c.
    expect(plan.replicas.map((r: any) => `${r.node}/${r.storagePool}`).sort()).toEqual(['a1/ssd', 'b2/ssd', 'c1/ssd']);
    // Every node's DfltDisklessStorPool is rejected too (not a diskful pool); look at the nodes and their ssd pools.
    const relevant = plan.rejections.filter((r: any) => r.storagePool === null || r.storagePool === 'ssd');
    const codes = Object.fromEntries(relevant.map((r: any) => [r.node, r.codes]));
    expect(codes.d1).toContain('OFFLINE');
    expect(Object.keys(codes).sort()).toEqual(['b1', 'd1']);
    expect(plan.rejections.filter((r: any) => r.storagePool === 'DfltDisklessStorPool').length).toBe(4); // d1 is rejected as a whole
    expect(plan.rejections.find((r: any) => r.node === 'd1').reasons.join(' ')).toMatch(/offline/i);
  });

  it('explains a placement that cannot be met, naming the full and the offline site', async () => {
    const { placementPlan: plan } = await t.ok(PLAN, { i: { resourceGroup: 'spread', volumeSizes: ['10GiB'] } });
    expect(plan.ok).toBe(false);
    const codes = Object.fromEntries(plan.rejections.map((r: any) => [r.node, r.codes]));
    expect(codes.c1).toContain('NOT_ENOUGH_SPACE');
    expect(codes.d1).toContain('OFFLINE');
    expect(plan.explanation).toMatch(/3/);
    // Overriding the filter for the plan (two replicas) makes it fit, and writes nothing.
    const two = (await t.ok(PLAN, { i: { resourceGroup: 'spread', volumeSizes: ['10GiB'], selectFilter: { placeCount: 2 } } })).placementPlan;
    expect(two.ok).toBe(true);
    expect(two.replicas.map((r: any) => r.node).sort()).toEqual(['a1', 'b2']);
    expect((await t.ok(`{ resourceDefinitions { totalCount } }`)).resourceDefinitions.totalCount).toBe(0);
  });

  it('plans more replicas for an existing definition, counting the ones it has', async () => {
    await t.ok(`mutation { createResourceDefinition(input: { name: "db", resourceGroup: "spread", volumeDefinitions: [{ sizeKib: "2GiB" }] }) { name } }`);
    await t.ok(`mutation { createResource(input: { resourceDefinition: "db", node: "a1", storagePool: "ssd" }) { name } }`);
    const { placementPlan: plan } = await t.ok(PLAN, { i: { resourceDefinition: "db" } });
    expect(plan).toMatchObject({ ok: true, needed: 2 });
    expect(plan.replicas.map((r: any) => r.node).sort()).toEqual(['b2', 'c1']);
    expect(plan.rejections.find((r: any) => r.node === 'a1').codes).toContain('HAS_REPLICA');
  });
});

describe.each(DATABASE_KINDS)('spawnResources and autoplace (%s)', (kind) => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController(kind);
    const em = t.controller.orm.em.fork();
    for (const [name, site] of [['a1', 'a'], ['b1', 'b'], ['c1', 'c'], ['d1', 'd']] as const) {
      await t.ok(`mutation($n: String!, $s: String!) { createNode(input: { name: $n, netInterfaces: [{ address: "10.0.0.1" }], props: [{ key: "Aux/site", value: $s }] }) { node { name } } }`, { n: name, s: site });
      await t.ok(`mutation($n: String!) { createStoragePool(input: { node: $n, name: "ssd", providerKind: LVM_THIN, props: [{ key: "StorDriver/LvmVg", value: "vg0" }, { key: "StorDriver/ThinPool", value: "thin" }] }) { name } }`, { n: name });
      const node = await em.findOneOrFail(Node, { name });
      node.connectionStatus = 'ONLINE';
      const pool = await em.findOneOrFail(StoragePool, { node, name: 'ssd' });
      pool.totalCapacityKib = 1000n * GiB;
      pool.freeCapacityKib = (name === 'd1' ? 900n : 500n) * GiB;
    }
    await em.flush();
    await t.ok(`mutation { createResourceGroup(input: { name: "three", selectFilter: { placeCount: 3, storagePoolList: ["ssd"], replicasOnDifferent: ["site"] } }) { name } }`);
    await t.ok(`mutation { createVolumeGroup(input: { resourceGroup: "three" }) { volumeNumber } }`);
    await t.ok(`mutation { createVolumeGroup(input: { resourceGroup: "three", flags: [GROSS_SIZE] }) { volumeNumber } }`);
  });
  afterAll(async () => {
    await t?.stop();
  });

  const SPAWN = `mutation($i: SpawnResourcesInput!) { spawnResources(input: $i) {
    resourceDefinition { name resourceGroup { name } volumeDefinitions { volumeNumber sizeKib flags drbdMinor } resources { node { name } flags drbdNodeId drbdPort volumes { state } } }
    job { uuid kind state resourceDefinition nodes { node done } }
    plan { ok replicas { node } disklessReplicas { node tieBreaker } } } }`;

  it('spawns a definition from the group and places 3 replicas on 3 sites, with a job answered at once', async () => {
    const { spawnResources: out } = await t.ok(SPAWN, { i: { resourceGroup: 'three', resourceDefinition: 'pvc-1', volumeSizes: ['10GiB', '1GiB'] } });
    const rd = out.resourceDefinition;
    expect(rd.resourceGroup.name).toBe('three');
    expect(rd.volumeDefinitions.map((v: any) => [v.volumeNumber, v.sizeKib, v.flags])).toEqual([[0, String(10n * GiB), []], [1, String(GiB), ['GROSS_SIZE']]]);
    // d1 has the most free space; the other two sites tie and break by name.
    const nodes = rd.resources.map((r: any) => r.node.name).sort();
    expect(nodes).toHaveLength(3);
    expect(nodes).toContain('d1');
    expect(new Set(rd.resources.map((r: any) => r.drbdNodeId)).size).toBe(3);
    expect(rd.resources.every((r: any) => r.volumes.every((v: any) => v.state === 'PENDING'))).toBe(true);
    expect(out.job).toMatchObject({ kind: 'SPAWN', state: 'PLACED', resourceDefinition: 'pvc-1' });
    expect(out.job.nodes.map((n: any) => n.node).sort()).toEqual(nodes);
    expect(out.job.nodes.every((n: any) => n.done === false)).toBe(true);
    const listed = await t.ok(`{ placementJobs(filter: { resourceDefinitions: ["PVC-1"], states: [PLACED, REALIZING] }) { totalCount edges { node { uuid } } } }`);
    expect(listed.placementJobs.edges).toEqual([{ node: { uuid: out.job.uuid } }]);
  });

  it('refuses a spawn that cannot be placed, with the reasons, and writes nothing', async () => {
    // Thin pools oversubscribe 20x: 12000 GiB fits only d1 (900 GiB free), not the 500 GiB pools of the other sites.
    const result = await t.gql(SPAWN, { i: { resourceGroup: 'three', resourceDefinition: 'too-big', volumeSizes: ['12000GiB', '1GiB'] } });
    expect(result.errors?.[0]?.extensions?.code).toBe('PLACEMENT_FAILED');
    expect(result.errors?.[0]?.extensions?.details?.rejections.some((r: any) => r.reasons.join(' ').match(/space|free/i))).toBe(true);
    expect((await t.ok(`{ resourceDefinition(name: "too-big") { name } }`)).resourceDefinition).toBeNull();
    const sizes = await t.gql(SPAWN, { i: { resourceGroup: 'three', resourceDefinition: 'sizes', volumeSizes: ['1GiB'] } });
    expect(sizes.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_VALUE', field: 'input.volumeSizes' });
  });

  it('spawns definitions only, then autoplaces them later', async () => {
    const only = (await t.ok(SPAWN, { i: { resourceGroup: 'three', resourceDefinition: 'later', volumeSizes: ['1GiB', '1GiB'], definitionsOnly: true } })).spawnResources;
    expect(only.job).toBeNull();
    expect(only.resourceDefinition.resources).toEqual([]);
    const placed = (await t.ok(`mutation { autoplaceResourceDefinition(input: { resourceDefinition: "later", selectFilter: { placeCount: 2 } }) { job { kind state } resourceDefinition { resources { node { name } flags } } plan { disklessReplicas { node tieBreaker } } } }`)).autoplaceResourceDefinition;
    expect(placed.job).toMatchObject({ kind: 'AUTOPLACE', state: 'PLACED' });
    const diskful = placed.resourceDefinition.resources.filter((r: any) => !r.flags.includes('DRBD_DISKLESS'));
    expect(diskful).toHaveLength(2);
    // Two diskful replicas: a diskless tie-breaker keeps quorum possible.
    const tie = placed.resourceDefinition.resources.filter((r: any) => r.flags.includes('TIE_BREAKER'));
    expect(tie).toHaveLength(1);
    expect(placed.plan.disklessReplicas).toEqual([{ node: tie[0].node.name, tieBreaker: true }]);
  });

  it('gives 50 concurrent spawns distinct DRBD numbers; each is placed or cleanly refused', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => t.gql(SPAWN, { i: { resourceGroup: 'three', resourceDefinition: `burst-${i}`, volumeSizes: ['1GiB', '1GiB'] } })),
    );
    const failures = results.flatMap((r) => r.errors ?? []);
    expect(failures.filter((e) => !['PLACEMENT_FAILED', 'RANGE_EXHAUSTED'].includes(e.extensions?.code))).toEqual([]);
    const placed = results.filter((r) => !r.errors).length;
    expect(placed).toBe(50);
    const all = await t.ok(`{ resources(first: 1000) { edges { node { node { name } drbdPort resourceDefinition { name } drbdNodeId } } } volumeDefinitions(first: 1000) { edges { node { drbdMinor } } } }`);
    const ports = all.resources.edges.map((e: any) => `${e.node.node.name}:${e.node.drbdPort}`);
    expect(new Set(ports).size).toBe(ports.length);
    const ids = all.resources.edges.map((e: any) => `${e.node.resourceDefinition.name}:${e.node.drbdNodeId}`);
    expect(new Set(ids).size).toBe(ids.length);
    const minors = all.volumeDefinitions.edges.map((e: any) => e.node.drbdMinor);
    expect(new Set(minors).size).toBe(minors.length);
  });
});
