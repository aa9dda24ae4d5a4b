import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MikroORM } from '@mikro-orm/postgresql';
import { ormConfig, openOrm } from '../../../src/orm/config.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../../support/databases.js';

describe.each(DATABASE_KINDS)('schema, migrations and constraints (%s)', (kind) => {
  let db: TestDatabase;
  let orm: MikroORM;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    orm = await openOrm({ clientUrl: db.url });
  });
  afterAll(async () => {
    await orm?.close();
    await db?.drop();
  });
  const sql = (query: string, params: unknown[] = []): Promise<any> => orm.em.getConnection().execute(query, params);

  it('the checked-in migrations create exactly the schema the entities describe', async () => {
    expect(await orm.schema.getUpdateSchemaSQL({ wrap: false })).toBe('');
  });

  it('creates the objects that must always exist, and applying migrations again is a no-op', async () => {
    expect(await sql(`select name from resource_group`)).toEqual([{ name: 'DfltRscGrp' }]);
    expect(await sql(`select id, props from controller_config`)).toEqual([{ id: 1, props: {} }]);
    expect(await orm.migrator.up()).toEqual([]);
  });

  it('migrates down to nothing and up again', async () => {
    const again = await MikroORM.init(ormConfig({ clientUrl: db.url }));
    try {
      await again.migrator.down({ to: 0 });
      expect(await again.em.getConnection().execute(`select count(*)::int as n from information_schema.tables where table_name = 'node'`)).toEqual([{ n: 0 }]);
      const applied = await again.migrator.up();
      expect(applied.length).toBeGreaterThanOrEqual(2);
    } finally {
      await again.close();
    }
  });

  it('enforces case-insensitive unique names in the database itself', async () => {
    await sql(`insert into node (uuid, created_at, updated_at, name, type) values (gen_random_uuid(), now(), now(), 'Node-A', 'SATELLITE')`);
    await expect(sql(`insert into node (uuid, created_at, updated_at, name, type) values (gen_random_uuid(), now(), now(), 'node-a', 'SATELLITE')`)).rejects.toThrow(/node_name_key_unique/);
    expect(await sql(`select name, name_key from node`)).toEqual([{ name: 'Node-A', name_key: 'NODE-A' }]);
  });

  it('refuses dangling references: unknown parents, and deleting a parent that is still referenced', async () => {
    await expect(sql(`insert into resource (uuid, created_at, updated_at, resource_definition_id, node_id) values (gen_random_uuid(), now(), now(), 9999, 9999)`)).rejects.toThrow(/foreign key/);
    const [rg] = await sql(`select id from resource_group`);
    const [rd] = await sql(`insert into resource_definition (uuid, created_at, updated_at, name, resource_group_id) values (gen_random_uuid(), now(), now(), 'r1', ?) returning id`, [rg.id]);
    const [node] = await sql(`select id from node`);
    await sql(`insert into resource (uuid, created_at, updated_at, resource_definition_id, node_id) values (gen_random_uuid(), now(), now(), ?, ?)`, [rd.id, node.id]);
    await expect(sql(`delete from node where id = ?`, [node.id])).rejects.toThrow(/resource_node_id_foreign/);
    await expect(sql(`delete from resource_group where id = ?`, [rg.id])).rejects.toThrow(/resource_definition_resource_group_id_foreign/);
    await expect(sql(`delete from resource_definition where id = ?`, [rd.id])).rejects.toThrow(/resource_resource_definition_id_foreign/);
  });

  it('refuses out-of-range values with check constraints', async () => {
    const [rg] = await sql(`select id from resource_group`);
    const [rd] = await sql(`insert into resource_definition (uuid, created_at, updated_at, name, resource_group_id) values (gen_random_uuid(), now(), now(), 'r2', ?) returning id`, [rg.id]);
    await expect(sql(`insert into volume_definition (uuid, created_at, updated_at, resource_definition_id, volume_number, size_kib) values (gen_random_uuid(), now(), now(), ?, 0, 0)`, [rd.id])).rejects.toThrow(/volume_definition_size_positive/);
    await expect(sql(`update resource_group set place_count = 0`)).rejects.toThrow(/resource_group_place_count_range/);
    await expect(sql(`insert into controller_config (id, updated_at) values (2, now())`)).rejects.toThrow(/controller_config_singleton/);
  });
});
