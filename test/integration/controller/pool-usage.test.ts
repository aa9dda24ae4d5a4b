import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { compactPoolUsage } from '../../../src/controller/services/placement.js';
import { createResourceRecord, deleteResourceRecord } from '../../../src/controller/services/resource.js';
import { deleteResourceDefinition, modifyVolumeDefinition } from '../../../src/controller/services/resource-definition.js';
import { startTestController, type TestController } from '../../support/controller.js';
import { DATABASE_KINDS } from '../../support/databases.js';

/**
 * storage_pool_usage is kept by database triggers (volume inserts, updates and deletes; resizes; the DELETE flag of a
 * resource). After every kind of change it must say exactly what aggregating every volume says, which is what the
 * autoplacer read before it existed.
 */
describe.each(DATABASE_KINDS)('storage pool usage kept by the database (%s)', (kind) => {
  let t: TestController;
  const sql = <T = Record<string, unknown>>(query: string, params: unknown[] = []) => t.service().em.getConnection().execute<T[]>(query, params);

  /** Per pool: reserved KiB and resources, from every volume (the old aggregate). */
  const aggregated = async () =>
    sql<{ pool: number; reserved: string; users: string }>(
      `select v.storage_pool_id as pool, sum(vd.size_kib)::text as reserved, count(distinct v.resource_id)::text as users
         from volume v join volume_definition vd on vd.id = v.volume_definition_id join resource r on r.id = v.resource_id
        where not ('DELETE' = any(r.flags)) group by v.storage_pool_id order by 1`,
    );
  /** The same from the maintained rows. */
  const maintained = async () =>
    sql<{ pool: number; reserved: string; users: string }>(
      `select pool_id as pool, sum(reserved_kib)::text as reserved, sum(resources)::text as users from storage_pool_usage
        group by pool_id having sum(reserved_kib) <> 0 or sum(resources) <> 0 order by 1`,
    );
  const expectInStep = async () => {
    const expected = await aggregated();
    expect(await maintained()).toEqual(expected);
    return expected;
  };
  const poolId = async (node: string, pool: string) =>
    (await sql<{ id: number }>('select p.id from storage_pool p join node n on n.id = p.node_id where n.name = ? and p.name = ?', [node, pool]))[0]!.id;

  beforeAll(async () => {
    t = await startTestController(kind);
    for (const [i, node] of ['u-a', 'u-b', 'u-c'].entries()) {
      await t.ok(`mutation($n: String!, $a: String!) { createNode(input: { name: $n, netInterfaces: [{ address: $a }] }) { satelliteSecret } }`, { n: node, a: `10.9.0.${i + 1}` });
      for (const pool of ['fast', 'slow']) {
        await t.ok(`mutation($n: String!, $p: String!, $d: String!) { createStoragePool(input: { node: $n, name: $p, providerKind: FILE_THIN, props: [{ key: "StorDriver/FileDir", value: $d }] }) { name } }`, { n: node, p: pool, d: `/srv/${pool}` });
      }
    }
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('follows creation, resizing, deletion flags, removal and compaction', async () => {
    // Two volumes of one resource in one pool: the pool holds both sizes but counts one resource.
    await t.ok(`mutation { createResourceDefinition(input: { name: "use1", volumeDefinitions: [{ sizeKib: "64MiB" }, { sizeKib: "1GiB" }] }) { name } }`);
    await t.ok(`mutation { createResourceDefinition(input: { name: "use2", volumeDefinitions: [{ sizeKib: "10GiB" }] }) { name } }`);
    await createResourceRecord(t.service(), { resourceDefinition: 'use1', node: 'u-a', storagePool: 'fast' });
    await createResourceRecord(t.service(), { resourceDefinition: 'use1', node: 'u-b', storagePool: 'slow' });
    await createResourceRecord(t.service(), { resourceDefinition: 'use1', node: 'u-c', diskless: true });
    await createResourceRecord(t.service(), { resourceDefinition: 'use2', node: 'u-a', storagePool: 'fast' });
    await createResourceRecord(t.service(), { resourceDefinition: 'use2', node: 'u-b', storagePool: 'fast' });
    const created = await expectInStep();
    const fastA = await poolId('u-a', 'fast');
    expect(created.find((r) => r.pool === fastA)).toEqual({ pool: fastA, reserved: String(64 * 1024 + 1024 * 1024 + 10 * 1024 * 1024), users: '2' });

    // Growth: every counted volume of the definition holds the new size.
    await modifyVolumeDefinition(t.service(), { resourceDefinition: 'use1', volumeNumber: 1, sizeKib: '3GiB' });
    const grown = await expectInStep();
    expect(grown.find((r) => r.pool === fastA)!.reserved).toBe(String(64 * 1024 + 3 * 1024 * 1024 + 10 * 1024 * 1024));

    // A replica flagged DELETE no longer counts; its removal (as the satellite's report does it) changes nothing more.
    await deleteResourceRecord(t.service(), { resourceDefinition: 'use1', node: 'u-b' });
    const flagged = await expectInStep();
    const slowB = await poolId('u-b', 'slow');
    expect(flagged.some((r) => r.pool === slowB)).toBe(false);
    await sql(`delete from resource where 'DELETE' = any(flags)`);
    await expectInStep();

    // A definition deleted with its replicas; then a replica removed without a flag (as a node's deletion cascades).
    await deleteResourceDefinition(t.service(), 'use2');
    await expectInStep();
    await sql(`delete from resource r using resource_definition d, node n where d.id = r.resource_definition_id and n.id = r.node_id and d.name = 'use1' and n.name = 'u-a'`);
    const removed = await expectInStep();
    expect(removed.some((r) => r.pool === fastA)).toBe(false);

    // Folding the rows keeps the sums and leaves at most one row per pool.
    const before = Number((await sql<{ n: string }>('select count(*)::text as n from storage_pool_usage'))[0]!.n);
    const em = t.service().em.fork();
    await em.transactional((tx) => compactPoolUsage(tx));
    await expectInStep();
    const rows = await sql<{ pool: number; n: string }>('select pool_id as pool, count(*)::text as n from storage_pool_usage group by pool_id');
    expect(rows.every((r) => r.n === '1')).toBe(true);
    expect(rows.length).toBeLessThan(before);
  });

  it('counts what is written outside the controller too (the triggers, not the services, keep it)', async () => {
    await t.ok(`mutation { createResourceDefinition(input: { name: "use3", volumeDefinitions: [{ sizeKib: "5GiB" }] }) { name } }`);
    await createResourceRecord(t.service(), { resourceDefinition: 'use3', node: 'u-c', storagePool: 'slow' });
    await expectInStep();
    // A volume moved to another pool by hand, and a DELETE flag set and cleared by hand.
    const slowC = await poolId('u-c', 'slow');
    const fastC = await poolId('u-c', 'fast');
    await sql('update volume set storage_pool_id = ? where storage_pool_id = ?', [fastC, slowC]);
    expect((await expectInStep()).find((r) => r.pool === fastC)).toEqual({ pool: fastC, reserved: String(5 * 1024 * 1024), users: '1' });
    await sql(`update resource set flags = array_append(flags, 'DELETE') where node_id = (select id from node where name = 'u-c')`);
    await expectInStep();
    await sql(`update resource set flags = array_remove(flags, 'DELETE') where node_id = (select id from node where name = 'u-c')`);
    expect((await expectInStep()).find((r) => r.pool === fastC)!.users).toBe('1');
  });
});
