import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createResourceRecord } from '../../../src/controller/services/resource.js';
import { startTestController, type TestController } from '../../support/controller.js';
import { DATABASE_KINDS } from '../../support/databases.js';

describe.each(DATABASE_KINDS)('properties: every object, inheritance and filters (%s)', (kind) => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController(kind);
    await t.ok(`mutation {
      a: createNode(input: { name: "a1", netInterfaces: [{ address: "10.0.0.1" }], props: [{ key: "Aux/site", value: "a" }, { key: "Aux/ssd", value: "yes" }] }) { node { name } }
      b: createNode(input: { name: "b1", netInterfaces: [{ address: "10.0.0.2" }], props: [{ key: "Aux/site", value: "b" }] }) { node { name } }
      c: createNode(input: { name: "c1", netInterfaces: [{ address: "10.0.0.3" }], props: [{ key: "Aux/site", value: "c" }, { key: "Aux/ssd", value: "no" }] }) { node { name } }
      p: createStoragePool(input: { node: "a1", name: "pool", providerKind: FILE, props: [{ key: "StorDriver/FileDir", value: "/srv/a" }] }) { name }
      g: createResourceGroup(input: { name: "grp", props: [{ key: "DrbdOptions/Net/max-buffers", value: "8000" }, { key: "Aux/owner", value: "group" }] }) { name }
      vg: createVolumeGroup(input: { resourceGroup: "grp", props: [{ key: "FileSystem/Type", value: "xfs" }] }) { volumeNumber }
      rd: createResourceDefinition(input: { name: "res", resourceGroup: "grp", props: [{ key: "Aux/owner", value: "definition" }], volumeDefinitions: [{ sizeKib: "1GiB", props: [{ key: "FileSystem/Type", value: "ext4" }] }] }) { name }
    }`);
    await createResourceRecord(t.service(), { resourceDefinition: 'res', node: 'a1', storagePool: 'pool' });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('sets and unsets controller properties', async () => {
    const set = await t.ok(`mutation { modifyController(props: { set: [{ key: "DrbdOptions/Net/max-buffers", value: "4000" }, { key: "Aux/owner", value: "controller" }, { key: "TcpPortAutoRange", value: "7000-7999" }] }) { props { key value } } }`);
    expect(set.modifyController.props.map((p: any) => p.key)).toEqual(['Aux/owner', 'DrbdOptions/Net/max-buffers', 'TcpPortAutoRange']);
    const badRange = await t.gql(`mutation { modifyController(props: { set: [{ key: "TcpPortAutoRange", value: "9000-8000" }] }) { props { key } } }`);
    expect(badRange.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_PROPERTY', field: 'props.set[0]' });
    const unset = await t.ok(`mutation { modifyController(props: { unset: ["TcpPortAutoRange"] }) { props { key } } }`);
    expect(unset.modifyController.props).toEqual([{ key: 'Aux/owner' }, { key: 'DrbdOptions/Net/max-buffers' }]);
    expect((await t.ok(`{ controller { prop(key: "Aux/owner") } }`)).controller.prop).toBe('controller');
  });

  it('resolves inheritance controller -> group -> definition -> resource, with the shadowed values', async () => {
    await t.ok(`mutation { modifyResource(input: { resourceDefinition: "res", node: "a1", props: { set: [{ key: "Aux/owner", value: "resource" }] } }) { name } }`);
    const data = await t.ok(`{ resource(resourceDefinition: "RES", node: "A1") { props { key value } effectiveProps { key value origin shadowed { origin value } } } }`);
    expect(data.resource.props).toEqual([{ key: 'Aux/owner', value: 'resource' }]);
    expect(data.resource.effectiveProps).toEqual([
      {
        key: 'Aux/owner',
        value: 'resource',
        origin: 'resource',
        shadowed: [
          { origin: 'resourceDefinition', value: 'definition' },
          { origin: 'resourceGroup', value: 'group' },
          { origin: 'controller', value: 'controller' },
        ],
      },
      { key: 'DrbdOptions/Net/max-buffers', value: '8000', origin: 'resourceGroup', shadowed: [{ origin: 'controller', value: '4000' }] },
    ]);
    const rd = await t.ok(`{ resourceDefinition(name: "res") { effectiveProps { key value origin } } }`);
    expect(rd.resourceDefinition.effectiveProps).toEqual([
      { key: 'Aux/owner', value: 'definition', origin: 'resourceDefinition' },
      { key: 'DrbdOptions/Net/max-buffers', value: '8000', origin: 'resourceGroup' },
    ]);
  });

  it('follows a change on the group at once (inheritance is resolved on read)', async () => {
    await t.ok(`mutation { modifyResourceGroup(input: { name: "grp", props: { set: [{ key: "DrbdOptions/Net/max-buffers", value: "10000" }] } }) { name } }`);
    const data = await t.ok(`{ resource(resourceDefinition: "res", node: "a1") { effectiveProps { key value origin } } }`);
    expect(data.resource.effectiveProps).toContainEqual({ key: 'DrbdOptions/Net/max-buffers', value: '10000', origin: 'resourceGroup' });
  });

  it('resolves volume properties through the volume group and volume definition', async () => {
    await t.ok(`mutation { modifyVolume(input: { resourceDefinition: "res", node: "a1", volumeNumber: 0, props: { set: [{ key: "Aux/disk", value: "sda" }] } }) { volumeNumber } }`);
    const data = await t.ok(`{ resource(resourceDefinition: "res", node: "a1") { volumes { volumeNumber props { key value } effectiveProps { key value origin shadowed { origin value } } volumeDefinition { effectiveProps { key value origin } } } } }`);
    const volume = data.resource.volumes[0];
    expect(volume.props).toEqual([{ key: 'Aux/disk', value: 'sda' }]);
    expect(volume.effectiveProps).toContainEqual({ key: 'FileSystem/Type', value: 'ext4', origin: 'volumeDefinition', shadowed: [{ origin: 'volumeGroup', value: 'xfs' }] });
    expect(volume.effectiveProps).toContainEqual({ key: 'Aux/disk', value: 'sda', origin: 'volume', shadowed: [] });
    expect(volume.volumeDefinition.effectiveProps).toContainEqual({ key: 'FileSystem/Type', value: 'ext4', origin: 'volumeDefinition' });
    const missing = await t.gql(`mutation { modifyVolume(input: { resourceDefinition: "res", node: "a1", volumeNumber: 7, props: { set: [{ key: "Aux/x", value: "1" }] } }) { volumeNumber } }`);
    expect(missing.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'input.volumeNumber' });
  });

  it('filters by key = value, key in [...], key exists and key absent', async () => {
    const names = async (filter: string) =>
      (await t.ok(`{ nodes(filter: { props: [${filter}] }) { edges { node { name } } } }`)).nodes.edges.map((e: any) => e.node.name);
    expect(await names(`{ key: "Aux/site", equals: "b" }`)).toEqual(['b1']);
    expect(await names(`{ key: "Aux/site", in: ["a", "c", "z"] }`)).toEqual(['a1', 'c1']);
    expect(await names(`{ key: "Aux/ssd", exists: true }`)).toEqual(['a1', 'c1']);
    expect(await names(`{ key: "Aux/ssd", exists: false }`)).toEqual(['b1']);
    expect(await names(`{ key: "Aux/ssd", exists: true }, { key: "Aux/site", in: ["b", "c"] }`)).toEqual(['c1']);
    expect(await names(`{ key: "Aux/site", in: [] }`)).toEqual([]);
    // A value with JSON and SQL special characters is matched literally.
    await t.ok(`mutation { modifyNode(input: { name: "b1", props: { set: [{ key: "Aux/note", value: "it's \\"quoted\\" %_" }] } }) { name } }`);
    expect(await names(`{ key: "Aux/note", equals: "it's \\"quoted\\" %_" }`)).toEqual(['b1']);
    const resources = await t.ok(`{ resources(filter: { props: [{ key: "Aux/owner", equals: "resource" }], nodes: ["a1"], storagePools: ["pool"], resourceGroups: ["grp"] }) { totalCount } volumes(filter: { props: [{ key: "Aux/disk", exists: true }], storagePools: ["POOL"] }) { totalCount } }`);
    expect(resources).toEqual({ resources: { totalCount: 1 }, volumes: { totalCount: 1 } });
  });

  it('refuses a filter that gives no or several conditions', async () => {
    const none = await t.gql(`{ nodes(filter: { props: [{ key: "Aux/site" }] }) { totalCount } }`);
    expect(none.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_VALUE', field: 'filter.props[0]' });
    const two = await t.gql(`{ nodes(filter: { props: [{ key: "Aux/site", equals: "a" }, { key: "Aux/site", equals: "a", exists: true }] }) { totalCount } }`);
    expect(two.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_VALUE', field: 'filter.props[1]' });
  });

  it('sets properties on pools, groups, volume groups, definitions and volume definitions', async () => {
    const data = await t.ok(`mutation {
      sp: modifyStoragePool(input: { node: "a1", name: "pool", props: { set: [{ key: "Aux/k", value: "sp" }] } }) { prop(key: "Aux/k") }
      rg: modifyResourceGroup(input: { name: "grp", props: { set: [{ key: "Aux/k", value: "rg" }] } }) { prop(key: "Aux/k") }
      vg: modifyVolumeGroup(input: { resourceGroup: "grp", volumeNumber: 0, props: { set: [{ key: "Aux/k", value: "vg" }] } }) { prop(key: "Aux/k") }
      rd: modifyResourceDefinition(input: { name: "res", props: { set: [{ key: "Aux/k", value: "rd" }] } }) { prop(key: "Aux/k") }
      vd: modifyVolumeDefinition(input: { resourceDefinition: "res", volumeNumber: 0, props: { set: [{ key: "Aux/k", value: "vd" }] } }) { prop(key: "Aux/k") }
    }`);
    expect(data).toEqual({ sp: { prop: 'sp' }, rg: { prop: 'rg' }, vg: { prop: 'vg' }, rd: { prop: 'rd' }, vd: { prop: 'vd' } });
    const wrongOwner = await t.gql(`mutation { modifyResourceDefinition(input: { name: "res", props: { set: [{ key: "StorDriver/FileDir", value: "/x" }] } }) { name } }`);
    expect(wrongOwner.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_PROPERTY', field: 'input.props.set[0]' });
    expect(wrongOwner.errors?.[0]?.extensions?.correction).toMatch(/Aux\//);
  });
});
