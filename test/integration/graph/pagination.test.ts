import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestController, type TestController } from '../../support/controller.js';
import { DATABASE_KINDS } from '../../support/databases.js';

const NODES = 1000;

describe.each(DATABASE_KINDS)('pagination and batched nested fields (%s)', (kind) => {
  let t: TestController;
  const statements: string[] = [];
  beforeAll(async () => {
    t = await startTestController(kind, { onQuery: (sql) => statements.push(sql) });
    // 1,000 nodes with a net interface, DfltDisklessStorPool and a FILE pool each, written in bulk: this test is
    // about reading them.
    const db = t.controller.orm.em.getConnection();
    await db.execute(`insert into node (uuid, created_at, updated_at, name, type, props)
      select gen_random_uuid(), now(), now(), 'node-' || lpad(i::text, 4, '0'), 'SATELLITE', jsonb_build_object('Aux/rack', (i % 10)::text)
      from generate_series(1, ${NODES}) i`);
    await db.execute(`insert into net_interface (uuid, created_at, updated_at, name, node_id, address, satellite_port)
      select gen_random_uuid(), now(), now(), 'default', id, '10.1.' || (id / 250) || '.' || (id % 250), 3366 from node`);
    await db.execute(`insert into storage_pool (uuid, created_at, updated_at, name, node_id, provider_kind, props)
      select gen_random_uuid(), now(), now(), p.name, n.id, p.kind, p.props from node n
      cross join (values ('DfltDisklessStorPool', 'DISKLESS', '{}'::jsonb), ('pool', 'FILE_THIN', '{"StorDriver/FileDir": "/srv/pool"}'::jsonb)) p(name, kind, props)`);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it(`lists ${NODES} nodes with their pools, interfaces and resources in a bounded number of SQL statements`, async () => {
    statements.length = 0;
    const data = await t.ok(`{ nodes(first: 1000) { totalCount edges { node { name netInterfaces { address } storagePools { name providerKind node { name } } resources { name } } } } }`);
    const selects = statements.filter((s) => /\bselect\b/i.test(s));
    if (process.env.BLOCKPLANE_TEST_SHOW_SQL) console.log(selects);
    expect(data.nodes.totalCount).toBe(NODES);
    expect(data.nodes.edges).toHaveLength(NODES);
    expect(data.nodes.edges[999].node).toEqual({
      name: 'node-1000',
      netInterfaces: [{ address: expect.stringMatching(/^10\.1\./) }],
      storagePools: [
        { name: 'DfltDisklessStorPool', providerKind: 'DISKLESS', node: { name: 'node-1000' } },
        { name: 'pool', providerKind: 'FILE_THIN', node: { name: 'node-1000' } },
      ],
      resources: [],
    });
    // page + count + interfaces + pools + resources; pool.node is served from the loader the page primed.
    expect(selects.length).toBeLessThanOrEqual(5);
    expect(selects.length).toBeGreaterThanOrEqual(4); // the counter really sees the statements
  });

  it('walks forward with first/after and backward with last/before, without gaps or repeats', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: any = await t.ok(`query($after: String) { nodes(first: 300, after: $after, filter: { props: [{ key: "Aux/rack", in: ["1", "2"] }] }) { totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } }`, { after });
      seen.push(...page.nodes.edges.map((e: any) => e.node.name));
      expect(page.nodes.totalCount).toBe(200);
      if (!page.nodes.pageInfo.hasNextPage) break;
      after = page.nodes.pageInfo.endCursor;
    }
    expect(seen).toHaveLength(200);
    expect(new Set(seen).size).toBe(200);
    expect(seen[0]).toBe('node-0001');
    expect(seen[199]).toBe('node-0992');

    const last = await t.ok(`{ nodes(last: 3) { pageInfo { hasPreviousPage startCursor } edges { node { name } } } }`);
    expect(last.nodes.edges.map((e: any) => e.node.name)).toEqual(['node-0998', 'node-0999', 'node-1000']);
    expect(last.nodes.pageInfo.hasPreviousPage).toBe(true);
    const before = await t.ok(`query($c: String) { nodes(last: 2, before: $c) { edges { node { name } } } }`, { c: last.nodes.pageInfo.startCursor });
    expect(before.nodes.edges.map((e: any) => e.node.name)).toEqual(['node-0996', 'node-0997']);
  });

  it('refuses a forged cursor and oversized pages, naming the argument', async () => {
    const forged = await t.gql(`{ nodes(first: 2, after: "not-a-cursor") { totalCount } }`);
    expect(forged.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_VALUE', field: 'after' });
    const huge = await t.gql(`{ nodes(first: 5000) { totalCount } }`);
    expect(huge.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_VALUE', field: 'first' });
  });
});
