import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestController, type TestController } from '../../support/controller.js';
import { DATABASE_KINDS } from '../../support/databases.js';

const NODES = 5;
const DEFINITIONS = 10;

describe.each(DATABASE_KINDS)('DRBD numbers: ports, node ids, minors, secrets (%s)', (kind) => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController(kind);
    for (let i = 1; i <= NODES; i++) {
      await t.ok(`mutation { createNode(input: { name: "n${i}", netInterfaces: [{ address: "10.0.0.${i}" }] }) { node { name } } }`);
      await t.ok(`mutation { createStoragePool(input: { node: "n${i}", name: "thin", providerKind: FILE_THIN, props: [{ key: "StorDriver/FileDir", value: "/srv/thin" }] }) { name } }`);
    }
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('gives concurrent requests distinct numbers: minors cluster-wide, node ids per definition, ports per node', async () => {
    // 10 definitions with 2 volumes each, created at once, then every definition on every node, all at once.
    const defs = await Promise.all(
      Array.from({ length: DEFINITIONS }, (_, d) => t.gql(`mutation { createResourceDefinition(input: { name: "r${d}", volumeDefinitions: [{ sizeKib: "1GiB" }, { sizeKib: "2GiB" }] }) { name } }`)),
    );
    expect(defs.flatMap((r) => r.errors ?? [])).toEqual([]);
    const creates = await Promise.all(
      Array.from({ length: DEFINITIONS * NODES }, (_, i) =>
        t.gql(`mutation { createResource(input: { resourceDefinition: "r${i % DEFINITIONS}", node: "n${1 + Math.floor(i / DEFINITIONS)}", storagePool: "thin" }) { name } }`),
      ),
    );
    expect(creates.flatMap((r) => r.errors ?? [])).toEqual([]);

    const data = await t.ok(`{ resourceDefinitions(first: 100) { edges { node { name volumeDefinitions { drbdMinor } resources { node { name } drbdNodeId drbdPort } } } } }`);
    const definitions = data.resourceDefinitions.edges.map((e: any) => e.node);
    const minors = definitions.flatMap((d: any) => d.volumeDefinitions.map((v: any) => v.drbdMinor));
    expect(minors).toHaveLength(DEFINITIONS * 2);
    expect(new Set(minors).size).toBe(minors.length);
    expect(Math.min(...minors)).toBe(1000);
    expect(Math.max(...minors)).toBe(1000 + DEFINITIONS * 2 - 1); // lowest free: no gaps
    for (const d of definitions) {
      const ids = d.resources.map((r: any) => r.drbdNodeId).sort((a: number, b: number) => a - b);
      expect(ids).toEqual([0, 1, 2, 3, 4]);
    }
    const portsByNode = new Map<string, number[]>();
    for (const d of definitions) for (const r of d.resources) portsByNode.set(r.node.name, [...(portsByNode.get(r.node.name) ?? []), r.drbdPort]);
    for (const ports of portsByNode.values()) {
      expect(ports.sort((a, b) => a - b)).toEqual(Array.from({ length: DEFINITIONS }, (_, i) => 7000 + i));
    }
  });

  it('frees numbers with their owners, and names the setting that widens an exhausted range', async () => {
    await t.ok(`mutation { modifyNode(input: { name: "n1", props: { set: [{ key: "TcpPortAutoRange", value: "7000-7010" }] } }) { name } }`);
    await t.ok(`mutation { createResourceDefinition(input: { name: "extra", volumeDefinitions: [{ sizeKib: "1GiB" }] }) { name } }`);
    const port = (await t.ok(`mutation { createResource(input: { resourceDefinition: "extra", node: "n1", storagePool: "thin" }) { drbdPort } }`)).createResource.drbdPort;
    expect(port).toBe(7010);
    await t.ok(`mutation { createResourceDefinition(input: { name: "one-too-many", volumeDefinitions: [{ sizeKib: "1GiB" }] }) { name } }`);
    const refused = await t.gql(`mutation { createResource(input: { resourceDefinition: "one-too-many", node: "n1", storagePool: "thin" }) { drbdPort } }`);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'RANGE_EXHAUSTED', details: { low: 7000, high: 7010, source: 'TcpPortAutoRange on node n1' } });
    expect(refused.errors?.[0]?.extensions?.correction).toMatch(/TcpPortAutoRange/);
    // Deleting a definition's volume definition frees its minor for the next one.
    const before = (await t.ok(`{ volumeDefinition(resourceDefinition: "one-too-many", volumeNumber: 0) { drbdMinor } }`)).volumeDefinition.drbdMinor;
    await t.ok(`mutation { deleteResourceDefinition(name: "one-too-many") { name } }`);
    await t.ok(`mutation { createResourceDefinition(input: { name: "reuses", volumeDefinitions: [{ sizeKib: "1GiB" }] }) { name } }`);
    expect((await t.ok(`{ volumeDefinition(resourceDefinition: "reuses", volumeNumber: 0) { drbdMinor } }`)).volumeDefinition.drbdMinor).toBe(before);
    // Also a minor below those handed out since (the allocator remembers where it found the last free one, and must
    // notice that a lower one came free).
    const minorOf = async (name: string) => (await t.ok(`query($n: String!) { volumeDefinition(resourceDefinition: $n, volumeNumber: 0) { drbdMinor } }`, { n: name })).volumeDefinition.drbdMinor;
    for (const name of ['gap-a', 'gap-b', 'gap-c']) await t.ok(`mutation($n: String!) { createResourceDefinition(input: { name: $n, volumeDefinitions: [{ sizeKib: "1GiB" }] }) { name } }`, { n: name });
    const freed = await minorOf('gap-a');
    expect(await minorOf('gap-c')).toBe(freed + 2);
    await t.ok(`mutation { deleteResourceDefinition(name: "gap-a") { name } }`);
    await t.ok(`mutation { createResourceDefinition(input: { name: "gap-d", volumeDefinitions: [{ sizeKib: "1GiB" }] }) { name } }`);
    expect(await minorOf('gap-d')).toBe(freed);
    await t.ok(`mutation { createResourceDefinition(input: { name: "gap-e", volumeDefinitions: [{ sizeKib: "1GiB" }] }) { name } }`);
    expect(await minorOf('gap-e')).toBe(freed + 3);
    const minorsFull = await t.gql(`mutation { modifyController(props: { set: [{ key: "MinorNrAutoRange", value: "1000-1025" }] }) { props { key } } }`);
    expect(minorsFull.errors).toBeUndefined();
    const noMinor = await t.gql(`mutation { createResourceDefinition(input: { name: "no-minor", volumeDefinitions: [{ sizeKib: "1GiB" }] }) { name } }`);
    expect(noMinor.errors?.[0]?.extensions).toMatchObject({ code: 'RANGE_EXHAUSTED' });
    expect(noMinor.errors?.[0]?.extensions?.correction).toMatch(/MinorNrAutoRange/);
    expect((await t.ok(`{ resourceDefinition(name: "no-minor") { name } }`)).resourceDefinition).toBeNull();
  });
});
