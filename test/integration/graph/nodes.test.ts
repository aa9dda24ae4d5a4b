import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createResourceRecord } from '../../../src/controller/services/resource.js';
import { startTestController, type TestController } from '../../support/controller.js';
import { DATABASE_KINDS } from '../../support/databases.js';

const NODE_FIELDS = `name type connectionStatus props { key value } netInterfaces { name address satellitePort encryptionType isActive } storagePools { name providerKind }`;

describe.each(DATABASE_KINDS)('nodes and net interfaces (%s)', (kind) => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController(kind);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('creates a satellite with net interfaces, default port and its DfltDisklessStorPool', async () => {
    const data = await t.ok(
      `mutation($input: CreateNodeInput!) { createNode(input: $input) { node { ${NODE_FIELDS} } } }`,
      { input: { name: 'Alpha-1', netInterfaces: [{ address: '10.0.0.1' }, { name: 'repl', address: 'fd00::1', encryptionType: 'SSL' }], props: [{ key: 'Aux/site', value: 'a' }] } },
    );
    expect(data.createNode.node).toEqual({
      name: 'Alpha-1',
      type: 'SATELLITE',
      connectionStatus: 'OFFLINE',
      props: [{ key: 'Aux/site', value: 'a' }],
      netInterfaces: [
        { name: 'default', address: '10.0.0.1', satellitePort: 3366, encryptionType: 'PLAIN', isActive: true },
        { name: 'repl', address: 'fd00::1', satellitePort: 3367, encryptionType: 'SSL', isActive: false },
      ],
      storagePools: [{ name: 'DfltDisklessStorPool', providerKind: 'DISKLESS' }],
    });
    // Case-insensitive lookup keeps the display spelling.
    const found = await t.ok(`{ node(name: "ALPHA-1") { name } }`);
    expect(found.node).toEqual({ name: 'Alpha-1' });
  });

  it('refuses a duplicate name that differs only in case', async () => {
    const result = await t.gql(`mutation { createNode(input: { name: "alpha-1", netInterfaces: [{ address: "10.0.0.2" }] }) { node { name } } }`);
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'ALREADY_EXISTS', field: 'input.name' });
    expect(result.errors?.[0]?.message).toContain('alpha-1');
  });

  it.each([
    ['-leading', 'input.name', 'INVALID_NAME'],
    ['under_score', 'input.name', 'INVALID_NAME'],
    ['x', 'input.name', 'INVALID_NAME'],
  ])('refuses the node name %s', async (name, field, code) => {
    const result = await t.gql(`mutation($n: String!) { createNode(input: { name: $n, netInterfaces: [{ address: "10.0.0.3" }] }) { node { name } } }`, { n: name });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code, field });
    expect(result.errors?.[0]?.extensions?.correction).toMatch(/host name/);
  });

  it('refuses bad net interfaces and a satellite without one, naming the field', async () => {
    const bad = await t.gql(`mutation { createNode(input: { name: "beta", netInterfaces: [{ address: "10.0.0.4" }, { name: "x2", address: "300.1.1.1" }] }) { node { name } } }`);
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_VALUE', field: 'input.netInterfaces[1].address' });
    const port = await t.gql(`mutation { createNode(input: { name: "beta", netInterfaces: [{ address: "10.0.0.4", satellitePort: 70000 }] }) { node { name } } }`);
    expect(port.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_VALUE', field: 'input.netInterfaces[0].satellitePort' });
    const none = await t.gql(`mutation { createNode(input: { name: "beta" }) { node { name } } }`);
    expect(none.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_VALUE', field: 'input.netInterfaces' });
    // Nothing was written by the refused requests.
    expect((await t.ok(`{ node(name: "beta") { name } }`)).node).toBeNull();
  });

  it('refuses an unknown enum value before running anything', async () => {
    const result = await t.gql(`mutation { createNode(input: { name: "gamma", type: SATELITE, netInterfaces: [{ address: "10.0.0.5" }] }) { node { name } } }`);
    expect(result.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(result.errors?.[0]?.message).toMatch(/SATELITE/);
  });

  it('creates an AUXILIARY node without interfaces or pools, and turns it into a satellite', async () => {
    const aux = await t.ok(`mutation { createNode(input: { name: "aux1", type: AUXILIARY }) { node { type storagePools { name } } } }`);
    expect(aux.createNode.node).toEqual({ type: 'AUXILIARY', storagePools: [] });
    const noNic = await t.gql(`mutation { modifyNode(input: { name: "aux1", type: SATELLITE }) { type } }`);
    expect(noNic.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_VALUE', field: 'input.type' });
    await t.ok(`mutation { createNetInterface(node: "aux1", input: { address: "10.0.0.6" }) { isActive } }`);
    const sat = await t.ok(`mutation { modifyNode(input: { name: "aux1", type: SATELLITE }) { type storagePools { name } netInterfaces { isActive } } }`);
    expect(sat.modifyNode).toEqual({ type: 'SATELLITE', storagePools: [{ name: 'DfltDisklessStorPool' }], netInterfaces: [{ isActive: true }] });
  });

  it('modifies, activates and deletes net interfaces; a satellite keeps its last one', async () => {
    await t.ok(`mutation { modifyNetInterface(input: { node: "alpha-1", name: "REPL", isActive: true, address: "fd00::2", satellitePort: 4000 }) { name } }`);
    let nics = (await t.ok(`{ node(name: "alpha-1") { netInterfaces { name address satellitePort isActive } } }`)).node.netInterfaces;
    expect(nics).toEqual([
      { name: 'default', address: '10.0.0.1', satellitePort: 3366, isActive: false },
      { name: 'repl', address: 'fd00::2', satellitePort: 4000, isActive: true },
    ]);
    await t.ok(`mutation { deleteNetInterface(node: "alpha-1", name: "repl") { name } }`);
    nics = (await t.ok(`{ node(name: "alpha-1") { netInterfaces { name isActive } } }`)).node.netInterfaces;
    expect(nics).toEqual([{ name: 'default', isActive: true }]);
    const last = await t.gql(`mutation { deleteNetInterface(node: "alpha-1", name: "default") { name } }`);
    expect(last.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_ALLOWED', field: 'name' });
  });

  it('finds one net interface, and moves a default port along when switching to SSL', async () => {
    await t.ok(`mutation { createNetInterface(node: "alpha-1", input: { name: "tls", address: "10.0.0.20" }) { name } }`);
    const switched = await t.ok(`mutation { modifyNetInterface(input: { node: "alpha-1", name: "tls", encryptionType: SSL }) { satellitePort encryptionType } }`);
    expect(switched.modifyNetInterface).toEqual({ satellitePort: 3367, encryptionType: 'SSL' });
    await t.ok(`mutation { modifyNetInterface(input: { node: "alpha-1", name: "tls", satellitePort: 4444 }) { name } }`);
    const custom = await t.ok(`mutation { modifyNetInterface(input: { node: "alpha-1", name: "tls", encryptionType: PLAIN }) { satellitePort } }`);
    expect(custom.modifyNetInterface.satellitePort).toBe(4444); // a port set by hand stays
    const found = await t.ok(`{ netInterface(node: "ALPHA-1", name: "TLS") { name address node { name } } missing: netInterface(node: "alpha-1", name: "nope") { name } }`);
    expect(found).toEqual({ netInterface: { name: 'tls', address: '10.0.0.20', node: { name: 'Alpha-1' } }, missing: null });
    await t.ok(`mutation { deleteNetInterface(node: "alpha-1", name: "tls") { name } }`);
  });

  it('answers prop(key) with null for keys that only exist on JavaScript objects', async () => {
    const data = await t.ok(`{ node(name: "alpha-1") { a: prop(key: "constructor") b: prop(key: "__proto__") c: prop(key: "toString") d: prop(key: "Aux/site") } }`);
    expect(data.node).toEqual({ a: null, b: null, c: null, d: 'a' });
  });

  it('sets and unsets node properties and refuses unknown keys', async () => {
    await t.ok(`mutation { modifyNode(input: { name: "alpha-1", props: { set: [{ key: "Aux/rack/row", value: "3" }, { key: "Aux/rack/slot", value: "7" }, { key: "AutoplaceTarget", value: "false" }] } }) { name } }`);
    const changed = await t.ok(`mutation { modifyNode(input: { name: "alpha-1", props: { unsetNamespaces: ["Aux/rack"], unset: ["AutoplaceTarget"], set: [{ key: "Aux/zone", value: "z1" }] } }) { props { key value } prop(key: "Aux/zone") } }`);
    expect(changed.modifyNode).toEqual({ props: [{ key: 'Aux/site', value: 'a' }, { key: 'Aux/zone', value: 'z1' }], prop: 'z1' });
    const unknown = await t.gql(`mutation { modifyNode(input: { name: "alpha-1", props: { set: [{ key: "Aux/ok", value: "1" }, { key: "StorDriver/LvmVg", value: "vg" }] } }) { name } }`);
    expect(unknown.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_PROPERTY', field: 'input.props.set[1]' });
    const badValue = await t.gql(`mutation { modifyNode(input: { name: "alpha-1", props: { set: [{ key: "AutoplaceTarget", value: "maybe" }] } }) { name } }`);
    expect(badValue.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_PROPERTY', field: 'input.props.set[0]' });
    // The refused changes left the earlier state intact, including the valid key of the refused request.
    expect((await t.ok(`{ node(name: "alpha-1") { props { key } } }`)).node.props).toEqual([{ key: 'Aux/site' }, { key: 'Aux/zone' }]);
  });

  it('refuses to delete a node that holds resources, and names them', async () => {
    await t.ok(`mutation { createNode(input: { name: "delta", netInterfaces: [{ address: "10.0.0.7" }] }) { node { name } } }`);
    await t.ok(`mutation { createResourceDefinition(input: { name: "pvc-1", volumeDefinitions: [{ sizeKib: "1GiB" }] }) { name } }`);
    await createResourceRecord(t.service(), { resourceDefinition: 'pvc-1', node: 'delta', diskless: true });
    const refused = await t.gql(`mutation { deleteNode(name: "delta") { name } }`);
    expect(refused.errors?.[0]?.extensions?.code).toBe('IN_USE');
    expect(refused.errors?.[0]?.message).toContain('pvc-1');
    expect(refused.errors?.[0]?.extensions?.details?.usedBy).toEqual([{ kind: 'resource', names: ['pvc-1'] }]);
    expect((await t.ok(`{ node(name: "delta") { resources { name } } }`)).node.resources).toEqual([{ name: 'pvc-1' }]);
  });

  it('deletes a node with its pools and interfaces', async () => {
    await t.ok(`mutation { createNode(input: { name: "epsilon", netInterfaces: [{ address: "10.0.0.8" }] }) { node { name } } }`);
    await t.ok(`mutation { createStoragePool(input: { node: "epsilon", name: "pool1", providerKind: FILE_THIN, props: [{ key: "StorDriver/FileDir", value: "/srv/pool1" }] }) { name } }`);
    const deleted = await t.ok(`mutation { deleteNode(name: "EPSILON") { name uuid } }`);
    expect(deleted.deleteNode.name).toBe('epsilon');
    expect((await t.ok(`{ node(name: "epsilon") { name } }`)).node).toBeNull();
    expect((await t.ok(`{ storagePools(filter: { nodes: ["epsilon"] }) { totalCount } }`)).storagePools.totalCount).toBe(0);
    const missing = await t.gql(`mutation { deleteNode(name: "epsilon") { name } }`);
    expect(missing.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'name' });
  });
});
