import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestController, type TestController } from '../../support/controller.js';
import { DATABASE_KINDS } from '../../support/databases.js';

describe.each(DATABASE_KINDS)('createResource and deleteResource (%s)', (kind) => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController(kind);
    await t.ok(`mutation {
      n: createNode(input: { name: "n1", netInterfaces: [{ address: "10.0.0.1" }] }) { node { name } }
      a: createNode(input: { name: "aux", type: AUXILIARY }) { node { name } }
      p: createStoragePool(input: { node: "n1", name: "thin", providerKind: FILE_THIN, props: [{ key: "StorDriver/FileDir", value: "/srv/thin" }] }) { name }
      d: createResourceDefinition(input: { name: "r1", volumeDefinitions: [{ sizeKib: "1GiB" }, { sizeKib: "2GiB" }] }) { name }
    }`);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('places a diskful replica with one PENDING volume per volume definition', async () => {
    const data = await t.ok(`mutation { createResource(input: { resourceDefinition: "R1", node: "N1", storagePool: "thin", props: [{ key: "Aux/x", value: "1" }] }) { name node { name } flags props { key } volumes { volumeNumber state storagePool { name } } } }`);
    expect(data.createResource).toEqual({
      name: 'r1',
      node: { name: 'n1' },
      flags: [],
      props: [{ key: 'Aux/x' }],
      volumes: [
        { volumeNumber: 0, state: 'PENDING', storagePool: { name: 'thin' } },
        { volumeNumber: 1, state: 'PENDING', storagePool: { name: 'thin' } },
      ],
    });
    // The node's desired state moved on: its satellite has work to do.
    const node = await t.ok(`{ node(name: "n1") { desiredRevision appliedRevision } }`);
    expect(node.node.desiredRevision).toBeGreaterThan(node.node.appliedRevision);
  });

  it.each([
    [`{ resourceDefinition: "r1", node: "n1", storagePool: "thin" }`, 'ALREADY_EXISTS', 'input.node'],
    [`{ resourceDefinition: "nope", node: "n1", storagePool: "thin" }`, 'NOT_FOUND', 'input.resourceDefinition'],
    [`{ resourceDefinition: "r1", node: "aux", diskless: true }`, 'NOT_ALLOWED', 'input.node'],
    [`{ resourceDefinition: "r1", node: "n1", storagePool: "DfltDisklessStorPool" }`, 'INVALID_VALUE', 'input.storagePool'],
    [`{ resourceDefinition: "r1", node: "n1", storagePool: "missing" }`, 'NOT_FOUND', 'input.storagePool'],
  ])('refuses %s', async (input, code, field) => {
    const result = await t.gql(`mutation { createResource(input: ${input}) { name } }`);
    expect(result.errors?.[0]?.extensions).toMatchObject({ code, field });
  });

  it('marks a replica for deletion until its satellite has removed the volumes', async () => {
    const data = await t.ok(`mutation { deleteResource(resourceDefinition: "r1", node: "n1") { flags volumes { state } } }`);
    expect(data.deleteResource).toEqual({ flags: ['DELETE'], volumes: [{ state: 'DELETING' }, { state: 'DELETING' }] });
    const again = await t.ok(`mutation { deleteResource(resourceDefinition: "r1", node: "n1") { flags } }`);
    expect(again.deleteResource.flags).toEqual(['DELETE']);
    expect((await t.ok(`{ resource(resourceDefinition: "r1", node: "n1") { flags } }`)).resource.flags).toEqual(['DELETE']);
  });
});
