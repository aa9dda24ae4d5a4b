import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestController, type TestController } from '../../support/controller.js';
import { DATABASE_KINDS } from '../../support/databases.js';

const FILTER = `selectFilter { placeCount storagePoolList storagePoolDisklessList doNotPlaceWithRsc doNotPlaceWithRscRegex replicasOnSame replicasOnDifferent xReplicasOnDifferent { key count } disklessOnRemaining providerList nodeNameList layerStack }`;

describe.each(DATABASE_KINDS)('resource groups and volume groups (%s)', (kind) => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController(kind);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('always has DfltRscGrp, which cannot be deleted', async () => {
    const data = await t.ok(`{ resourceGroups { totalCount edges { node { name ${FILTER} } } } }`);
    expect(data.resourceGroups.totalCount).toBe(1);
    expect(data.resourceGroups.edges[0].node.name).toBe('DfltRscGrp');
    const refused = await t.gql(`mutation { deleteResourceGroup(name: "dfltrscgrp") { name } }`);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_ALLOWED', field: 'name' });
  });

  it('creates a group with the full select filter', async () => {
    const data = await t.ok(
      `mutation($input: CreateResourceGroupInput!) { createResourceGroup(input: $input) { name description peerSlots ${FILTER} props { key value } } }`,
      {
        input: {
          name: 'ssd-3way',
          description: 'three replicas on SSD',
          peerSlots: 5,
          props: [{ key: 'DrbdOptions/Net/protocol', value: 'C' }],
          selectFilter: {
            placeCount: 3,
            storagePoolList: ['ssd', 'SSD', 'nvme'],
            storagePoolDisklessList: ['DfltDisklessStorPool'],
            doNotPlaceWithRsc: ['db-1'],
            doNotPlaceWithRscRegex: '^backup-.*',
            replicasOnSame: ['Aux/dc=fra'],
            replicasOnDifferent: ['site', 'Aux/rack=r13'],
            xReplicasOnDifferent: [{ key: 'zone', count: 2 }],
            disklessOnRemaining: true,
            providerList: ['LVM_THIN', 'ZFS_THIN', 'LVM_THIN'],
            nodeNameList: ['n1', 'n2'],
            layerStack: ['DRBD', 'STORAGE'],
          },
        },
      },
    );
    expect(data.createResourceGroup).toEqual({
      name: 'ssd-3way',
      description: 'three replicas on SSD',
      peerSlots: 5,
      props: [{ key: 'DrbdOptions/Net/protocol', value: 'C' }],
      selectFilter: {
        placeCount: 3,
        storagePoolList: ['SSD', 'nvme'],
        storagePoolDisklessList: ['DfltDisklessStorPool'],
        doNotPlaceWithRsc: ['db-1'],
        doNotPlaceWithRscRegex: '^backup-.*',
        replicasOnSame: ['Aux/dc=fra'],
        replicasOnDifferent: ['Aux/site', 'Aux/rack=r13'],
        xReplicasOnDifferent: [{ key: 'Aux/zone', count: 2 }],
        disklessOnRemaining: true,
        providerList: ['LVM_THIN', 'ZFS_THIN'],
        nodeNameList: ['n1', 'n2'],
        layerStack: ['DRBD', 'STORAGE'],
      },
    });
  });

  it.each([
    [{ placeCount: 0 }, 'input.selectFilter.placeCount', 'INVALID_VALUE'],
    [{ storagePoolList: ['ok', 'bad pool'] }, 'input.selectFilter.storagePoolList[1]', 'INVALID_NAME'],
    [{ doNotPlaceWithRscRegex: '(unclosed' }, 'input.selectFilter.doNotPlaceWithRscRegex', 'INVALID_VALUE'],
    [{ xReplicasOnDifferent: [{ key: 'zone', count: 0 }] }, 'input.selectFilter.xReplicasOnDifferent[0].count', 'INVALID_VALUE'],
    [{ layerStack: ['STORAGE', 'DRBD'] }, 'input.selectFilter.layerStack', 'INVALID_VALUE'],
    [{ replicasOnDifferent: ['bad key!'] }, 'input.selectFilter.replicasOnDifferent[0]', 'INVALID_PROPERTY'],
  ])('refuses the select filter %j', async (selectFilter, field, code) => {
    const result = await t.gql(`mutation($input: CreateResourceGroupInput!) { createResourceGroup(input: $input) { name } }`, { input: { name: 'bad-group', selectFilter } });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code, field });
    expect((await t.ok(`{ resourceGroup(name: "bad-group") { name } }`)).resourceGroup).toBeNull();
  });

  it('modifies a group: omitted fields stay, null clears, props change', async () => {
    const data = await t.ok(`mutation { modifyResourceGroup(input: { name: "SSD-3WAY", description: null, selectFilter: { placeCount: 2, doNotPlaceWithRscRegex: null, nodeNameList: [] }, props: { unset: ["DrbdOptions/Net/protocol"], set: [{ key: "Aux/team", value: "db" }] } }) { description ${FILTER} props { key value } } }`);
    const g = data.modifyResourceGroup;
    expect(g.description).toBeNull();
    expect(g.selectFilter).toMatchObject({ placeCount: 2, doNotPlaceWithRscRegex: null, nodeNameList: [], storagePoolList: ['SSD', 'nvme'], replicasOnDifferent: ['Aux/site', 'Aux/rack=r13'] });
    expect(g.props).toEqual([{ key: 'Aux/team', value: 'db' }]);
  });

  it('creates, numbers, modifies and deletes volume groups', async () => {
    await t.ok(`mutation { a: createVolumeGroup(input: { resourceGroup: "ssd-3way" }) { volumeNumber } }`);
    await t.ok(`mutation { b: createVolumeGroup(input: { resourceGroup: "ssd-3way", volumeNumber: 5, flags: [GROSS_SIZE] }) { volumeNumber } }`);
    await t.ok(`mutation { c: createVolumeGroup(input: { resourceGroup: "ssd-3way", props: [{ key: "FileSystem/Type", value: "xfs" }] }) { volumeNumber } }`);
    const dup = await t.gql(`mutation { createVolumeGroup(input: { resourceGroup: "ssd-3way", volumeNumber: 5 }) { volumeNumber } }`);
    expect(dup.errors?.[0]?.extensions).toMatchObject({ code: 'ALREADY_EXISTS', field: 'input.volumeNumber' });
    const badFs = await t.gql(`mutation { createVolumeGroup(input: { resourceGroup: "ssd-3way", props: [{ key: "FileSystem/Type", value: "fat" }] }) { volumeNumber } }`);
    expect(badFs.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_PROPERTY', field: 'input.props.set[0]' });
    await t.ok(`mutation { modifyVolumeGroup(input: { resourceGroup: "ssd-3way", volumeNumber: 5, flags: [], props: { set: [{ key: "Aux/x", value: "1" }] } }) { volumeNumber } }`);
    const groups = await t.ok(`{ resourceGroup(name: "ssd-3way") { volumeGroups { volumeNumber flags props { key value } } } volumeGroup(resourceGroup: "ssd-3way", volumeNumber: 1) { volumeNumber resourceGroup { name } } }`);
    expect(groups.resourceGroup.volumeGroups).toEqual([
      { volumeNumber: 0, flags: [], props: [] },
      { volumeNumber: 1, flags: [], props: [{ key: 'FileSystem/Type', value: 'xfs' }] },
      { volumeNumber: 5, flags: [], props: [{ key: 'Aux/x', value: '1' }] },
    ]);
    expect(groups.volumeGroup).toEqual({ volumeNumber: 1, resourceGroup: { name: 'ssd-3way' } });
    await t.ok(`mutation { deleteVolumeGroup(resourceGroup: "ssd-3way", volumeNumber: 0) { name } }`);
    expect((await t.ok(`{ resourceGroup(name: "ssd-3way") { volumeGroups { volumeNumber } } }`)).resourceGroup.volumeGroups).toEqual([{ volumeNumber: 1 }, { volumeNumber: 5 }]);
  });

  it('refuses to delete a group that definitions use, then deletes it with its volume groups', async () => {
    await t.ok(`mutation { createResourceDefinition(input: { name: "db-1", resourceGroup: "ssd-3way" }) { name } }`);
    const refused = await t.gql(`mutation { deleteResourceGroup(name: "ssd-3way") { name } }`);
    expect(refused.errors?.[0]?.extensions?.code).toBe('IN_USE');
    expect(refused.errors?.[0]?.message).toMatch(/1 resource definition \(db-1\)/);
    await t.ok(`mutation { modifyResourceDefinition(input: { name: "db-1", resourceGroup: "DfltRscGrp" }) { resourceGroup { name } } }`);
    await t.ok(`mutation { deleteResourceGroup(name: "ssd-3way") { name } }`);
    expect((await t.ok(`{ resourceGroup(name: "ssd-3way") { name } volumeGroup(resourceGroup: "ssd-3way", volumeNumber: 5) { volumeNumber } }`))).toEqual({ resourceGroup: null, volumeGroup: null });
  });
});
