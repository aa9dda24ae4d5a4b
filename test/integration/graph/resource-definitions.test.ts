import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createResourceRecord } from '../../../src/controller/services/resource.js';
import { startTestController, type TestController } from '../../support/controller.js';
import { DATABASE_KINDS } from '../../support/databases.js';

const TEN_TIB = '10737418240'; // KiB: > 2^31, so never a GraphQL Int

describe.each(DATABASE_KINDS)('resource definitions and volume definitions (%s)', (kind) => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController(kind);
    await t.ok(`mutation { createNode(input: { name: "n1", netInterfaces: [{ address: "10.0.0.1" }] }) { node { name } } }`);
    await t.ok(`mutation { createStoragePool(input: { node: "n1", name: "pool", providerKind: FILE_THIN, props: [{ key: "StorDriver/FileDir", value: "/srv/p" }] }) { name } }`);
    await t.ok(`mutation { createResourceGroup(input: { name: "rg1" }) { name } }`);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('creates a definition in DfltRscGrp with volume definitions of any size notation', async () => {
    const data = await t.ok(
      `mutation($input: CreateResourceDefinitionInput!) { createResourceDefinition(input: $input) { name externalName resourceGroup { name } layerStack volumeDefinitions { volumeNumber sizeKib flags } } }`,
      { input: { name: 'pvc-Data', externalName: 'pvc-3f1c/data', layerStack: ['DRBD', 'STORAGE'], volumeDefinitions: [{ sizeKib: TEN_TIB }, { sizeKib: '512MiB', volumeNumber: 3 }, { sizeKib: 4096 }] } },
    );
    expect(data.createResourceDefinition).toEqual({
      name: 'pvc-Data',
      externalName: 'pvc-3f1c/data',
      resourceGroup: { name: 'DfltRscGrp' },
      layerStack: ['DRBD', 'STORAGE'],
      volumeDefinitions: [
        { volumeNumber: 0, sizeKib: TEN_TIB, flags: [] },
        { volumeNumber: 1, sizeKib: '4096', flags: [] },
        { volumeNumber: 3, sizeKib: '524288', flags: [] },
      ],
    });
  });

  it.each([
    ['10GB', 'INVALID_SIZE'],
    ['-5', 'INVALID_SIZE'],
    ['0', 'INVALID_SIZE'],
    ['99999999999999999999999', 'INVALID_SIZE'],
  ])('refuses the size %s with the field named', async (size, code) => {
    const result = await t.gql(`mutation($s: KiB!) { createResourceDefinition(input: { name: "sized", volumeDefinitions: [{ sizeKib: "1GiB" }, { sizeKib: $s }] }) { name } }`, { s: size });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code, field: 'input.volumeDefinitions[1].sizeKib' });
    expect(result.errors?.[0]?.extensions?.correction).toMatch(/GiB/);
    expect((await t.ok(`{ resourceDefinition(name: "sized") { name } }`)).resourceDefinition).toBeNull();
  });

  it('refuses a size that is neither an integer nor a string', async () => {
    const result = await t.gql(`mutation($s: KiB!) { createVolumeDefinition(input: { resourceDefinition: "pvc-data", sizeKib: $s }) { sizeKib } }`, { s: 1.5 });
    expect(result.errors?.[0]?.extensions?.code).toBe('INVALID_SIZE');
    expect(result.errors?.[0]?.message).toMatch(/KiB cannot represent 1.5/);
  });

  it.each([
    ['a', 'INVALID_NAME'],
    ['1abc', 'INVALID_NAME'],
    ['trailing-', 'INVALID_NAME'],
    ['x'.repeat(49), 'INVALID_NAME'],
  ])('refuses the resource name %s', async (name, code) => {
    const result = await t.gql(`mutation($n: String!) { createResourceDefinition(input: { name: $n }) { name } }`, { n: name });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code, field: 'input.name' });
  });

  it('grows a volume definition and refuses to shrink it', async () => {
    const grown = await t.ok(`mutation { modifyVolumeDefinition(input: { resourceDefinition: "PVC-DATA", volumeNumber: 3, sizeKib: "1GiB" }) { sizeKib } }`);
    expect(grown.modifyVolumeDefinition.sizeKib).toBe('1048576');
    const same = await t.ok(`mutation { modifyVolumeDefinition(input: { resourceDefinition: "pvc-data", volumeNumber: 3, sizeKib: 1048576 }) { sizeKib } }`);
    expect(same.modifyVolumeDefinition.sizeKib).toBe('1048576');
    const shrink = await t.gql(`mutation { modifyVolumeDefinition(input: { resourceDefinition: "pvc-data", volumeNumber: 3, sizeKib: "512MiB" }) { sizeKib } }`);
    expect(shrink.errors?.[0]?.extensions).toMatchObject({ code: 'SIZE_SHRINK', field: 'input.sizeKib' });
    expect(shrink.errors?.[0]?.message).toContain('1 GiB');
    expect((await t.ok(`{ volumeDefinition(resourceDefinition: "pvc-data", volumeNumber: 3) { sizeKib } }`)).volumeDefinition.sizeKib).toBe('1048576');
  });

  it('adds, numbers and deletes volume definitions', async () => {
    const added = await t.ok(`mutation { createVolumeDefinition(input: { resourceDefinition: "pvc-data", sizeKib: "1TiB", props: [{ key: "FileSystem/Type", value: "ext4" }] }) { volumeNumber sizeKib props { key value } } }`);
    expect(added.createVolumeDefinition).toEqual({ volumeNumber: 2, sizeKib: '1073741824', props: [{ key: 'FileSystem/Type', value: 'ext4' }] });
    const dup = await t.gql(`mutation { createVolumeDefinition(input: { resourceDefinition: "pvc-data", volumeNumber: 2, sizeKib: "1GiB" }) { volumeNumber } }`);
    expect(dup.errors?.[0]?.extensions).toMatchObject({ code: 'ALREADY_EXISTS', field: 'input.volumeNumber' });
    await t.ok(`mutation { deleteVolumeDefinition(resourceDefinition: "pvc-data", volumeNumber: 2) { name } }`);
    const numbers = (await t.ok(`{ resourceDefinition(name: "pvc-data") { volumeDefinitions { volumeNumber } } }`)).resourceDefinition.volumeDefinitions;
    expect(numbers).toEqual([{ volumeNumber: 0 }, { volumeNumber: 1 }, { volumeNumber: 3 }]);
  });

  it('moves a definition between groups and filters definitions by group and property', async () => {
    await t.ok(`mutation { createResourceDefinition(input: { name: "other", resourceGroup: "rg1", props: [{ key: "Aux/app", value: "web" }] }) { name } }`);
    await t.ok(`mutation { modifyResourceDefinition(input: { name: "pvc-data", resourceGroup: "RG1", props: { set: [{ key: "Aux/app", value: "db" }] } }) { name } }`);
    const inGroup = await t.ok(`{ resourceDefinitions(filter: { resourceGroups: ["rg1"] }) { totalCount edges { node { name resourceGroup { name } } } } }`);
    expect(inGroup.resourceDefinitions.edges.map((e: any) => [e.node.name, e.node.resourceGroup.name])).toEqual([['pvc-Data', 'rg1'], ['other', 'rg1']]);
    const db = await t.ok(`{ resourceDefinitions(filter: { props: [{ key: "Aux/app", in: ["db", "cache"] }] }) { edges { node { name } } } }`);
    expect(db.resourceDefinitions.edges).toEqual([{ node: { name: 'pvc-Data' } }]);
    const group = await t.ok(`{ resourceGroup(name: "rg1") { resourceDefinitions { name } } }`);
    expect(group.resourceGroup.resourceDefinitions).toEqual([{ name: 'pvc-Data' }, { name: 'other' }]);
    const noGroup = await t.gql(`mutation { modifyResourceDefinition(input: { name: "other", resourceGroup: "nope" }) { name } }`);
    expect(noGroup.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'input.resourceGroup' });
  });

  it('refuses to delete a volume definition with volumes; a definition with resources is marked, not removed', async () => {
    await createResourceRecord(t.service(), { resourceDefinition: 'pvc-data', node: 'n1', storagePool: 'pool' });
    const vd = await t.gql(`mutation { deleteVolumeDefinition(resourceDefinition: "pvc-data", volumeNumber: 0) { name } }`);
    expect(vd.errors?.[0]?.extensions?.code).toBe('IN_USE');
    const addLate = await t.gql(`mutation { createVolumeDefinition(input: { resourceDefinition: "pvc-data", sizeKib: "1GiB" }) { volumeNumber } }`);
    expect(addLate.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_ALLOWED', field: 'input.resourceDefinition' });
    // Growing a deployed volume marks it for the satellites to resize.
    const grown = await t.ok(`mutation { modifyVolumeDefinition(input: { resourceDefinition: "pvc-data", volumeNumber: 0, sizeKib: "11TiB" }) { sizeKib flags volumes { storagePool { name } resource { node { name } } } } }`);
    expect(grown.modifyVolumeDefinition).toEqual({ sizeKib: '11811160064', flags: ['RESIZE'], volumes: [{ storagePool: { name: 'pool' }, resource: { node: { name: 'n1' } } }] });
    const volume = await t.ok(`{ volume(resourceDefinition: "pvc-data", node: "n1", volumeNumber: 3) { volumeNumber volumeDefinition { sizeKib } } none: volume(resourceDefinition: "pvc-data", node: "n1", volumeNumber: 9) { volumeNumber } }`);
    expect(volume).toEqual({ volume: { volumeNumber: 3, volumeDefinition: { sizeKib: '1048576' } }, none: null });
    const vds = await t.ok(`{ volumeDefinitions(filter: { resourceGroups: ["rg1"], props: [{ key: "FileSystem/Type", exists: false }] }) { totalCount edges { node { volumeNumber resourceDefinition { name } } } } }`);
    expect(vds.volumeDefinitions.edges.map((e: any) => [e.node.resourceDefinition.name, e.node.volumeNumber])).toEqual([['pvc-Data', 0], ['pvc-Data', 3], ['pvc-Data', 1]]); // creation order, like every list
    const vols = await t.ok(`{ volumes(filter: { resourceGroups: ["RG1"], nodes: ["n1"] }) { totalCount } empty: volumes(filter: { resourceGroups: [] }) { totalCount } }`);
    expect(vols).toEqual({ volumes: { totalCount: 3 }, empty: { totalCount: 0 } });
    const deleted = await t.ok(`mutation { deleteResourceDefinition(name: "other") { name } }`);
    expect(deleted.deleteResourceDefinition.name).toBe('other');
    expect((await t.ok(`{ resourceDefinition(name: "other") { name } }`)).resourceDefinition).toBeNull();
    // With a replica, the definition stays until its satellite has removed the volumes (no satellite runs here).
    await t.ok(`mutation { deleteResourceDefinition(name: "pvc-data") { name } }`);
    const marked = await t.ok(`{ resourceDefinition(name: "pvc-data") { flags resources { flags volumes { state } } } placementJobs(filter: { resourceDefinitions: ["pvc-data"] }) { edges { node { kind state } } } }`);
    expect(marked.resourceDefinition.flags).toEqual(['DELETE']);
    expect(marked.resourceDefinition.resources[0].flags).toEqual(['DELETE']);
    expect(marked.resourceDefinition.resources[0].volumes.every((v: any) => v.state === 'DELETING')).toBe(true);
    expect(marked.placementJobs.edges.map((e: any) => e.node)).toContainEqual({ kind: 'DELETE', state: 'PLACED' });
    // Nothing may be added to a definition on its way out.
    for (const mutation of [
      `mutation { createVolumeDefinition(input: { resourceDefinition: "pvc-data", sizeKib: "1GiB" }) { volumeNumber } }`,
      `mutation { modifyVolumeDefinition(input: { resourceDefinition: "pvc-data", volumeNumber: 0, sizeKib: "12TiB" }) { sizeKib } }`,
      `mutation { autoplaceResourceDefinition(input: { resourceDefinition: "pvc-data" }) { job { uuid } } }`,
    ]) {
      const refused = await t.gql(mutation);
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_ALLOWED', field: 'input.resourceDefinition' });
    }
  });
});
