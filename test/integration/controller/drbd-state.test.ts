import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { DesiredDrbdResource, DrbdResourceState, DrbdStateReport } from '../../../src/common/protocol/drbd.js';
import { PROTOCOL_VERSION, SATELLITE_PATH, applyDesiredStateDelta, type DesiredState, type DesiredStateMessage } from '../../../src/common/protocol/satellite.js';
import { startTestController, type TestController } from '../../support/controller.js';
import { DATABASE_KINDS } from '../../support/databases.js';

/**
 * The controller's DRBD side with bare graphql-ws clients playing the satellites: the DRBD part of each node's
 * desired state (peers, addresses, ports, node ids, minors, quorum, seeding), DRBD state reports through the
 * `drbdState` mutation, health in queries and filters, DRBD_INITIALIZED, and the `drbdState` subscription's
 * snapshot-then-changes contract.
 */
interface FakeSatellite {
  node: string;
  client: Client;
  state: DesiredState | null;
  drbd(report: DrbdStateReport): Promise<unknown>;
}

describe.each(DATABASE_KINDS)('DRBD state through the controller (%s)', (kind) => {
  let t: TestController;
  const sats = new Map<string, FakeSatellite>();
  const clients: Client[] = [];
  /** The node told to seed r3's volumes (first test). */
  let seeder = '';

  async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  function connect(node: string, secret: string): FakeSatellite {
    const client = createClient({
      url: `${t.url.replace(/^http/, 'ws')}${SATELLITE_PATH}`,
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: () => undefined,
      connectionParams: { nodeName: node, secret, protocolVersion: PROTOCOL_VERSION, hostname: `host-${node}` },
    });
    clients.push(client);
    const sat: FakeSatellite = {
      node,
      client,
      state: null,
      drbd: (report) =>
        new Promise((resolve, reject) =>
          client.subscribe({ query: 'mutation($r: JSON!) { drbdState(report: $r) }', variables: { r: report } }, { next: resolve, error: reject, complete: () => undefined }),
        ),
    };
    client.subscribe<{ desiredState: DesiredStateMessage }>(
      { query: 'subscription { desiredState }' },
      {
        next: (m) => {
          const message = m.data!.desiredState;
          sat.state = message.type === 'full' ? message.state : applyDesiredStateDelta(sat.state!, message);
        },
        error: () => undefined,
        complete: () => undefined,
      },
    );
    sats.set(node, sat);
    return sat;
  }

  const drbdOf = (node: string, resource: string): DesiredDrbdResource | undefined => sats.get(node)?.state?.drbdResources.find((r) => r.name === resource);

  /** A DRBD state as a healthy replica reports it: connected to `peers`, every volume UpToDate. */
  function healthy(resource: string, peers: { node: string; nodeId: number; disk?: string }[], volumes = [0]): DrbdResourceState {
    return {
      resource,
      role: 'Secondary',
      suspended: false,
      volumes: volumes.map((volumeNumber) => ({ volumeNumber, minor: 1000 + volumeNumber, diskState: 'UpToDate', client: false, quorum: true })),
      connections: peers.map((p) => ({
        peerNodeId: p.nodeId,
        peer: p.node,
        connectionState: 'Connected',
        peerRole: 'Secondary',
        peerDevices: volumes.map((volumeNumber) => ({ volumeNumber, replicationState: 'Established', peerDiskState: (p.disk ?? 'UpToDate') as never, donePercent: null })),
      })),
    };
  }

  beforeAll(async () => {
    t = await startTestController(kind, { satelliteKeepaliveMs: 200, satelliteDeadAfterMs: 1000 });
    for (const [i, name] of ['n1', 'n2', 'n3', 'n4'].entries()) {
      const created = await t.ok(`mutation { createNode(input: { name: "${name}", netInterfaces: [{ address: "10.0.0.${i + 1}" }] }) { satelliteSecret } }`);
      await t.ok(`mutation { createStoragePool(input: { node: "${name}", name: "thin", providerKind: FILE_THIN, props: [{ key: "StorDriver/FileDir", value: "/srv/thin" }] }) { name } }`);
      connect(name, created.createNode.satelliteSecret);
    }
    await until('every satellite has its full state', () => [...sats.values()].every((s) => s.state !== null));
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await t?.stop();
  });

  it('sends every replica its DRBD resource: peers with addresses, ports and node ids, minors, the secret, majority quorum for 3 diskful', async () => {
    await t.ok(`mutation { createResourceDefinition(input: { name: "r3", volumeDefinitions: [{ sizeKib: "1GiB" }, { sizeKib: "2GiB" }] }) { name } }`);
    for (const node of ['n1', 'n2', 'n3']) await t.ok(`mutation { createResource(input: { resourceDefinition: "r3", node: "${node}", storagePool: "thin" }) { name } }`);
    const resources = await until('r3 on n1..n3 with two peers each', () => {
      const all = ['n1', 'n2', 'n3'].map((n) => drbdOf(n, 'r3'));
      return all.every((r) => r?.peers.length === 2) ? (all as DesiredDrbdResource[]) : undefined;
    });
    const db = (await t.ok(`{ resourceDefinition(name: "r3") { volumeDefinitions { volumeNumber drbdMinor } resources { node { name } drbdNodeId drbdPort } } }`)).resourceDefinition;
    const byNode = new Map<string, { drbdNodeId: number; drbdPort: number }>(db.resources.map((r: any) => [r.node.name, r]));
    for (const [i, r] of resources.entries()) {
      const node = `n${i + 1}`;
      expect(r).toMatchObject({ nodeId: byNode.get(node)!.drbdNodeId, port: byNode.get(node)!.drbdPort, address: `10.0.0.${i + 1}`, diskless: false, peerSlots: 7 });
      expect(r.options).toEqual({ 'DrbdOptions/Resource/quorum': 'majority' });
      expect(r.volumes).toEqual(db.volumeDefinitions.map((vd: any) => ({ volumeNumber: vd.volumeNumber, minor: vd.drbdMinor, sizeKib: String(vd.volumeNumber === 0 ? 1048576 : 2097152) })));
      // Peers sorted by node name, each with its own address, port and node id, and its satellite's host name.
      expect(r.peers.map((p) => p.node)).toEqual(['n1', 'n2', 'n3'].filter((n) => n !== node));
      for (const p of r.peers) {
        expect(p).toMatchObject({ hostname: `host-${p.node}`, address: `10.0.0.${p.node.slice(1)}`, nodeId: byNode.get(p.node)!.drbdNodeId, port: byNode.get(p.node)!.drbdPort, diskless: false });
      }
    }
    expect(new Set(resources.map((r) => r.secret)).size).toBe(1);
    // Exactly one replica seeds the new volumes: the one with the lowest node id.
    const seeders = resources.filter((r) => r.initialSyncSourceVolumes.length > 0);
    expect(seeders).toHaveLength(1);
    expect(seeders[0]!.nodeId).toBe(Math.min(...resources.map((r) => r.nodeId)));
    expect(seeders[0]!.initialSyncSourceVolumes).toEqual([0, 1]);
    seeder = ['n1', 'n2', 'n3'][resources.indexOf(seeders[0]!)]!;
  });

  it('turns quorum off for two diskful replicas, on with a diskless tie-breaker, and keeps a user-set quorum', async () => {
    await t.ok(`mutation { createResourceDefinition(input: { name: "r2", volumeDefinitions: [{ sizeKib: "1GiB" }] }) { name } }`);
    for (const node of ['n1', 'n2']) await t.ok(`mutation { createResource(input: { resourceDefinition: "r2", node: "${node}", storagePool: "thin" }) { name } }`);
    await until('r2 quorum off', () => drbdOf('n1', 'r2')?.peers.length === 1 && drbdOf('n1', 'r2')?.options['DrbdOptions/Resource/quorum'] === 'off');
    await t.ok(`mutation { createResource(input: { resourceDefinition: "r2", node: "n4", diskless: true }) { name } }`);
    const withTieBreaker = await until('r2 majority with the diskless replica', () => {
      const r = drbdOf('n1', 'r2');
      return r?.options['DrbdOptions/Resource/quorum'] === 'majority' ? r : undefined;
    });
    expect(withTieBreaker.peers.find((p) => p.node === 'n4')).toMatchObject({ diskless: true });
    const onDiskless = await until('r2 on n4', () => drbdOf('n4', 'r2'));
    expect(onDiskless).toMatchObject({ diskless: true, initialSyncSourceVolumes: [] });
    // The diskless replica has no backing volume to create.
    expect(sats.get('n4')!.state!.volumes.filter((v) => v.resource === 'r2')).toEqual([]);

    // A DRBD option change moves the revision of every node with a replica, so it reaches DRBD at once.
    await t.ok(`mutation { modifyResourceDefinition(input: { name: "r2", props: { set: [{ key: "DrbdOptions/Resource/quorum", value: "off" }, { key: "DrbdOptions/Resource/on-no-quorum", value: "io-error" }] } }) { name } }`);
    for (const node of ['n1', 'n2', 'n4']) {
      await until(`user quorum on ${node}`, () => drbdOf(node, 'r2')?.options['DrbdOptions/Resource/quorum'] === 'off' && drbdOf(node, 'r2')?.options['DrbdOptions/Resource/on-no-quorum'] === 'io-error');
    }
    // So does an option inherited from the controller, and a peer's new address.
    await t.ok(`mutation { modifyController(props: { set: [{ key: "DrbdOptions/Net/max-buffers", value: "8000" }] }) { props { key } } }`);
    await until('controller option on n2', () => drbdOf('n2', 'r2')?.options['DrbdOptions/Net/max-buffers'] === '8000');
    await t.ok(`mutation { modifyNetInterface(input: { node: "n2", name: "default", address: "10.9.9.2" }) { name } }`);
    await until('n2 address on its peer n1', () => drbdOf('n1', 'r2')?.peers.find((p) => p.node === 'n2')?.address === '10.9.9.2');
    await until('n2 address in its own file', () => drbdOf('n2', 'r2')?.address === '10.9.9.2');
  });

  it('drops a deleted replica from its peers at once, and refuses a user-set DRBD_INITIALIZED flag', async () => {
    await t.ok(`mutation { deleteResource(resourceDefinition: "r2", node: "n4") { flags } }`);
    await until('n4 gone from the peers of r2', () => drbdOf('n1', 'r2')?.peers.every((p) => p.node !== 'n4') && drbdOf('n2', 'r2')?.peers.every((p) => p.node !== 'n4'));
    await until('r2 no longer in n4 state', () => sats.get('n4')!.state!.drbdResources.every((r) => r.name !== 'r2'));
    const refused = await t.gql(`mutation { createResourceDefinition(input: { name: "sneaky", volumeDefinitions: [{ sizeKib: "1GiB", flags: [DRBD_INITIALIZED] }] }) { name } }`);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_VALUE', field: 'input.volumeDefinitions[0].flags[0]' });
  });

  it('keeps reported DRBD state per replica, with health in queries and filters, UNKNOWN for replicas nobody reported', async () => {
    const ids = (node: string) => drbdOf(node, 'r3')!.nodeId;
    const peersOf = (node: string) => ['n1', 'n2', 'n3'].filter((n) => n !== node).map((n) => ({ node: n, nodeId: ids(n) }));
    await sats.get('n1')!.drbd({ backend: 'emulated', full: true, resources: [healthy('r3', peersOf('n1'), [0, 1])], removed: [] });
    await sats.get('n2')!.drbd({ backend: 'emulated', full: true, resources: [{ ...healthy('r3', peersOf('n2'), [0, 1]), connections: healthy('r3', peersOf('n2'), [0, 1]).connections.map((c) => (c.peer === 'n3' ? { ...c, connectionState: 'Connecting', peerDevices: c.peerDevices.map((d) => ({ ...d, replicationState: 'Off', peerDiskState: 'DUnknown' })) } : c)) }], removed: [] });
    const r3 = await t.ok(`{ resources(filter: { resourceDefinitions: ["r3"] }) { edges { node { node { name } health drbd { backend role health connections { peer connectionState } volumes { volumeNumber diskState health replication { peer replicationState peerDiskState } } } } } } }`);
    const byNode = Object.fromEntries(r3.resources.edges.map((e: any) => [e.node.node.name, e.node]));
    expect(byNode.n1).toMatchObject({ health: 'HEALTHY', drbd: { backend: 'emulated', role: 'Secondary', health: 'HEALTHY' } });
    expect(byNode.n1.drbd.volumes[1]).toMatchObject({ volumeNumber: 1, diskState: 'UpToDate', health: 'HEALTHY', replication: [{ peer: 'n2', replicationState: 'Established', peerDiskState: 'UpToDate' }, { peer: 'n3' }] });
    expect(byNode.n2).toMatchObject({ health: 'DEGRADED', drbd: { connections: [{ peer: 'n1', connectionState: 'Connected' }, { peer: 'n3', connectionState: 'Connecting' }] } });
    expect(byNode.n3).toMatchObject({ health: 'UNKNOWN', drbd: null });

    const names = async (health: string) =>
      (await t.ok(`{ resources(filter: { resourceDefinitions: ["r3"], health: [${health}] }) { edges { node { node { name } } } } }`)).resources.edges.map((e: any) => e.node.node.name).sort();
    expect(await names('HEALTHY')).toEqual(['n1']);
    expect(await names('DEGRADED')).toEqual(['n2']);
    expect(await names('UNKNOWN')).toEqual(['n3']);
    expect(await names('DEGRADED, UNKNOWN')).toEqual(['n2', 'n3']);
    expect(await names('FAILED')).toEqual([]);
  });

  it('marks volumes DRBD_INITIALIZED once a replica is UpToDate; the seeding instruction goes with the node\'s next change', async () => {
    // n1 reported both volumes UpToDate in the previous test.
    const flags = async () => (await t.ok(`{ resourceDefinition(name: "r3") { volumeDefinitions { flags } } }`)).resourceDefinition.volumeDefinitions.map((v: any) => v.flags);
    await until('DRBD_INITIALIZED', async () => JSON.stringify(await flags()) === JSON.stringify([['DRBD_INITIALIZED'], ['DRBD_INITIALIZED']]));
    // The seeder's revision moves within a second (withdrawals are coalesced); a change of its node would carry it too.
    await t.ok(`mutation { createResourceDefinition(input: { name: "poke2", volumeDefinitions: [{ sizeKib: "1MiB" }] }) { name } }`);
    await t.ok(`mutation { createResource(input: { resourceDefinition: "poke2", node: "${seeder}", storagePool: "thin" }) { name } }`);
    await until('seeding instruction dropped', () => drbdOf(seeder, 'r3')!.initialSyncSourceVolumes.length === 0);
  });

  it('forgets the DRBD state of a node whose satellite goes away: UNKNOWN, never a stale UpToDate', async () => {
    const events: any[] = [];
    const sub = createClient({ url: `${t.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
    clients.push(sub);
    sub.subscribe({ query: 'subscription { drbdState(resource: "r3") { resource node health drbd { health } } }' }, { next: (m) => events.push(m.data!.drbdState), error: () => undefined, complete: () => undefined });
    // A monitor that keeps its own state asks for changes only.
    const changes: any[] = [];
    sub.subscribe({ query: 'subscription { drbdState(resource: "r3", changesOnly: true) { node health } }' }, { next: (m) => changes.push(m.data!.drbdState), error: () => undefined, complete: () => undefined });
    // The current states first: all three replicas, whatever their state.
    await until('snapshot', () => events.length >= 3);
    expect(events.slice(0, 3).map((e) => [e.node, e.health]).sort()).toEqual([['n1', 'HEALTHY'], ['n2', 'DEGRADED'], ['n3', 'UNKNOWN']]);
    await new Promise((r) => setTimeout(r, 200));
    expect(changes).toEqual([]);

    await sats.get('n1')!.client.dispose();
    const gone = await until('n1 UNKNOWN event', () => events.find((e) => e.node === 'n1' && e.health === 'UNKNOWN'));
    await until('n1 UNKNOWN change', () => changes.length > 0);
    expect(changes[0]).toEqual({ node: 'n1', health: 'UNKNOWN' });
    expect(gone.drbd).toBeNull();
    expect((await t.ok(`{ resource(resourceDefinition: "r3", node: "n1") { health drbd { health } } }`)).resource).toEqual({ health: 'UNKNOWN', drbd: null });
  });

  it('refuses to delete a replica DRBD reports Primary, or the only UpToDate copy, unless forced', async () => {
    const n2 = sats.get('n2')!;
    const peer = drbdOf('n2', 'r2')!.peers[0]!;
    const state = (role: 'Primary' | 'Secondary', peerDisk: string): DrbdResourceState => ({ ...healthy('r2', [{ node: peer.node, nodeId: peer.nodeId, disk: peerDisk }]), role });
    await n2.drbd({ backend: 'emulated', full: true, resources: [state('Primary', 'UpToDate')], removed: [] });
    const primary = await t.gql(`mutation { deleteResource(resourceDefinition: "r2", node: "n2") { flags } }`);
    expect(primary.errors?.[0]?.extensions).toMatchObject({ code: 'IN_USE', field: 'node', correction: expect.stringContaining('force: true') });
    await n2.drbd({ backend: 'emulated', full: true, resources: [state('Secondary', 'Inconsistent')], removed: [] });
    const onlyCopy = await t.gql(`mutation { deleteResource(resourceDefinition: "r2", node: "n2") { flags } }`);
    expect(onlyCopy.errors?.[0]?.message).toContain('only UpToDate copy of volume 0');
    expect((await t.ok(`{ resource(resourceDefinition: "r2", node: "n2") { flags } }`)).resource.flags).toEqual([]);
    const forced = await t.ok(`mutation { deleteResource(resourceDefinition: "r2", node: "n2", force: true) { flags } }`);
    expect(forced.deleteResource.flags).toContain('DELETE');
  });

  it('takes DRBD_INITIALIZED only from a node holding a diskful replica of the definition', async () => {
    await t.ok(`mutation { createResourceDefinition(input: { name: "r5", volumeDefinitions: [{ sizeKib: "1GiB" }] }) { name } }`);
    for (const node of ['n1', 'n2']) await t.ok(`mutation { createResource(input: { resourceDefinition: "r5", node: "${node}", storagePool: "thin" }) { name } }`);
    const flags = async () => (await t.ok(`{ resourceDefinition(name: "r5") { volumeDefinitions { flags } } }`)).resourceDefinition.volumeDefinitions[0].flags;
    // n4 has no replica of r5: a same-named DRBD resource there says nothing about r5's data.
    await sats.get('n4')!.drbd({ backend: 'emulated', full: false, resources: [healthy('r5', [])], removed: [] });
    await new Promise((r) => setTimeout(r, 300));
    expect(await flags()).toEqual([]);
    await sats.get('n2')!.drbd({ backend: 'emulated', full: false, resources: [healthy('r5', [])], removed: [] });
    await until('r5 initialized', async () => ((await flags()) as string[]).includes('DRBD_INITIALIZED'));
  });
});
