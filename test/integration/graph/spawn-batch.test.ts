import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { Node } from '../../../src/orm/entities/node.js';
import { StoragePool } from '../../../src/orm/entities/storage-pool.js';
import { startTestController, type GraphQLResponse, type TestController } from '../../support/controller.js';
import { DATABASE_KINDS } from '../../support/databases.js';

const GiB = 1024n * 1024n;

/**
 * Concurrent spawns share transactions (SpawnBatcher): each request must still get exactly the outcome it would
 * have had alone, after the ones queued before it. A trigger that sleeps on definitions named "slow..." holds the
 * batcher busy, so the requests sent meanwhile are known to form one batch.
 */
describe.each(DATABASE_KINDS)('spawns batched into shared transactions (%s)', (kind) => {
  let t: TestController;
  const statements: string[] = [];
  const placementLocks = () => statements.filter((s) => s.includes("hashtext('blockplane:placement')")).length;

  beforeAll(async () => {
    t = await startTestController(kind, { onQuery: (sql) => statements.push(sql) });
    const em = t.controller.orm.em.fork();
    for (const name of ['a1', 'b1', 'c1']) {
      await t.ok(`mutation($n: String!) { createNode(input: { name: $n, netInterfaces: [{ address: "10.0.0.1" }] }) { node { name } } }`, { n: name });
      for (const pool of ['small', 'big']) {
        await t.ok(`mutation($n: String!, $p: String!) { createStoragePool(input: { node: $n, name: $p, providerKind: LVM, props: [{ key: "StorDriver/LvmVg", value: $p }] }) { name } }`, { n: name, p: pool });
      }
      const node = await em.findOneOrFail(Node, { name });
      node.connectionStatus = 'ONLINE';
      for (const [pool, gib] of [['small', 10n], ['big', 1000n]] as const) {
        const p = await em.findOneOrFail(StoragePool, { node, name: pool });
        p.totalCapacityKib = gib * GiB;
        p.freeCapacityKib = gib * GiB;
      }
    }
    await em.flush();
    for (const pool of ['small', 'big']) {
      await t.ok(`mutation($p: String!) { createResourceGroup(input: { name: $p, selectFilter: { placeCount: 3, storagePoolList: [$p] } }) { name } }`, { p: pool });
    }
    await t.controller.orm.em.getConnection().execute(`
      create function bench_test_spawn_trap() returns trigger language plpgsql as $$
      begin
        if new.name like 'slow%' then perform pg_sleep(0.4); end if;
        if new.name = 'poison' then raise exception 'poisoned definition name'; end if;
        return new;
      end $$;
      create trigger spawn_trap before insert on resource_definition for each row execute function bench_test_spawn_trap();`);
  });
  afterAll(async () => {
    await t?.stop();
  });

  const SPAWN = `mutation($i: SpawnResourcesInput!) { spawnResources(input: $i) {
    resourceDefinition { name resources { node { name } drbdNodeId drbdPort } volumeDefinitions { drbdMinor } }
    job { uuid nodes { node } } } }`;
  const spawn = (input: Record<string, unknown>) => t.gql(SPAWN, { i: { volumeSizes: ['1GiB'], ...input } });
  const code = (r: GraphQLResponse) => r.errors?.[0]?.extensions?.code as string | undefined;

  /** Sends `slow` first, then `inputs` while its transaction runs; returns the answers to `inputs`. */
  async function behindSlowSpawn(slowName: string, inputs: Record<string, unknown>[]): Promise<GraphQLResponse[]> {
    const slow = spawn({ resourceGroup: 'big', resourceDefinition: slowName });
    await new Promise((r) => setTimeout(r, 100));
    const answers = await Promise.all(inputs.map(spawn));
    await slow;
    return answers;
  }

  it('places a burst on a snapshot updated request by request: exactly what fits is placed, every other request gets its own error', async () => {
    statements.length = 0;
    // 10 GiB thick pools on three nodes hold ten 3-replica spawns of 1 GiB; 13 ask for space.
    const inputs = [
      { resourceGroup: 'small', resourceDefinition: 'dup' },
      { resourceGroup: 'small', resourceDefinition: 'DUP' },
      ...Array.from({ length: 12 }, (_, i) => ({ resourceGroup: 'small', resourceDefinition: `fill-${i}` })),
      { resourceGroup: 'nope', resourceDefinition: 'orphan' },
      { resourceGroup: 'small', resourceDefinition: 'bad-filter', selectFilter: { placeCount: 0 } },
      { resourceGroup: 'small', resourceDefinition: 'only-definitions', definitionsOnly: true },
    ];
    const answers = await behindSlowSpawn('slow', inputs);
    // One transaction for "slow", one for everything sent while it ran.
    expect(placementLocks()).toBe(2);

    const byName = new Map(inputs.map((input, i) => [input.resourceDefinition, answers[i]!]));
    const placedOrFull = [byName.get('dup')!, ...Array.from({ length: 12 }, (_, i) => byName.get(`fill-${i}`)!)];
    expect(placedOrFull.filter((a) => !a.errors)).toHaveLength(10);
    expect(placedOrFull.filter((a) => code(a) === 'PLACEMENT_FAILED')).toHaveLength(3);
    // Requests are placed in the order they were queued: the last ones find the pools full.
    expect(placedOrFull.slice(0, 10).every((a) => !a.errors)).toBe(true);
    expect(code(byName.get('DUP')!)).toBe('ALREADY_EXISTS');
    expect(byName.get('orphan')!.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'input.resourceGroup' });
    expect(byName.get('bad-filter')!.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_VALUE', field: 'input.selectFilter.placeCount' });
    const definitionsOnly = byName.get('only-definitions')!.data!.spawnResources;
    expect(definitionsOnly.job).toBeNull();
    expect(definitionsOnly.resourceDefinition.resources).toEqual([]);

    // Each placed request has its own job, waiting for exactly its own three nodes.
    const placed = placedOrFull.filter((a) => !a.errors).map((a) => a.data!.spawnResources);
    expect(new Set(placed.map((p) => p.job.uuid)).size).toBe(10);
    for (const p of placed) {
      const nodes = p.resourceDefinition.resources.map((r: any) => r.node.name).sort();
      expect(nodes).toEqual(['a1', 'b1', 'c1']);
      expect(p.job.nodes.map((n: any) => n.node).sort()).toEqual(nodes);
      expect(p.resourceDefinition.resources.map((r: any) => r.drbdNodeId).sort()).toEqual([0, 1, 2]);
    }
    // DRBD numbers are distinct across the batch (and with "slow" before it).
    const all = await t.ok(`{ resources(first: 1000) { edges { node { node { name } drbdPort } } } volumeDefinitions(first: 1000) { edges { node { drbdMinor } } } }`);
    const ports = all.resources.edges.map((e: any) => `${e.node.node.name}:${e.node.drbdPort}`);
    expect(new Set(ports).size).toBe(ports.length);
    const minors = all.volumeDefinitions.edges.map((e: any) => e.node.drbdMinor);
    expect(new Set(minors).size).toBe(minors.length);
    // The refused requests wrote nothing; the small pools hold exactly their capacity.
    for (const name of ['fill-9', 'fill-10', 'fill-11', 'orphan', 'bad-filter']) expect((await t.ok(`{ resourceDefinition(name: "${name}") { name } }`)).resourceDefinition).toBeNull();
    const usage = await t.controller.orm.em.getConnection().execute<{ pool: string; n: string }[]>(
      `select p.name as pool, count(*) as n from volume v join storage_pool p on p.id = v.storage_pool_id where p.name = 'small' group by p.id, p.name`,
    );
    expect(usage.map((u) => Number(u.n))).toEqual([10, 10, 10]);
  });

  it('runs the requests of a batch one by one when its writes fail as a whole: only the request at fault fails', async () => {
    statements.length = 0;
    const names = ['ok-1', 'ok-2', 'poison', 'ok-3', 'ok-4'];
    const answers = await behindSlowSpawn('slow-2', names.map((n) => ({ resourceGroup: 'big', resourceDefinition: n })));
    // The shared attempt (one name check for all five), then one transaction per request.
    expect(statements.filter((s) => s.includes('select name_key from resource_definition where name_key in ($1, $2, $3, $4, $5)'))).toHaveLength(1);
    expect(placementLocks()).toBe(1 + 1 + names.length);
    answers.forEach((a, i) => {
      // An unforeseen database error is an internal error: its text goes to the log, not to the client.
      if (names[i] === 'poison') expect(a.errors?.[0]?.message).toMatch(/^Internal server error/);
      else expect(a.errors).toBeUndefined();
    });
    expect((await t.ok(`{ resourceDefinition(name: "poison") { name } }`)).resourceDefinition).toBeNull();
    const ok = await t.ok(`{ resourceDefinitions(first: 100, filter: { names: ["ok-1", "ok-2", "ok-3", "ok-4"] }) { totalCount } }`);
    expect(ok.resourceDefinitions.totalCount).toBe(4);
  });

  /** Runs `body` while another session holds what `lock` takes on node a1, in an open transaction. */
  async function whileHeld(lock: string, body: () => Promise<void>): Promise<void> {
    const client = new pg.Client({ connectionString: t.db.url });
    await client.connect();
    try {
      await client.query('begin');
      await client.query(lock);
      await body();
    } finally {
      await client.query('rollback').catch(() => undefined);
      await client.end();
    }
  }
  const settledWithin = (p: Promise<unknown>, ms: number) => Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

  it("does not wait for a satellite report that holds its node's row (a report locks it FOR NO KEY UPDATE)", async () => {
    await whileHeld("select id from node where name = 'a1' for no key update", async () => {
      const answer = spawn({ resourceGroup: 'big', resourceDefinition: 'beside-a-report' });
      expect(await settledWithin(answer, 5000)).toBe(true);
      expect((await answer).errors).toBeUndefined();
    });
  });

  it("draws a node's revisions one transaction after the other (the per-node revision lock)", async () => {
    let answer: Promise<GraphQLResponse> | undefined;
    await whileHeld("select pg_advisory_xact_lock(hashtext('blockplane:revision'), id) from node where name = 'a1'", async () => {
      answer = spawn({ resourceGroup: 'big', resourceDefinition: 'after-the-lock' });
      // Every replica goes to a1, b1 and c1: the spawn cannot draw a1's revision while the lock is held.
      expect(await settledWithin(answer, 700)).toBe(false);
    });
    expect(await settledWithin(answer!, 5000)).toBe(true);
    expect((await answer!).errors).toBeUndefined();
  });

  it('answers a lone spawn from a transaction of its own, as before batching', async () => {
    statements.length = 0;
    const answer = await spawn({ resourceGroup: 'big', resourceDefinition: 'alone' });
    expect(answer.errors).toBeUndefined();
    expect(placementLocks()).toBe(1);
  });

  it('keeps do-not-place-with apart, within a batch and against replicas already in the database, by name and by regex', async () => {
    const one = (name: string, selectFilter: Record<string, unknown> = {}) => ({ resourceGroup: 'big', resourceDefinition: name, selectFilter: { placeCount: 1, ...selectFilter } });
    const nodeOf = (r: GraphQLResponse) => r.data?.spawnResources.resourceDefinition.resources.map((x: { node: { name: string } }) => x.node.name);
    // One batch: the second request avoids the first, which exists only in the batch's snapshot so far.
    const [a, b] = await behindSlowSpawn('slow-apart', [one('apart-a'), one('apart-b', { doNotPlaceWithRsc: ['APART-A'] })]);
    expect([code(a!), code(b!)]).toEqual([undefined, undefined]);
    expect(nodeOf(a!)).toHaveLength(1);
    expect(nodeOf(b!)).not.toEqual(nodeOf(a!));
    // Alone: the replicas it must avoid are read from the database (only those definitions' replicas are loaded).
    const d = await spawn(one('apart-d', { doNotPlaceWithRsc: ['apart-a', 'apart-b'] }));
    expect(code(d)).toBeUndefined();
    expect(['a1', 'b1', 'c1'].filter((n) => ![...nodeOf(a!), ...nodeOf(b!)].includes(n))).toEqual(nodeOf(d));
    // A regex looks at every replica in the cluster: nothing is left.
    const e = await spawn(one('apart-e', { doNotPlaceWithRscRegex: '^apart-[abd]$' }));
    expect(code(e)).toBe('PLACEMENT_FAILED');
    expect(e.errors?.[0]?.message).toMatch(/do-not-place-with regex/);
  });
});
