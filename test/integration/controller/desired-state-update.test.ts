import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DesiredState } from '../../../src/common/protocol/satellite.js';
import { recordInitializedVolumes } from '../../../src/controller/drbd/initialized.js';
import { buildDesiredState, buildDesiredStateUpdate, rebuiltScope } from '../../../src/controller/satellites/desired-state.js';
import { diffDesiredState } from '../../../src/common/protocol/satellite.js';
import { createResourceRecord, deleteResourceRecord } from '../../../src/controller/services/resource.js';
import { touchNodes } from '../../../src/controller/transaction.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import { startTestController, type TestController } from '../../support/controller.js';
import { DATABASE_KINDS } from '../../support/databases.js';

/**
 * Incremental desired states (buildDesiredStateUpdate): after every kind of change, the state built from the
 * previous one plus the change log must equal a full build, and changes confined to definitions must take the
 * incremental path (the pools, which it never reads again, are carried over as the same object).
 */
describe.each(DATABASE_KINDS)('desired state updates (%s)', (kind) => {
  let t: TestController;
  const NODES = ['u1', 'u2', 'u3', 'u4'];
  const nodeIds = new Map<string, number>();
  const previous = new Map<string, DesiredState>();

  const em = () => t.controller.orm.em.fork() as EntityManager;
  /** Volumes in a fixed order: a full build lists them by creation, an update puts rebuilt ones last. */
  const normalized = (s: DesiredState) => ({ ...s, volumes: [...s.volumes].sort((a, b) => `${a.resource}/${a.volumeNumber}`.localeCompare(`${b.resource}/${b.volumeNumber}`)) });

  /** Updates every node's state from its previous one and compares it with a full build; returns the nodes updated incrementally. */
  async function check(step: string): Promise<string[]> {
    const incremental: string[] = [];
    for (const node of NODES) {
      const id = nodeIds.get(node)!;
      const before = previous.get(node)!;
      const updated = await buildDesiredStateUpdate(em(), id, before);
      const full = await buildDesiredState(em(), id);
      expect({ step, node, state: normalized(updated) }).toEqual({ step, node, state: normalized(full) });
      // The delta the hub sends, compared only within what the update says it rebuilt, is the whole delta.
      const scope = rebuiltScope(updated);
      const sorted = (d: ReturnType<typeof diffDesiredState>) => ({ ...d, upsertVolumes: [...d.upsertVolumes].sort((a, b) => `${a.resource}/${a.volumeNumber}`.localeCompare(`${b.resource}/${b.volumeNumber}`)) });
      if (scope) expect({ step, node, delta: sorted(diffDesiredState(before, updated, scope)) }).toEqual({ step, node, delta: sorted(diffDesiredState(before, full)) });
      if (updated.revision !== before.revision && updated.pools === before.pools) incremental.push(node);
      previous.set(node, updated);
    }
    return incremental;
  }

  beforeAll(async () => {
    t = await startTestController(kind);
    for (const [i, name] of NODES.entries()) {
      await t.ok(`mutation($n: String!, $a: String!) { createNode(input: { name: $n, netInterfaces: [{ address: $a }] }) { satelliteSecret } }`, { n: name, a: `10.9.0.${i + 1}` });
      await t.ok(`mutation($n: String!) { createStoragePool(input: { node: $n, name: "thin", providerKind: FILE_THIN, props: [{ key: "StorDriver/FileDir", value: "/srv/u" }] }) { name } }`, { n: name });
    }
    const rows: { id: number; name: string }[] = await em().getConnection().execute(`select id, name from node where name like 'u%'`);
    for (const r of rows) nodeIds.set(r.name, r.id);
    for (const node of NODES) previous.set(node, await buildDesiredState(em(), nodeIds.get(node)!));
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('equals a full build after every kind of change, and rebuilds only the touched definitions when it can', async () => {
    // Nothing changed: the previous state itself.
    const unchanged = previous.get('u1')!;
    expect(await buildDesiredStateUpdate(em(), nodeIds.get('u1')!, unchanged)).toBe(unchanged);

    await t.ok(`mutation { createResourceDefinition(input: { name: "inc1", volumeDefinitions: [{ sizeKib: "64MiB" }, { sizeKib: "1GiB" }] }) { name } }`);
    await t.ok(`mutation { createResourceDefinition(input: { name: "inc2", volumeDefinitions: [{ sizeKib: "32MiB" }] }) { name } }`);
    for (const node of ['u1', 'u2', 'u3']) await createResourceRecord(t.service(), { resourceDefinition: 'inc1', node, storagePool: 'thin' });
    await createResourceRecord(t.service(), { resourceDefinition: 'inc2', node: 'u2', storagePool: 'thin' });
    // New replicas (and the peers they were added to) are confined to their definitions.
    expect(await check('replicas created')).toEqual(['u1', 'u2', 'u3']);

    await createResourceRecord(t.service(), { resourceDefinition: 'inc1', node: 'u4', diskless: true });
    expect(await check('diskless replica added')).toEqual(['u1', 'u2', 'u3', 'u4']);
    const u4 = previous.get('u4')!;
    expect(u4.drbdResources.map((r) => [r.name, r.diskless, r.peers.length])).toEqual([['inc1', true, 3]]);
    expect(u4.volumes).toEqual([]);

    await t.ok(`mutation { modifyVolumeDefinition(input: { resourceDefinition: "inc1", volumeNumber: 0, sizeKib: "128MiB" }) { sizeKib } }`);
    // The diskless replica too: DRBD offers the new size there as well.
    expect(await check('volume grown')).toEqual(['u1', 'u2', 'u3', 'u4']);

    // The seeding node's instruction is withdrawn once a replica reports UpToDate (as the hub does it).
    let withdrawn = false;
    const seeder = NODES.find((n) => previous.get(n)!.drbdResources.some((r) => r.name === 'inc1' && r.initialSyncSourceVolumes.length > 0))!;
    await recordInitializedVolumes(em(), t.controller.events, t.controller.log, [
      { resource: 'inc1', node: 'u2', at: new Date(), state: { backend: 'emulated', at: new Date(), state: { resource: 'inc1', role: 'Secondary', suspended: false, connections: [], volumes: [0, 1].map((volumeNumber) => ({ volumeNumber, minor: 1, diskState: 'UpToDate' as never, client: false, quorum: true })) } } } as never,
    ], new Set(), 'u2', (seeds) => void touchNodes(t.service(), 'test', new Map(seeds.map((s) => [s.node, { reason: 'seeding withdrawn', definitions: [s.definition] }]))).then(() => (withdrawn = true)));
    for (const end = Date.now() + 5000; !withdrawn && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    expect(await check('seeding withdrawn')).toEqual([seeder]);
    expect(previous.get(seeder)!.drbdResources.find((r) => r.name === 'inc1')!.initialSyncSourceVolumes).toEqual([]);

    await deleteResourceRecord(t.service(), { resourceDefinition: 'inc1', node: 'u3', force: true });
    expect(await check('replica deleted')).toEqual(['u1', 'u2', 'u3', 'u4']);
    expect(previous.get('u3')!.drbdResources.map((r) => r.name)).toEqual([]);

    // Not confined to definitions: full builds, still equal.
    await t.ok(`mutation { modifyNetInterface(input: { node: "u2", name: "default", address: "10.9.1.2" }) { address } }`);
    expect(await check('peer address changed')).toEqual([]);
    expect(previous.get('u1')!.drbdResources.find((r) => r.name === 'inc1')!.peers.find((p) => p.node === 'u2')!.address).toBe('10.9.1.2');
    await t.ok(`mutation { modifyResourceDefinition(input: { name: "inc1", props: { set: [{ key: "DrbdOptions/Net/max-buffers", value: "8000" }] } }) { name } }`);
    expect(await check('DRBD options changed')).toEqual([]);
    // The group's peer slots size every replica's metadata: a change reaches every node with a replica, in full.
    await t.ok(`mutation { modifyResourceGroup(input: { name: "DfltRscGrp", peerSlots: 3 }) { name } }`);
    expect(await check('peer slots changed')).toEqual([]);
    expect(previous.get('u1')!.drbdResources.find((r) => r.name === 'inc1')!.peerSlots).toBe(3);
    await t.ok(`mutation { createStoragePool(input: { node: "u1", name: "thin2", providerKind: FILE_THIN, props: [{ key: "StorDriver/FileDir", value: "/srv/u2" }] }) { name } }`);
    await createResourceRecord(t.service(), { resourceDefinition: 'inc2', node: 'u1', storagePool: 'thin2' });
    // u1 had an unconfined change (its new pool) and a confined one since its last state: a full build.
    expect(await check('pool and replica')).toEqual(['u2']);
    expect(previous.get('u1')!.pools.map((p) => p.name).sort()).toEqual(['DfltDisklessStorPool', 'thin', 'thin2']);
  });
});
