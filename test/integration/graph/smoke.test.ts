import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DATABASE_KINDS } from '../../support/databases.js';
import { startTestController, type TestController } from '../../support/controller.js';

describe.each(DATABASE_KINDS)('smoke on %s', (kind) => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController(kind);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('creates and lists a node', async () => {
    await t.ok(`mutation { createNode(input: { name: "n1", netInterfaces: [{ address: "10.0.0.1" }] }) { name } }`);
    const data = await t.ok(`{ nodes { totalCount edges { node { name storagePools { name } } } } }`);
    expect(data.nodes.totalCount).toBe(1);
    expect(data.nodes.edges[0].node.storagePools).toEqual([{ name: 'DfltDisklessStorPool' }]);
  });
});
