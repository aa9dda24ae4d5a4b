import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestController, type TestController } from '../../support/controller.js';
import { DATABASE_KINDS } from '../../support/databases.js';

const PARALLEL = 8;

describe.each(DATABASE_KINDS)('concurrent requests (%s)', (kind) => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController(kind);
    await t.ok(`mutation { createNode(input: { name: "n1", netInterfaces: [{ address: "10.0.0.1" }, { name: "nb", address: "10.0.0.2" }, { name: "nc", address: "10.0.0.3" }] }) { node { name } } }`);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('keeps every one of many parallel property changes to one node (no lost update)', async () => {
    const results = await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) => t.gql(`mutation { modifyNode(input: { name: "n1", props: { set: [{ key: "Aux/k${i}", value: "${i}" }] } }) { name } }`)),
    );
    expect(results.flatMap((r) => r.errors ?? [])).toEqual([]);
    const props = (await t.ok(`{ node(name: "n1") { props { key } } }`)).node.props.map((p: any) => p.key);
    expect(props).toEqual(Array.from({ length: PARALLEL }, (_, i) => `Aux/k${i}`));
  });

  it('keeps every one of many parallel controller property changes', async () => {
    const results = await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) => t.gql(`mutation { modifyController(props: { set: [{ key: "Aux/c${i}", value: "${i}" }] }) { props { key } } }`)),
    );
    expect(results.flatMap((r) => r.errors ?? [])).toEqual([]);
    expect((await t.ok(`{ controller { props { key } } }`)).controller.props).toHaveLength(PARALLEL);
  });

  it('leaves exactly one active net interface when two are activated at once', async () => {
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all([
        t.gql(`mutation { modifyNetInterface(input: { node: "n1", name: "nb", isActive: true }) { name } }`),
        t.gql(`mutation { modifyNetInterface(input: { node: "n1", name: "nc", isActive: true }) { name } }`),
      ]);
      expect(results.flatMap((r) => r.errors ?? [])).toEqual([]);
      const active = (await t.ok(`{ node(name: "n1") { netInterfaces { name isActive } } }`)).node.netInterfaces.filter((n: any) => n.isActive);
      expect(active).toHaveLength(1);
      await t.ok(`mutation { modifyNetInterface(input: { node: "n1", name: "default", isActive: true }) { name } }`);
    }
  });

  it('lets exactly one of several racing creates of one name win; the others get ALREADY_EXISTS', async () => {
    const spellings = ['race-node', 'RACE-NODE', 'Race-Node', 'race-NODE', 'rAce-node'];
    const results = await Promise.all(spellings.map((name) => t.gql(`mutation { createNode(input: { name: "${name}", type: AUXILIARY }) { node { name } } }`)));
    const won = results.filter((r) => !r.errors);
    expect(won).toHaveLength(1);
    expect(results.filter((r) => r.errors).map((r) => r.errors![0]!.extensions!.code)).toEqual(Array(spellings.length - 1).fill('ALREADY_EXISTS'));
  });

  it('never leaves a definition in a group that was deleted at the same time', async () => {
    for (let i = 0; i < 5; i++) {
      await t.ok(`mutation { createResourceGroup(input: { name: "tmp${i}" }) { name } }`);
      const [create, drop] = await Promise.all([
        t.gql(`mutation { createResourceDefinition(input: { name: "rd${i}", resourceGroup: "tmp${i}" }) { name } }`),
        t.gql(`mutation { deleteResourceGroup(name: "tmp${i}") { name } }`),
      ]);
      // Either order is fine; both succeeding is not (the definition would point at nothing).
      const state = await t.ok(`{ resourceDefinition(name: "rd${i}") { resourceGroup { name } } resourceGroup(name: "tmp${i}") { name } }`);
      if (!create.errors) expect(state.resourceDefinition.resourceGroup.name).toBe(`tmp${i}`);
      if (!drop.errors) expect(state.resourceGroup).toBeNull();
      expect(!create.errors && !drop.errors).toBe(false);
      for (const r of [create, drop]) if (r.errors) expect(['NOT_FOUND', 'IN_USE', 'CONFLICT']).toContain(r.errors[0]!.extensions!.code);
    }
  });
});
