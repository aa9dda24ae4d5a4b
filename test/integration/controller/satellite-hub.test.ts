import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { drbdGrossSizeKib } from '../../../src/common/drbd-metadata.js';
import { PROTOCOL_VERSION, SATELLITE_PATH, type ApplyReport, type DesiredStateMessage } from '../../../src/common/protocol/satellite.js';
import { createResourceRecord, deleteResourceRecord } from '../../../src/controller/services/resource.js';
import { startTestController, type TestController } from '../../support/controller.js';
import { DATABASE_KINDS } from '../../support/databases.js';

/**
 * The controller's satellite endpoint driven by a bare graphql-ws client playing the satellite, so every message of
 * the protocol is visible. Real satellite processes are exercised in test/e2e/satellites.test.ts.
 */
interface FakeSatellite {
  client: Client;
  messages: DesiredStateMessage[];
  closed: Promise<{ code: number; reason: string }>;
  report(report: ApplyReport): Promise<unknown>;
  dispose(): Promise<void>;
}

describe.each(DATABASE_KINDS)('satellite endpoint (%s)', (kind) => {
  let t: TestController;
  let secret: string;
  const open: FakeSatellite[] = [];

  function connect(nodeName: string, withSecret: string, hostname = 'test-host'): FakeSatellite {
    let resolveClosed!: (v: { code: number; reason: string }) => void;
    const closed = new Promise<{ code: number; reason: string }>((r) => (resolveClosed = r));
    const client = createClient({
      url: `${t.url.replace(/^http/, 'ws')}${SATELLITE_PATH}`,
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: () => undefined, // refusals are asserted through `closed`, not logged
      connectionParams: { nodeName, secret: withSecret, protocolVersion: PROTOCOL_VERSION, hostname },
      on: { closed: (e) => resolveClosed({ code: (e as CloseEvent).code, reason: (e as CloseEvent).reason }) },
    });
    const messages: DesiredStateMessage[] = [];
    client.subscribe<{ desiredState: DesiredStateMessage }>(
      { query: 'subscription { desiredState }' },
      { next: (m) => messages.push(m.data!.desiredState), error: () => undefined, complete: () => undefined },
    );
    const sat: FakeSatellite = {
      client,
      messages,
      closed,
      report: (report) =>
        new Promise((resolve, reject) =>
          client.subscribe({ query: 'mutation($r: JSON!) { report(report: $r) }', variables: { r: report } }, { next: resolve, error: reject, complete: () => undefined }),
        ),
      dispose: () => client.dispose() as Promise<void>,
    };
    open.push(sat);
    return sat;
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  const status = async (name: string) => (await t.ok(`{ node(name: "${name}") { connectionStatus lastError appliedRevision desiredRevision satelliteHostname } }`)).node;

  beforeAll(async () => {
    t = await startTestController(kind, { satelliteKeepaliveMs: 200, satelliteDeadAfterMs: 800 });
    const created = await t.ok(`mutation { createNode(input: { name: "sat1", netInterfaces: [{ address: "10.0.0.1" }] }) { satelliteSecret } }`);
    secret = created.createNode.satelliteSecret;
    await t.ok(`mutation { createNode(input: { name: "aux", type: AUXILIARY }) { satelliteSecret } }`);
  });
  afterAll(async () => {
    for (const s of open) await s.dispose().catch(() => undefined);
    await t?.stop();
  });

  it('issues a secret for storage nodes only', async () => {
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const aux = await t.ok(`mutation { createNode(input: { name: "aux2", type: AUXILIARY }) { satelliteSecret } }`);
    expect(aux.createNode.satelliteSecret).toBeNull();
  });

  it('refuses unknown nodes, nodes without a satellite, wrong secrets and other protocol versions, with a reason', async () => {
    expect(await connect('nobody', secret).closed).toMatchObject({ code: 4404, reason: expect.stringContaining('not registered') });
    expect(await connect('aux', secret).closed).toMatchObject({ code: 4400 });
    expect(await connect('sat1', 'wrong').closed).toMatchObject({ code: 4401, reason: expect.stringContaining('wrong secret') });
    expect(await status('sat1')).toMatchObject({ connectionStatus: 'AUTHENTICATION_ERROR', lastError: expect.stringContaining('wrong secret') });
  });

  it('accepts the right secret: CONNECTED, a full state, ONLINE after the first report', async () => {
    const sat = connect('SAT1', secret);
    await until('full state', () => sat.messages[0]);
    const full = sat.messages[0]!;
    expect(full).toEqual({ type: 'full', state: { node: 'sat1', revision: expect.any(Number), pools: [{ name: 'DfltDisklessStorPool', providerKind: 'DISKLESS', props: {} }], volumes: [], drbdResources: [] } });
    expect(await status('sat1')).toMatchObject({ connectionStatus: 'CONNECTED', lastError: null, satelliteHostname: 'test-host' });
    const revision = full.type === 'full' ? full.state.revision : -1;
    expect((await status('sat1')).desiredRevision).toBe(revision);
    await sat.report({ revision, converged: true, pools: [{ name: 'DfltDisklessStorPool', error: null, totalKib: '0', freeKib: '0' }], volumes: [] });
    expect(await status('sat1')).toMatchObject({ connectionStatus: 'ONLINE', appliedRevision: revision });
  });

  it('validates every document a satellite sends, also when the same text comes again (documents are cached once valid)', async () => {
    const sat = open.find((o) => o.messages.length > 0)!;
    const send = (query: string) =>
      new Promise<unknown>((resolve) => sat.client.subscribe({ query, variables: { r: {} } }, { next: resolve, error: resolve, complete: () => undefined }));
    for (let i = 0; i < 2; i++) {
      const refused = (await send('mutation($r: JSON!) { nosuchfield(report: $r) }')) as { message: string }[];
      expect(refused[0]!.message).toMatch(/nosuchfield/);
    }
    // A valid document, twice: the second time comes from the cache and still runs (and is refused by the resolver's
    // own check of the report, not by validation).
    for (let i = 0; i < 2; i++) {
      const answer = (await send('mutation($r: JSON!) { drbdState(report: $r) }')) as { errors?: { message: string }[] };
      expect(answer.errors?.[0]?.message ?? '').not.toMatch(/Cannot query field/);
    }
  });

  it('refuses a second connection for a node that is connected', async () => {
    expect(await connect('sat1', secret).closed).toMatchObject({ code: 4409 });
    expect((await status('sat1')).connectionStatus).toBe('ONLINE');
  });

  it('streams deltas as the desired state changes, and ingests capacity, volume results and errors', async () => {
    const sat = open.find((s) => s.messages.length > 0)!;
    await t.ok(`mutation { createStoragePool(input: { node: "sat1", name: "thin", providerKind: FILE_THIN, props: [{ key: "StorDriver/FileDir", value: "/srv/thin" }] }) { name } }`);
    const poolDelta = await until('pool delta', () => sat.messages.find((m) => m.type === 'delta' && m.upsertPools.length > 0));
    expect(poolDelta).toMatchObject({ type: 'delta', upsertPools: [{ name: 'thin', providerKind: 'FILE_THIN', props: { 'StorDriver/FileDir': '/srv/thin' } }], deletePools: [], upsertVolumes: [], deleteVolumes: [] });

    await t.ok(`mutation { createResourceDefinition(input: { name: "vol1", volumeDefinitions: [{ sizeKib: "64MiB" }, { sizeKib: "1GiB" }] }) { name } }`);
    await createResourceRecord(t.service(), { resourceDefinition: 'vol1', node: 'sat1', storagePool: 'thin' });
    const volumeDelta = await until('volume delta', () => sat.messages.find((m) => m.type === 'delta' && m.upsertVolumes.length > 0));
    // Backing volumes are sized gross: the net size plus DRBD's internal metadata.
    expect(volumeDelta.type === 'delta' && volumeDelta.upsertVolumes).toEqual([
      { resource: 'vol1', volumeNumber: 0, pool: 'thin', sizeKib: String(drbdGrossSizeKib(65536n)) },
      { resource: 'vol1', volumeNumber: 1, pool: 'thin', sizeKib: String(drbdGrossSizeKib(1048576n)) },
    ]);
    expect(drbdGrossSizeKib(65536n)).toBeGreaterThan(65536n);
    // The same delta carries the DRBD resource: a single replica, so no peers and no quorum; it seeds its volumes.
    expect(volumeDelta.type === 'delta' && volumeDelta.upsertDrbdResources).toEqual([
      expect.objectContaining({
        name: 'vol1',
        nodeId: 0,
        port: 7000,
        diskless: false,
        peers: [],
        volumes: [
          { volumeNumber: 0, minor: expect.any(Number), sizeKib: '65536' },
          { volumeNumber: 1, minor: expect.any(Number), sizeKib: '1048576' },
        ],
        options: { 'DrbdOptions/Resource/quorum': 'off' },
        initialSyncSourceVolumes: [0, 1],
        secret: expect.stringMatching(/.{16,}/),
      }),
    ]);
    const revision = volumeDelta.type === 'delta' ? volumeDelta.revision : -1;
    await sat.report({
      revision,
      converged: false,
      pools: [{ name: 'thin', error: null, totalKib: '10737418240', freeKib: '10000000000' }],
      volumes: [
        { resource: 'vol1', volumeNumber: 0, state: 'CREATED', error: null, devicePath: '/dev/loop7', usableKib: '65536', allocatedKib: '0' },
        { resource: 'vol1', volumeNumber: 1, state: 'FAILED', error: 'fallocate: No space left on device' },
      ],
    });
    const view = await t.ok(`{ node(name: "sat1") { connectionStatus lastError appliedRevision totalCapacityKib freeCapacityKib storagePools { name totalCapacityKib lastError } resources { volumes { volumeNumber state devicePath lastError usableSizeKib } } } }`);
    expect(view.node).toMatchObject({
      connectionStatus: 'ONLINE',
      lastError: expect.stringContaining('No space left on device'),
      totalCapacityKib: '10737418240',
      freeCapacityKib: '10000000000',
      resources: [{ volumes: [
        { volumeNumber: 0, state: 'CREATED', devicePath: '/dev/loop7', lastError: null, usableSizeKib: '65536' },
        { volumeNumber: 1, state: 'FAILED', devicePath: null, lastError: 'fallocate: No space left on device', usableSizeKib: null },
      ] }],
    });
    expect(view.node.appliedRevision).toBeLessThan(revision); // not converged: not acknowledged

    // Deleting the resource takes it out of the desired state; the record goes only after the satellite converged.
    await deleteResourceRecord(t.service(), { resourceDefinition: 'vol1', node: 'sat1' });
    const deletion = await until('deletion delta', () => sat.messages.find((m) => m.type === 'delta' && m.deleteVolumes.length > 0));
    expect(deletion.type === 'delta' && deletion.deleteVolumes).toEqual([{ resource: 'vol1', volumeNumber: 0 }, { resource: 'vol1', volumeNumber: 1 }]);
    expect(deletion.type === 'delta' && deletion.deleteDrbdResources).toEqual(['vol1']);
    expect((await t.ok(`{ resource(resourceDefinition: "vol1", node: "sat1") { flags volumes { state } } }`)).resource).toEqual({ flags: ['DELETE'], volumes: [{ state: 'DELETING' }, { state: 'DELETING' }] });
    const deletionRevision = deletion.type === 'delta' ? deletion.revision : -1;
    await sat.report({ revision: deletionRevision, converged: true, pools: [], volumes: [{ resource: 'vol1', volumeNumber: 0, state: 'DELETED', error: null }] });
    expect((await t.ok(`{ resource(resourceDefinition: "vol1", node: "sat1") { flags } }`)).resource).toBeNull();
    expect(await status('sat1')).toMatchObject({ appliedRevision: deletionRevision, desiredRevision: deletionRevision, lastError: null });
  });

  it('ingests partial reports: only the listed volumes change; failures, acknowledgement and removal work as with complete ones', async () => {
    const sat = open.find((s) => s.messages.length > 0)!;
    const latest = () => {
      const m = sat.messages[sat.messages.length - 1]!;
      return m.type === 'full' ? m.state.revision : m.revision;
    };
    for (const name of ['part1', 'part2']) {
      await t.ok(`mutation($n: String!) { createResourceDefinition(input: { name: $n, volumeDefinitions: [{ sizeKib: "64MiB" }] }) { name } }`, { n: name });
      await createResourceRecord(t.service(), { resourceDefinition: name, node: 'sat1', storagePool: 'thin' });
      await until(`${name} in the desired state`, () => sat.messages.find((m) => m.type === 'delta' && m.upsertVolumes.some((v) => v.resource === name)));
    }
    const created = (resource: string, devicePath: string) => ({ resource, volumeNumber: 0, state: 'CREATED' as const, error: null, devicePath, usableKib: '65536', allocatedKib: '0' });
    const volumes = async (): Promise<Record<string, unknown>> => {
      const view = await t.ok(`{ node(name: "sat1") { lastError resources { name volumes { state devicePath lastError } } } }`);
      return { lastError: view.node.lastError, ...Object.fromEntries(view.node.resources.filter((r: { name: string }) => r.name.startsWith('part')).map((r: { name: string; volumes: unknown[] }) => [r.name, r.volumes[0]])) };
    };
    await sat.report({ revision: latest(), converged: true, pools: [], volumes: [created('part1', '/dev/loop1'), created('part2', '/dev/loop2')] });
    expect(await volumes()).toEqual({ lastError: null, part1: { state: 'CREATED', devicePath: '/dev/loop1', lastError: null }, part2: { state: 'CREATED', devicePath: '/dev/loop2', lastError: null } });

    // part2 failed; part1 is not listed, so it stays as reported before (a complete report without it would not
    // change it either, but a partial one must not even read it).
    await sat.report({ revision: latest(), converged: false, partial: true, pools: [], volumes: [{ resource: 'part2', volumeNumber: 0, state: 'FAILED', error: 'lvcreate: boom' }] });
    expect(await volumes()).toEqual({
      lastError: expect.stringContaining('lvcreate: boom'),
      part1: { state: 'CREATED', devicePath: '/dev/loop1', lastError: null },
      part2: { state: 'FAILED', devicePath: '/dev/loop2', lastError: 'lvcreate: boom' },
    });
    // Recovered: listed again (it changed); the node's error summary clears with a partial report too.
    await sat.report({ revision: latest(), converged: true, partial: true, pools: [], volumes: [created('part2', '/dev/loop3')] });
    expect(await volumes()).toEqual({ lastError: null, part1: { state: 'CREATED', devicePath: '/dev/loop1', lastError: null }, part2: { state: 'CREATED', devicePath: '/dev/loop3', lastError: null } });
    expect((await status('sat1')).appliedRevision).toBe(latest());

    // A partial report that lists nothing still acknowledges the deletion's revision, and the record goes, with its
    // volume's DELETED event.
    const seen: string[] = [];
    const stop = t.service().events.listen((e) => {
      if (e.kind === 'VOLUME' && e.action === 'DELETED') seen.push(e.path.join('/'));
    });
    try {
      await deleteResourceRecord(t.service(), { resourceDefinition: 'part1', node: 'sat1' });
      await until('deletion delta', () => sat.messages.find((m) => m.type === 'delta' && m.deleteDrbdResources.includes('part1')));
      await sat.report({ revision: latest(), converged: true, partial: true, pools: [], volumes: [] });
      expect((await t.ok(`{ resource(resourceDefinition: "part1", node: "sat1") { flags } }`)).resource).toBeNull();
      await until('volume DELETED event', () => seen.length > 0);
      expect(seen).toEqual(['part1/sat1/0']);
      expect((await volumes()).part2).toEqual({ state: 'CREATED', devicePath: '/dev/loop3', lastError: null });
    } finally {
      stop();
    }
  });

  it('moves a placement job from the reports: REALIZING while a node has not acknowledged, FAILED with the volume error, DONE once all have', async () => {
    const sats: Record<string, FakeSatellite> = {};
    const latest = (s: FakeSatellite) => {
      const m = s.messages[s.messages.length - 1]!;
      return m.type === 'full' ? m.state.revision : m.revision;
    };
    for (const name of ['job-a', 'job-b']) {
      const created = await t.ok(`mutation($n: String!) { createNode(input: { name: $n, netInterfaces: [{ address: "10.0.1.${name === 'job-a' ? 1 : 2}" }] }) { satelliteSecret } }`, { n: name });
      const sat = connect(name, created.createNode.satelliteSecret);
      sats[name] = sat;
      await until('full state', () => sat.messages[0]);
      await t.ok(`mutation($n: String!) { createStoragePool(input: { node: $n, name: "jobpool", providerKind: FILE_THIN, props: [{ key: "StorDriver/FileDir", value: "/srv/j" }] }) { name } }`, { n: name });
      await until('pool delta', () => sat.messages.find((m) => m.type === 'delta' && m.upsertPools.some((p) => p.name === 'jobpool')));
      await sat.report({ revision: latest(sat), converged: true, pools: [{ name: 'jobpool', error: null, totalKib: '10737418240', freeKib: '10737418240' }], volumes: [] });
    }
    const spawned = await t.ok(`mutation { spawnResources(input: { resourceDefinition: "jobs1", volumeSizes: ["64MiB"], selectFilter: { placeCount: 2, storagePoolList: ["jobpool"] } }) { job { uuid } } }`);
    const job = async () => (await t.ok(`query($u: ID!) { placementJob(uuid: $u) { state reason finishedAt } }`, { u: spawned.spawnResources.job.uuid })).placementJob;
    const [a, b] = [sats['job-a']!, sats['job-b']!];
    for (const s of [a, b]) await until('the replica in the desired state', () => s.messages.find((m) => m.type === 'delta' && m.upsertVolumes.some((v) => v.resource === 'jobs1')));
    const created = (resource: string) => ({ resource, volumeNumber: 0, state: 'CREATED' as const, error: null, devicePath: '/dev/loop9', usableKib: '65536', allocatedKib: '0' });

    // Two diskful replicas get a diskless tie-breaker on the third satellite (sat1): the job waits for all three.
    const sat1 = open.find((s) => s.messages.length > 0)!;
    await until('the tie-breaker in the desired state', () => sat1.messages.find((m) => m.type === 'delta' && m.upsertDrbdResources.some((r) => r.name === 'jobs1' && r.tieBreaker)));
    await a.report({ revision: latest(a), converged: true, pools: [], volumes: [created('jobs1')] });
    expect(await job()).toEqual({ state: 'REALIZING', reason: 'waiting for job-b, sat1', finishedAt: null });
    await sat1.report({ revision: latest(sat1), converged: true, pools: [], volumes: [] });
    expect(await job()).toEqual({ state: 'REALIZING', reason: 'waiting for job-b', finishedAt: null });
    await b.report({ revision: latest(b), converged: false, pools: [], volumes: [{ resource: 'jobs1', volumeNumber: 0, state: 'FAILED', error: 'fallocate: No space left on device' }] });
    expect(await job()).toEqual({ state: 'FAILED', reason: 'volume jobs1/0: fallocate: No space left on device (the satellite retries)', finishedAt: null });
    // A pass where the volume came up but something else of the node did not converge: no longer FAILED, still waiting.
    await b.report({ revision: latest(b), converged: false, pools: [{ name: 'jobpool', error: 'vgs: timeout', totalKib: '10737418240', freeKib: '10737418240' }], volumes: [created('jobs1')] });
    expect(await job()).toEqual({ state: 'REALIZING', reason: 'waiting for job-b', finishedAt: null });
    await b.report({ revision: latest(b), converged: false, pools: [], volumes: [{ resource: 'jobs1', volumeNumber: 0, state: 'FAILED', error: 'fallocate: No space left on device' }] });
    expect((await job()).state).toBe('FAILED');
    // The satellite retried and converged: the acknowledgement completes the job.
    await b.report({ revision: latest(b), converged: true, pools: [], volumes: [created('jobs1')] });
    expect(await job()).toEqual({ state: 'DONE', reason: null, finishedAt: expect.any(String) });
  });

  it("gives peers a node's new hostname when its satellite comes back under another one", async () => {
    const secrets: Record<string, string> = {};
    for (const [i, name] of ['host-a', 'host-b'].entries()) {
      secrets[name] = (await t.ok(`mutation($n: String!) { createNode(input: { name: $n, netInterfaces: [{ address: "10.0.2.${i + 1}" }] }) { satelliteSecret } }`, { n: name })).createNode.satelliteSecret;
      await t.ok(`mutation($n: String!) { createStoragePool(input: { node: $n, name: "hpool", providerKind: FILE_THIN, props: [{ key: "StorDriver/FileDir", value: "/srv/h" }] }) { name } }`, { n: name });
    }
    const a = connect('host-a', secrets['host-a']!, 'machine-a-old');
    const b = connect('host-b', secrets['host-b']!, 'machine-b');
    await t.ok(`mutation { createResourceDefinition(input: { name: "hosts1", volumeDefinitions: [{ sizeKib: "64MiB" }] }) { name } }`);
    for (const node of ['host-a', 'host-b']) await createResourceRecord(t.service(), { resourceDefinition: 'hosts1', node, storagePool: 'hpool' });
    const peerHostname = () => {
      const deltas = b.messages.filter((m) => m.type === 'delta' && m.upsertDrbdResources.some((r) => r.name === 'hosts1'));
      const last = deltas[deltas.length - 1];
      return last?.type === 'delta' ? last.upsertDrbdResources.find((r) => r.name === 'hosts1')!.peers[0]?.hostname : undefined;
    };
    await until('the peer with its first hostname', () => peerHostname() === 'machine-a-old');
    await a.dispose();
    await until('host-a OFFLINE', async () => ((await status('host-a')).connectionStatus === 'OFFLINE' ? true : undefined));
    connect('host-a', secrets['host-a']!, 'machine-a-new');
    await until('the peer with its new hostname', () => peerHostname() === 'machine-a-new');
  });

  it('rebuilds a node in full when told to (a lost revision move): a change the change log does not name still reaches it', async () => {
    const secret = (await t.ok(`mutation { createNode(input: { name: "full-a", netInterfaces: [{ address: "10.0.3.1" }] }) { satelliteSecret } }`)).createNode.satelliteSecret;
    await t.ok(`mutation { createStoragePool(input: { node: "full-a", name: "fpool", providerKind: FILE_THIN, props: [{ key: "StorDriver/FileDir", value: "/srv/f" }] }) { name } }`);
    const sat = connect('full-a', secret);
    await t.ok(`mutation { createResourceDefinition(input: { name: "full1", volumeDefinitions: [{ sizeKib: "64MiB" }] }) { name } }`);
    await createResourceRecord(t.service(), { resourceDefinition: 'full1', node: 'full-a', storagePool: 'fpool' });
    await until('the replica', () => sat.messages.find((m) => m.type === 'delta' && m.upsertDrbdResources.some((r) => r.name === 'full1')));
    const last = sat.messages[sat.messages.length - 1]!;
    const revision = last.type === 'delta' ? last.revision : -1;
    // An option written behind the change log's back, as if the revision move for it had been lost.
    const db = t.controller.orm.em.getConnection();
    await db.execute(`update resource_definition set props = '{"DrbdOptions/Net/max-buffers": "9000"}' where name = 'full1'`);
    const id = (await db.execute<{ id: number }[]>(`select id from node where name = 'full-a'`))[0]!.id;
    const count = sat.messages.length;
    // An ordinary wake-up builds from the last state sent and the change log, which names nothing new: nothing goes out.
    t.controller.events.publishInternal({ type: 'desired-state-changed', nodeIds: [id] });
    await new Promise((r) => setTimeout(r, 300));
    expect(sat.messages.length).toBe(count);
    t.controller.events.publishInternal({ type: 'desired-state-changed', nodeIds: [id], full: true });
    const fixed = await until('the full rebuild', () => sat.messages.slice(count).find((m) => m.type === 'delta' && m.upsertDrbdResources.some((r) => r.name === 'full1')));
    expect(fixed.type === 'delta' && [fixed.revision, fixed.upsertDrbdResources[0]!.options['DrbdOptions/Net/max-buffers']]).toEqual([revision, '9000']);
  });

  it('disconnects a satellite whose secret was rotated, and accepts the new secret', async () => {
    const sat = open.find((s) => s.messages.length > 0)!;
    const rotated = await t.ok(`mutation { rotateNodeSecret(name: "sat1") { satelliteSecret } }`);
    expect(await sat.closed).toMatchObject({ code: 4401, reason: expect.stringContaining('rotated') });
    await until('OFFLINE', async () => ((await status('sat1')).connectionStatus === 'OFFLINE' ? true : undefined));
    expect(await connect('sat1', secret).closed).toMatchObject({ code: 4401 });
    const fresh = connect('sat1', rotated.rotateNodeSecret.satelliteSecret);
    await until('full state after rotation', () => fresh.messages[0]);
  });

  it('refuses browsers (any Origin) on the satellite endpoint', async () => {
    const ws = new WebSocket(`${t.url.replace(/^http/, 'ws')}${SATELLITE_PATH}`, 'graphql-transport-ws', { headers: { Origin: t.url } });
    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(403);
  });

  it('disconnects the satellite of a node that is deleted', async () => {
    const created = await t.ok(`mutation { createNode(input: { name: "short-lived", netInterfaces: [{ address: "10.0.0.9" }] }) { satelliteSecret } }`);
    const sat = connect('short-lived', created.createNode.satelliteSecret);
    await until('full state', () => sat.messages[0]);
    await t.ok(`mutation { deleteNode(name: "short-lived") { name } }`);
    expect(await sat.closed).toMatchObject({ code: 4404 });
  });

  it('shows a satellite that stops answering OFFLINE within the keepalive window', async () => {
    await until('CONNECTED', async () => ((await status('sat1')).connectionStatus === 'CONNECTED' ? true : undefined));
    // Freeze the satellite's socket: it stops answering pings but never closes (like a killed or cut-off host).
    const started = Date.now();
    pauseSocketsOf(t);
    await until('OFFLINE', async () => ((await status('sat1')).connectionStatus === 'OFFLINE' ? true : undefined), 5000);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

/** Makes the controller's satellite sockets deaf to pongs, as if the peers vanished without closing. */
function pauseSocketsOf(t: TestController): void {
  for (const ws of t.controller.satellites.wss.clients) {
    ws.removeAllListeners('pong');
  }
}
