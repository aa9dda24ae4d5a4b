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
