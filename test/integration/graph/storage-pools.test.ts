import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { StoragePool } from '../../../src/orm/entities/storage-pool.js';
import { createResourceRecord } from '../../../src/controller/services/resource.js';
import { startTestController, type TestController } from '../../support/controller.js';
import { DATABASE_KINDS } from '../../support/databases.js';

const CREATE = `mutation($input: CreateStoragePoolInput!) { createStoragePool(input: $input) { name providerKind thin props { key value } node { name } totalCapacityKib freeCapacityKib } }`;

describe.each(DATABASE_KINDS)('storage pools (%s)', (kind) => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController(kind);
    await t.ok(`mutation { n1: createNode(input: { name: "n1", netInterfaces: [{ address: "10.0.0.1" }] }) { node { name } } n2: createNode(input: { name: "n2", netInterfaces: [{ address: "10.0.0.2" }] }) { node { name } } aux: createNode(input: { name: "aux", type: AUXILIARY }) { node { name } } }`);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it.each([
    ['LVM', [['StorDriver/LvmVg', 'vg0']], false],
    ['LVM_THIN', [['StorDriver/LvmVg', 'vg0'], ['StorDriver/ThinPool', 'thin']], true],
    ['ZFS', [['StorDriver/ZPool', 'tank']], false],
    ['ZFS_THIN', [['StorDriver/ZPoolThin', 'tank/thin']], true],
    ['FILE', [['StorDriver/FileDir', '/srv/file']], false],
    ['FILE_THIN', [['StorDriver/FileDir', '/srv/thin']], true],
    ['DISKLESS', [], false],
  ] as const)('creates a %s pool with its driver settings', async (providerKind, props, thin) => {
    const name = `p_${providerKind.toLowerCase()}`;
    const data = await t.ok(CREATE, { input: { node: 'n1', name, providerKind, props: props.map(([key, value]) => ({ key, value })) } });
    expect(data.createStoragePool).toEqual({
      name,
      providerKind,
      thin,
      props: props.map(([key, value]) => ({ key, value })).sort((a, b) => a.key.localeCompare(b.key)),
      node: { name: 'n1' },
      totalCapacityKib: null,
      freeCapacityKib: null,
    });
  });

  it('requires the provider settings and refuses settings of another provider', async () => {
    const missing = await t.gql(CREATE, { input: { node: 'n2', name: 'thin', providerKind: 'LVM_THIN', props: [{ key: 'StorDriver/LvmVg', value: 'vg0' }] } });
    expect(missing.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_PROPERTY', field: 'input.props["StorDriver/ThinPool"]' });
    expect(missing.errors?.[0]?.extensions?.correction).toContain('StorDriver/ThinPool');
    const foreign = await t.gql(CREATE, { input: { node: 'n2', name: 'zz', providerKind: 'ZFS', props: [{ key: 'StorDriver/ZPool', value: 'tank' }, { key: 'StorDriver/FileDir', value: '/x' }] } });
    expect(foreign.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_PROPERTY', field: 'input.props["StorDriver/FileDir"]' });
    const relative = await t.gql(CREATE, { input: { node: 'n2', name: 'ff', providerKind: 'FILE', props: [{ key: 'StorDriver/FileDir', value: 'relative/dir' }] } });
    expect(relative.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_PROPERTY', field: 'input.props.set[0]' });
  });

  it('refuses pools on nodes that cannot hold storage, duplicates, and diskless/diskful mixing of one name', async () => {
    const aux = await t.gql(CREATE, { input: { node: 'aux', name: 'p1', providerKind: 'DISKLESS' } });
    expect(aux.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_ALLOWED', field: 'input.node' });
    const dup = await t.gql(CREATE, { input: { node: 'n1', name: 'P_LVM', providerKind: 'LVM', props: [{ key: 'StorDriver/LvmVg', value: 'vg1' }] } });
    expect(dup.errors?.[0]?.extensions).toMatchObject({ code: 'ALREADY_EXISTS', field: 'input.name' });
    const mixed = await t.gql(CREATE, { input: { node: 'n2', name: 'p_diskless', providerKind: 'LVM', props: [{ key: 'StorDriver/LvmVg', value: 'vg1' }] } });
    expect(mixed.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_VALUE', field: 'input.providerKind' });
    const noNode = await t.gql(CREATE, { input: { node: 'n9', name: 'p1', providerKind: 'DISKLESS' } });
    expect(noNode.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'input.node' });
  });

  it('refuses a second pool on storage another pool of the node already uses', async () => {
    const sameDir = await t.gql(CREATE, { input: { node: 'n1', name: 'again', providerKind: 'FILE_THIN', props: [{ key: 'StorDriver/FileDir', value: '/srv/file/' }] } });
    expect(sameDir.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_VALUE', field: 'input.props' });
    expect(sameDir.errors?.[0]?.message).toContain("Pool 'p_file'");
    const sameDataset = await t.gql(CREATE, { input: { node: 'n1', name: 'again', providerKind: 'ZFS', props: [{ key: 'StorDriver/ZPool', value: 'tank/thin' }] } });
    expect(sameDataset.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_VALUE', field: 'input.props' });
    // Another node may use the same path: it is another machine's directory.
    await t.ok(CREATE, { input: { node: 'n2', name: 'p_file', providerKind: 'FILE', props: [{ key: 'StorDriver/FileDir', value: '/srv/file' }] } });
  });

  it('modifies pool properties but keeps the required driver settings', async () => {
    const ok = await t.ok(`mutation { modifyStoragePool(input: { node: "n1", name: "p_lvm_thin", props: { set: [{ key: "MaxOversubscriptionRatio", value: "4.5" }, { key: "Aux/tier", value: "ssd" }] } }) { props { key value } } }`);
    expect(ok.modifyStoragePool.props).toEqual([
      { key: 'Aux/tier', value: 'ssd' },
      { key: 'MaxOversubscriptionRatio', value: '4.5' },
      { key: 'StorDriver/LvmVg', value: 'vg0' },
      { key: 'StorDriver/ThinPool', value: 'thin' },
    ]);
    const removeRequired = await t.gql(`mutation { modifyStoragePool(input: { node: "n1", name: "p_lvm_thin", props: { unset: ["StorDriver/ThinPool"] } }) { name } }`);
    expect(removeRequired.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_PROPERTY', field: 'input.props["StorDriver/ThinPool"]' });
  });

  it('reports capacity as KiB strings beyond 32 bits and filters pools', async () => {
    // Capacity comes from satellites (a later issue); write it the way the ingestion will, straight to the row.
    const em = t.controller.orm.em.fork();
    const pool = await em.findOneOrFail(StoragePool, { nameKey: 'P_LVM_THIN' });
    pool.totalCapacityKib = 16n * 1024n ** 3n; // 16 TiB
    pool.freeCapacityKib = 9_007_199_254_740_993n; // 2^53 + 1: not representable as a JS number
    await em.flush();
    const data = await t.ok(`{ storagePool(node: "N1", name: "p_lvm_thin") { totalCapacityKib freeCapacityKib } }`);
    expect(data.storagePool).toEqual({ totalCapacityKib: '17179869184', freeCapacityKib: '9007199254740993' });
    const thinOnN1 = await t.ok(`{ storagePools(filter: { nodes: ["n1"], providerKinds: [LVM_THIN, FILE_THIN] }) { totalCount edges { node { name } } } }`);
    expect(thinOnN1.storagePools.edges.map((e: any) => e.node.name)).toEqual(['p_lvm_thin', 'p_file_thin']);
    const byName = await t.ok(`{ storagePools(filter: { names: ["DFLTDISKLESSSTORPOOL"] }) { edges { node { node { name } } } } }`);
    expect(byName.storagePools.edges.map((e: any) => e.node.node.name)).toEqual(['n1', 'n2']);
    const byProp = await t.ok(`{ storagePools(filter: { props: [{ key: "Aux/tier", equals: "ssd" }] }) { edges { node { name } } } }`);
    expect(byProp.storagePools.edges).toEqual([{ node: { name: 'p_lvm_thin' } }]);
  });

  it('refuses to delete DfltDisklessStorPool and a pool with volumes; deletes an unused pool', async () => {
    const dflt = await t.gql(`mutation { deleteStoragePool(node: "n1", name: "DfltDisklessStorPool") { name } }`);
    expect(dflt.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_ALLOWED', field: 'name' });
    await t.ok(`mutation { createResourceDefinition(input: { name: "vol-a", volumeDefinitions: [{ sizeKib: "1GiB" }] }) { name } }`);
    await createResourceRecord(t.service(), { resourceDefinition: 'vol-a', node: 'n1', storagePool: 'p_file' });
    const moved = await t.gql(`mutation { modifyStoragePool(input: { node: "n1", name: "p_file", props: { set: [{ key: "StorDriver/FileDir", value: "/srv/elsewhere" }] } }) { name } }`);
    expect(moved.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_ALLOWED', field: 'input.props' });
    const used = await t.gql(`mutation { deleteStoragePool(node: "n1", name: "p_file") { name } }`);
    expect(used.errors?.[0]?.extensions?.code).toBe('IN_USE');
    expect(used.errors?.[0]?.message).toContain('vol-a');
    expect((await t.ok(`{ storagePool(node: "n1", name: "p_file") { volumes { resource { name } } } }`)).storagePool.volumes).toEqual([{ resource: { name: 'vol-a' } }]);
    const gone = await t.ok(`mutation { deleteStoragePool(node: "n1", name: "p_zfs") { name } }`);
    expect(gone.deleteStoragePool.name).toBe('n1/p_zfs');
    expect((await t.ok(`{ storagePool(node: "n1", name: "p_zfs") { name } }`)).storagePool).toBeNull();
  });
});
