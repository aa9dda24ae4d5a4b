import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { DesiredDrbdResource, DrbdResourceState } from '../../../../../src/common/protocol/drbd.js';
import { DrbdConfigError } from '../../../../../src/satellite/layers/drbd/backend.js';
import { EmulatedDrbdBackend, type EmulatedDrbdBackendOptions } from '../../../../../src/satellite/layers/drbd/emulated/backend.js';
import { DrbdStateTracker } from '../../../../../src/satellite/layers/drbd/events2.js';

/**
 * The emulated DRBD backend over real TCP between 127.0.0.1/2/3 (Linux routes all of 127/8 to lo). Every emitted
 * line goes through the real events2 parser and DrbdStateTracker, and the assertions are on the tracker's snapshots,
 * which is what the satellite reports to the controller; the tests also fail on any line the parser refuses or the
 * tracker finds stray (a change of an object never created, a destroy of an unknown one).
 */

const RESOURCE = 'r0';
const SIZE_KIB = 40_960;
/** 40 MiB at 80 MiB/s: a sync takes ~0.5 s and reports ~10 progress steps of 50 ms. */
const FAST: Partial<EmulatedDrbdBackendOptions> = { syncRateKibPerSec: 81_920, progressIntervalMs: 50, reconnectIntervalMs: 50 };

interface NodeSpec {
  node: string;
  nodeId: number;
  address: string;
  port: number;
  diskless?: boolean;
  tieBreaker?: boolean;
  secret?: string;
}

interface EmulatedNode {
  spec: NodeSpec;
  backend: EmulatedDrbdBackend;
  tracker: DrbdStateTracker;
  lines: string[];
  problems: string[];
  logs: { level: number; msg: string; drbdBackend?: string }[];
  metadataDir: string | undefined;
}

const running: EmulatedNode[] = [];
const tempDirs: string[] = [];

afterEach(async () => {
  await Promise.all(running.map((n) => n.backend.stop()));
  const problems = running.flatMap((n) => n.problems.map((p) => `${n.spec.node}: ${p}`));
  running.length = 0;
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  expect(problems).toEqual([]);
});

/** Three nodes on their own loopback addresses, with random ports in 20000-40000. */
function specs(): [NodeSpec, NodeSpec, NodeSpec] {
  const base = 20_000 + Math.floor(Math.random() * 19_000);
  return [
    { node: 'n1', nodeId: 0, address: '127.0.0.1', port: base },
    { node: 'n2', nodeId: 1, address: '127.0.0.2', port: base + 1 },
    { node: 'n3', nodeId: 2, address: '127.0.0.3', port: base + 2 },
  ];
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'bp-emulated-drbd-'));
  tempDirs.push(dir);
  return dir;
}

/** A started backend whose events2 lines feed a DrbdStateTracker. */
async function startNode(spec: NodeSpec, options: Partial<EmulatedDrbdBackendOptions> = {}): Promise<EmulatedNode> {
  const logs: EmulatedNode['logs'] = [];
  const log = pino({ level: 'debug' }, { write: (text: string) => void logs.push(JSON.parse(text) as EmulatedNode['logs'][number]) });
  const problems: string[] = [];
  const tracker = new DrbdStateTracker({
    onError: (error) => problems.push(error.message),
    onStrayEvent: (message, event) => problems.push(`${message}: ${JSON.stringify(event.props)}`),
    onUnknownState: (state) => problems.push(`unknown state ${JSON.stringify(state)}`),
  });
  const backend = new EmulatedDrbdBackend({ log, ...FAST, ...options });
  const node: EmulatedNode = { spec, backend, tracker, lines: [], problems, logs, metadataDir: options.metadataDir };
  await backend.start(
    (line) => {
      node.lines.push(line);
      tracker.push(line);
    },
    () => problems.push('onRestart called'),
  );
  running.push(node);
  return node;
}

/** The desired resource on `self`, with every other spec as a peer. */
function desired(self: NodeSpec, all: NodeSpec[], options: Record<string, string> = {}): DesiredDrbdResource {
  return {
    name: RESOURCE,
    secret: self.secret ?? 'Zq1X5ZG0mWTnO2Qoy7rN',
    nodeId: self.nodeId,
    address: self.address,
    port: self.port,
    diskless: self.diskless ?? false,
    tieBreaker: self.tieBreaker ?? false,
    peerSlots: 7,
    volumes: [{ volumeNumber: 0, minor: 1000, sizeKib: String(SIZE_KIB) }],
    peers: all
      .filter((p) => p.nodeId !== self.nodeId)
      .map((p) => ({
        node: p.node,
        hostname: p.node,
        nodeId: p.nodeId,
        address: p.address,
        port: p.port,
        diskless: p.diskless ?? false,
        tieBreaker: p.tieBreaker ?? false,
      })),
    options,
    initialSyncSourceVolumes: [],
  };
}

/** What the DRBD layer does: create-md where there is no metadata yet, then adjust. */
async function bringUp(node: EmulatedNode, resource: DesiredDrbdResource): Promise<void> {
  if (!resource.diskless) {
    for (const volume of resource.volumes) {
      const backing = `/dev/emulated-test/${node.spec.node}/${resource.name}_${volume.volumeNumber}`;
      if (!(await node.backend.hasMetadata(resource, volume.volumeNumber, backing))) {
        await node.backend.createMetadata(resource, volume.volumeNumber);
      }
    }
  }
  await node.backend.adjust(resource);
}

function state(node: EmulatedNode): DrbdResourceState | undefined {
  return node.tracker.snapshot().find((r) => r.resource === RESOURCE);
}

function disk(node: EmulatedNode): string | undefined {
  return state(node)?.volumes[0]?.diskState;
}

function connection(node: EmulatedNode, peer: NodeSpec): { connectionState: string; replication?: string; peerDisk?: string } | undefined {
  const conn = state(node)?.connections.find((c) => c.peerNodeId === peer.nodeId);
  if (conn === undefined) return undefined;
  const pd = conn.peerDevices[0];
  return { connectionState: conn.connectionState, replication: pd?.replicationState, peerDisk: pd?.peerDiskState };
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const upToDateWith = (node: EmulatedNode, peers: NodeSpec[]): boolean =>
  disk(node) === 'UpToDate' &&
  peers.every((p) => {
    const c = connection(node, p);
    return c?.connectionState === 'Connected' && c.replication === 'Established' && c.peerDisk === 'UpToDate';
  });

/** The `done:` values a node printed for its peer-device towards `peer`, in order. */
function doneValues(node: EmulatedNode, peer: NodeSpec): number[] {
  const pattern = new RegExp(`^change peer-device name:${RESOURCE} peer-node-id:${peer.nodeId} .*done:([\\d.]+)`);
  return node.lines.flatMap((line) => {
    const match = pattern.exec(line);
    return match?.[1] === undefined ? [] : [Number(match[1])];
  });
}

const warnings = (node: EmulatedNode): string[] => node.logs.filter((l) => l.level === 40).map((l) => l.msg);

describe('EmulatedDrbdBackend', () => {
  it('runs the initial sync of two replicas from the forced source, with rising progress on both sides', async () => {
    const [s1, s2] = specs();
    const n1 = await startNode(s1);
    const n2 = await startNode(s2);
    await bringUp(n1, desired(s1, [s1, s2]));
    await bringUp(n2, desired(s2, [s1, s2]));

    expect(n1.lines.slice(0, 5)).toEqual([
      'exists -',
      'create resource name:r0 role:Secondary suspended:no may_promote:no promotion_score:0',
      'create device name:r0 volume:0 minor:1000 disk:Inconsistent client:no quorum:yes',
      'create connection name:r0 peer-node-id:1 conn-name:n2 connection:Connecting role:Unknown',
      'create peer-device name:r0 peer-node-id:1 conn-name:n2 volume:0 replication:Off peer-disk:DUnknown peer-client:no',
    ]);
    await waitFor('connected, both Inconsistent', () => connection(n1, s2)?.replication === 'Established' && connection(n2, s1)?.peerDisk === 'Inconsistent');
    expect(disk(n2)).toBe('Inconsistent');

    await n1.backend.forceInitialSync(desired(s1, [s1, s2]), [0]);
    await waitFor('n2 SyncTarget', () => connection(n2, s1)?.replication === 'SyncTarget');
    expect(connection(n1, s2)).toEqual({ connectionState: 'Connected', replication: 'SyncSource', peerDisk: 'Inconsistent' });
    expect(disk(n1)).toBe('UpToDate');
    expect(disk(n2)).toBe('Inconsistent');

    await waitFor('both UpToDate', () => upToDateWith(n1, [s2]) && upToDateWith(n2, [s1]));
    for (const done of [doneValues(n1, s2), doneValues(n2, s1)]) {
      expect(done.length).toBeGreaterThanOrEqual(4);
      expect(done).toEqual([...done].sort((a, b) => a - b));
      expect(new Set(done).size).toBe(done.length);
      expect(done[done.length - 1]).toBeLessThan(100);
    }
    expect(n1.lines).toContain('change resource name:r0 role:Primary');
    expect(n2.lines.at(-3)).toMatch(/^change peer-device name:r0 peer-node-id:0 conn-name:n1 volume:0 replication:Established$/);
    expect(state(n2)?.connections[0]?.peerDevices[0]?.donePercent).toBeNull();
    expect(state(n1)?.volumes[0]).toEqual({ volumeNumber: 0, minor: 1000, diskState: 'UpToDate', client: false, quorum: true });
    expect(n1.logs.every((l) => l.drbdBackend === 'emulated' && /emulated/.test(l.msg))).toBe(true);
  });

  it('connects a diskless tie-breaker: Diskless, voting (client:no), reading from UpToDate peers', async () => {
    const [s1, s2, s3] = specs();
    s3.diskless = true;
    s3.tieBreaker = true;
    const all = [s1, s2, s3];
    const quorum = { 'DrbdOptions/Resource/quorum': 'majority' };
    const nodes = [await startNode(s1), await startNode(s2), await startNode(s3)] as const;
    for (const [i, node] of nodes.entries()) await bringUp(node, desired(all[i] as NodeSpec, all, quorum));
    await nodes[0].backend.forceInitialSync(desired(s1, all, quorum), [0]);

    await waitFor('diskful replicas UpToDate', () => upToDateWith(nodes[0], [s2]) && upToDateWith(nodes[1], [s1]));
    await waitFor('tie-breaker sees both UpToDate', () => upToDateWith(nodes[2], []) || [s1, s2].every((p) => connection(nodes[2], p)?.peerDisk === 'UpToDate'));
    expect(state(nodes[2])?.volumes[0]).toEqual({ volumeNumber: 0, minor: 1000, diskState: 'Diskless', client: false, quorum: true });
    expect(connection(nodes[2], s1)).toEqual({ connectionState: 'Connected', replication: 'Established', peerDisk: 'UpToDate' });
    expect(connection(nodes[0], s3)).toEqual({ connectionState: 'Connected', replication: 'Established', peerDisk: 'Diskless' });
    expect(connection(nodes[1], s3)?.peerDisk).toBe('Diskless');
    expect(nodes.every((n) => state(n)?.volumes[0]?.quorum === true)).toBe(true);
    // A diskless replica never syncs.
    expect(nodes[2].lines.some((l) => /replication:Sync/.test(l))).toBe(false);

    // The tie-breaker keeps quorum for the survivor of a diskful pair.
    await nodes[1].backend.stop();
    await waitFor('n2 gone', () => connection(nodes[0], s2)?.connectionState === 'Connecting');
    expect(state(nodes[0])?.volumes[0]?.quorum).toBe(true);
  });

  it('connects soon after the accepting side comes up, long before the reconnect interval, when the dialing side came up first', async () => {
    const [s1, s2] = specs();
    const all = [s1, s2];
    // n2 (the higher node id) dials; n1 only accepts. The reconnect interval is far longer than the wait below.
    const slow = { reconnectIntervalMs: 10_000 };
    const n2 = await startNode(s2, slow);
    await bringUp(n2, desired(s2, all));
    await new Promise((r) => setTimeout(r, 300)); // n2's first dials find nobody listening
    const n1 = await startNode(s1, slow);
    const upAt = Date.now();
    await bringUp(n1, desired(s1, all));
    await waitFor('connected', () => connection(n1, s2)?.connectionState === 'Connected' && connection(n2, s1)?.connectionState === 'Connected', 3000);
    // Redials double from 25 ms: after 300 ms without a listener the next one comes within about 200 ms.
    expect(Date.now() - upAt).toBeLessThan(1500);
  });

  it('refuses a peer with the wrong shared secret: Connecting on both sides, one warning, until the secret is fixed', async () => {
    const [s1, s2] = specs();
    const n1 = await startNode(s1);
    const n2 = await startNode(s2);
    await bringUp(n1, desired(s1, [s1, s2]));
    const wrong = { ...s2, secret: 'not-the-shared-secret' };
    await bringUp(n2, desired(wrong, [s1, wrong]));

    await waitFor('refusals logged', () => warnings(n1).length > 0 && warnings(n2).length > 0);
    await sleep(300); // ~6 more dial attempts at 50 ms
    expect(connection(n1, s2)?.connectionState).toBe('Connecting');
    expect(connection(n2, s1)?.connectionState).toBe('Connecting');
    expect(warnings(n1)).toEqual([expect.stringContaining('shared secret mismatch')]);
    expect(warnings(n2)).toEqual([expect.stringContaining('shared secret mismatch')]);
    expect(n1.lines.some((l) => l.includes('connection:Connected'))).toBe(false);

    await n2.backend.adjust(desired(s2, [s1, s2]));
    await waitFor('connected with the right secret', () => connection(n1, s2)?.connectionState === 'Connected');
  });

  it('refuses a peer whose node id does not match the configuration', async () => {
    const [s1, s2] = specs();
    const n1 = await startNode(s1);
    const n2 = await startNode(s2);
    await bringUp(n1, desired(s1, [s1, s2]));
    // n2 believes it is node 2; n1 expects node 1 at that address.
    const renumbered = { ...s2, nodeId: 2 };
    await bringUp(n2, desired(renumbered, [s1, renumbered]));

    await waitFor('refusal logged', () => warnings(n1).length > 0);
    expect(warnings(n1)).toEqual([expect.stringContaining('node-id mismatch: node-id 2 is not a peer')]);
    await sleep(200);
    expect(connection(n1, s2)?.connectionState).toBe('Connecting');
    expect(connection(n2, s1)?.connectionState).toBe('Connecting');
  });

  it('sees a stopped peer as Connecting/DUnknown and reconnects its restart without a full resync', async () => {
    const [s1, s2] = specs();
    const dir2 = tempDir();
    const n1 = await startNode(s1, { metadataDir: tempDir() });
    const n2 = await startNode(s2, { metadataDir: dir2 });
    await bringUp(n1, desired(s1, [s1, s2]));
    await bringUp(n2, desired(s2, [s1, s2]));
    await n1.backend.forceInitialSync(desired(s1, [s1, s2]), [0]);
    await waitFor('initial sync done', () => upToDateWith(n1, [s2]) && upToDateWith(n2, [s1]));

    await n2.backend.stop();
    await waitFor('n1 sees n2 gone', () => connection(n1, s2)?.connectionState === 'Connecting');
    expect(connection(n1, s2)).toEqual({ connectionState: 'Connecting', replication: 'Off', peerDisk: 'DUnknown' });
    expect(disk(n1)).toBe('UpToDate');

    const linesBefore = n1.lines.length;
    const restarted = await startNode(s2, { metadataDir: dir2 });
    const resource = desired(s2, [s1, s2]);
    expect(await restarted.backend.hasMetadata(resource, 0, `/dev/emulated-test/n2/${RESOURCE}_0`)).toBe(true);
    await bringUp(restarted, resource);
    expect(restarted.lines).toContain('create device name:r0 volume:0 minor:1000 disk:Consistent client:no quorum:yes');

    await waitFor('reconnected, both UpToDate', () => upToDateWith(restarted, [s1]) && upToDateWith(n1, [s2]));
    expect(restarted.lines.some((l) => /replication:(SyncTarget|WFBitMapT)/.test(l))).toBe(false);
    expect(n1.lines.slice(linesBefore).some((l) => /replication:(SyncSource|WFBitMapS)/.test(l))).toBe(false);
  });

  it('resumes an interrupted initial sync where it stopped once the target is back', async () => {
    const [s1, s2] = specs();
    const dir2 = tempDir();
    const n1 = await startNode(s1, { syncRateKibPerSec: 20_480 }); // 2 s for the whole volume
    const n2 = await startNode(s2, { metadataDir: dir2 });
    await bringUp(n1, desired(s1, [s1, s2]));
    await bringUp(n2, desired(s2, [s1, s2]));
    await n1.backend.forceInitialSync(desired(s1, [s1, s2]), [0]);
    await waitFor('sync past 15 %', () => (state(n2)?.connections[0]?.peerDevices[0]?.donePercent ?? 0) > 15);
    await n2.backend.stop();
    const reached = Math.max(...doneValues(n2, s1));

    const restarted = await startNode(s2, { metadataDir: dir2 });
    await bringUp(restarted, desired(s2, [s1, s2]));
    expect(restarted.lines).toContain('create device name:r0 volume:0 minor:1000 disk:Inconsistent client:no quorum:yes');
    await waitFor('resync resumed', () => doneValues(restarted, s1).length > 0);
    expect(doneValues(restarted, s1)[0]).toBeGreaterThanOrEqual(reached - 0.01);
    await waitFor('resync done', () => upToDateWith(restarted, [s1]) && upToDateWith(n1, [s2]), 4000);
  });

  it('prints destroy lines on down(), and down() of a resource that is not up prints nothing', async () => {
    const [s1, s2] = specs();
    const n1 = await startNode(s1);
    const n2 = await startNode(s2);
    await bringUp(n1, desired(s1, [s1, s2]));
    await bringUp(n2, desired(s2, [s1, s2]));
    await waitFor('connected', () => connection(n1, s2)?.connectionState === 'Connected');

    const before = n1.lines.length;
    await n1.backend.down(RESOURCE);
    expect(n1.lines.slice(before)).toEqual([
      'destroy peer-device name:r0 peer-node-id:1 conn-name:n2 volume:0',
      'destroy connection name:r0 peer-node-id:1 conn-name:n2',
      'destroy device name:r0 volume:0 minor:1000',
      'destroy resource name:r0',
    ]);
    expect(n1.tracker.snapshot()).toEqual([]);
    await waitFor('n2 sees n1 gone', () => connection(n2, s1)?.connectionState === 'Connecting');
    expect(connection(n2, s1)?.peerDisk).toBe('DUnknown');

    await n1.backend.down(RESOURCE);
    expect(n1.lines.length).toBe(before + 4);
  });

  it('loses quorum when two of three diskful replicas are gone, and regains it when one returns', async () => {
    const all = specs();
    const [s1, s2, s3] = all;
    const quorum = { 'DrbdOptions/Resource/quorum': 'majority' };
    const n1 = await startNode(s1);
    const n2 = await startNode(s2);
    const n3 = await startNode(s3);
    for (const [node, spec] of [[n1, s1], [n2, s2], [n3, s3]] as const) await bringUp(node, desired(spec, all, quorum));
    // Alone, a member of three has no quorum.
    expect(n1.lines).toContain('create device name:r0 volume:0 minor:1000 disk:Inconsistent client:no quorum:no');
    await waitFor('all connected', () => [s2, s3].every((p) => connection(n1, p)?.connectionState === 'Connected'));
    expect(state(n1)?.volumes[0]?.quorum).toBe(true);

    await n2.backend.stop();
    await waitFor('n2 gone', () => connection(n1, s2)?.connectionState === 'Connecting');
    expect(state(n1)?.volumes[0]?.quorum).toBe(true);
    await n3.backend.stop();
    await waitFor('quorum lost', () => state(n1)?.volumes[0]?.quorum === false);
    expect(n1.lines.at(-1)).not.toMatch(/quorum:yes/);

    const back = await startNode(s3);
    await bringUp(back, desired(s3, all, quorum));
    await waitFor('quorum regained', () => state(n1)?.volumes[0]?.quorum === true);
  });

  it('is idempotent: a second adjust with the same configuration prints nothing and creates nothing twice', async () => {
    const [s1, s2] = specs();
    const n1 = await startNode(s1);
    const resource = desired(s1, [s1, s2]);
    await bringUp(n1, resource);
    const after = n1.lines.length;
    await n1.backend.adjust(resource);
    await n1.backend.adjust(structuredClone(resource));
    expect(n1.lines.length).toBe(after);
    expect(n1.lines.filter((l) => l.startsWith('create ')).length).toBe(4);

    // And with the peer connecting meanwhile, still one of each object.
    const n2 = await startNode(s2);
    await bringUp(n2, desired(s2, [s1, s2]));
    await n2.backend.adjust(desired(s2, [s1, s2]));
    await waitFor('connected', () => connection(n1, s2)?.connectionState === 'Connected');
    await n1.backend.adjust(resource);
    for (const node of [n1, n2]) expect(node.lines.filter((l) => l.startsWith('create ')).length).toBe(4);
  });

  it('follows adjust: an added volume syncs, a removed peer is destroyed and its link closed', async () => {
    const [s1, s2] = specs();
    const n1 = await startNode(s1);
    const n2 = await startNode(s2);
    const r1 = desired(s1, [s1, s2]);
    const r2 = desired(s2, [s1, s2]);
    await bringUp(n1, r1);
    await bringUp(n2, r2);
    await n1.backend.forceInitialSync(r1, [0]);
    await waitFor('volume 0 UpToDate', () => upToDateWith(n2, [s1]));

    const volume1 = { volumeNumber: 1, minor: 1001, sizeKib: '4096' };
    const r1b = { ...r1, volumes: [...r1.volumes, volume1] };
    const r2b = { ...r2, volumes: [...r2.volumes, volume1] };
    await bringUp(n1, r1b);
    await bringUp(n2, r2b);
    expect(n1.lines).toContain('create device name:r0 volume:1 minor:1001 disk:Inconsistent client:no quorum:yes');
    expect(n1.lines).toContain('create peer-device name:r0 peer-node-id:1 conn-name:n2 volume:1 replication:Off peer-disk:DUnknown peer-client:no');
    await n1.backend.forceInitialSync(r1b, [1]);
    await waitFor('volume 1 UpToDate on n2', () => state(n2)?.volumes[1]?.diskState === 'UpToDate');

    const before = n1.lines.length;
    await n1.backend.adjust({ ...r1b, peers: [] });
    // Then may_promote/promotion_score follow the lost peer.
    expect(n1.lines.slice(before, before + 3)).toEqual([
      'destroy peer-device name:r0 peer-node-id:1 conn-name:n2 volume:0',
      'destroy peer-device name:r0 peer-node-id:1 conn-name:n2 volume:1',
      'destroy connection name:r0 peer-node-id:1 conn-name:n2',
    ]);
    await waitFor('n2 sees the link closed', () => connection(n2, s1)?.connectionState === 'Connecting');
  });

  it('syncs a new replica from one UpToDate peer while the other waits paused, then all are UpToDate', async () => {
    const all = specs();
    const [s1, s2, s3] = all;
    const n1 = await startNode(s1);
    const n2 = await startNode(s2);
    await bringUp(n1, desired(s1, all));
    await bringUp(n2, desired(s2, all));
    await n1.backend.forceInitialSync(desired(s1, all), [0]);
    await waitFor('n1 and n2 UpToDate', () => upToDateWith(n1, [s2]) && upToDateWith(n2, [s1]));

    const n3 = await startNode(s3);
    await bringUp(n3, desired(s3, all));
    await waitFor('all UpToDate', () => upToDateWith(n3, [s1, s2]) && upToDateWith(n1, [s2, s3]) && upToDateWith(n2, [s1, s3]));
    const syncedFrom = [s1, s2].filter((p) => doneValues(n3, p).length > 0);
    expect(syncedFrom).toHaveLength(1);
    const waited = syncedFrom[0] === s1 ? s2 : s1;
    expect(n3.lines.some((l) => l.includes(`peer-node-id:${waited.nodeId} `) && l.includes('replication:PausedSyncT'))).toBe(true);
    const waitedNode = waited === s1 ? n1 : n2;
    expect(waitedNode.lines.some((l) => l.includes('replication:PausedSyncS'))).toBe(true);
    expect(waitedNode.lines.some((l) => l.includes('replication:SyncSource') && l.includes('peer-node-id:2 '))).toBe(false);
  });

  it('detaches a replica turned diskless and resyncs it when it is diskful again with fresh metadata', async () => {
    const [s1, s2] = specs();
    const n1 = await startNode(s1);
    const n2 = await startNode(s2);
    await bringUp(n1, desired(s1, [s1, s2]));
    await bringUp(n2, desired(s2, [s1, s2]));
    await n1.backend.forceInitialSync(desired(s1, [s1, s2]), [0]);
    await waitFor('UpToDate', () => upToDateWith(n2, [s1]));

    const disklessS2 = { ...s2, diskless: true };
    await n2.backend.adjust(desired(disklessS2, [s1, disklessS2]));
    await n1.backend.adjust(desired(s1, [s1, disklessS2]));
    expect(state(n2)?.volumes[0]).toMatchObject({ diskState: 'Diskless', client: true });
    await waitFor('n1 sees a diskless peer', () => connection(n1, s2)?.peerDisk === 'Diskless');
    expect(connection(n2, s1)).toEqual({ connectionState: 'Connected', replication: 'Established', peerDisk: 'UpToDate' });

    const resource = desired(s2, [s1, s2]);
    await n2.backend.createMetadata(resource, 0);
    await n2.backend.adjust(resource);
    await n1.backend.adjust(desired(s1, [s1, s2]));
    await waitFor('resynced', () => upToDateWith(n2, [s1]) && upToDateWith(n1, [s2]));
    expect(n2.lines.filter((l) => l.includes('replication:SyncTarget'))).toHaveLength(2); // initial sync + this one
  });

  it('dumps the resources already up as exists lines when the stream starts again', async () => {
    const [s1, s2] = specs();
    const n1 = await startNode(s1);
    await bringUp(n1, desired(s1, [s1, s2]));
    const dump: string[] = [];
    await n1.backend.start(
      (line) => dump.push(line),
      () => undefined,
    );
    expect(dump).toEqual([
      'exists resource name:r0 role:Secondary suspended:no may_promote:no promotion_score:0',
      'exists connection name:r0 peer-node-id:1 conn-name:n2 connection:Connecting role:Unknown',
      'exists device name:r0 volume:0 minor:1000 disk:Inconsistent client:no quorum:yes',
      'exists peer-device name:r0 peer-node-id:1 conn-name:n2 volume:0 replication:Off peer-disk:DUnknown peer-client:no',
      'exists -',
    ]);
    const tracker = new DrbdStateTracker();
    for (const line of dump) tracker.push(line);
    expect(tracker.ready).toBe(true);
    expect(tracker.snapshot()).toEqual(n1.tracker.snapshot());
  });

  it('refuses what drbdadm would refuse: adjust without metadata, create-md on an attached volume, a port in use', async () => {
    const [s1, s2] = specs();
    const n1 = await startNode(s1);
    const resource = desired(s1, [s1, s2]);
    await expect(n1.backend.adjust(resource)).rejects.toThrow('volume 0 has no DRBD metadata on its backing device; run create-md first');
    expect(n1.lines).toEqual(['exists -']);

    await bringUp(n1, resource);
    await expect(n1.backend.createMetadata(resource, 0)).rejects.toThrow('the volume is attached');
    await expect(n1.backend.forceInitialSync({ ...resource, name: 'absent' }, [0])).rejects.toThrow('the resource is not up');

    const n2 = await startNode({ ...s2, port: s1.port, address: s1.address });
    const taken = desired({ ...s2, port: s1.port, address: s1.address }, [s1, s2]);
    await n2.backend.createMetadata(taken, 0);
    await expect(n2.backend.adjust(taken)).rejects.toThrow(`cannot listen on ${s1.address}:${s1.port}: EADDRINUSE`);
    expect(n2.lines).toEqual(['exists -']);
  });

  it('finds metadata only on the backing device it was created on (a re-created device has none)', async () => {
    const [s1, s2] = specs();
    const dir = tempDir();
    const backing = path.join(dir, 'r0_00000.img');
    writeFileSync(backing, 'x');
    const n1 = await startNode(s1);
    const resource = desired(s1, [s1, s2]);
    expect(await n1.backend.hasMetadata(resource, 0, backing)).toBe(false);
    await n1.backend.createMetadata(resource, 0);
    expect(await n1.backend.hasMetadata(resource, 0, backing)).toBe(true);
    expect(await n1.backend.hasMetadata(resource, 0, `${backing}.other`)).toBe(false);
    rmSync(backing);
    await sleep(5); // a later birth time for the new file
    writeFileSync(backing, 'y');
    expect(await n1.backend.hasMetadata(resource, 0, backing)).toBe(false);
  });

  it('identifies a loop device by its backing file: found on another loop device, not on a reused one', async () => {
    const [s1, s2] = specs();
    const dir = tempDir();
    const sysfs = path.join(dir, 'sys');
    // Stand-ins for /dev/loopN (only the name matters) and their sysfs entries.
    const attach = (loop: string, file: string): string => {
      mkdirSync(path.join(sysfs, 'class', 'block', loop, 'loop'), { recursive: true });
      writeFileSync(path.join(sysfs, 'class', 'block', loop, 'loop', 'backing_file'), `${file}\n`);
      writeFileSync(path.join(dir, loop), '');
      return path.join(dir, loop);
    };
    const image = path.join(dir, 'r0_00000.img');
    writeFileSync(image, 'data');
    const n1 = await startNode(s1, { sysfsRoot: sysfs });
    const resource = desired(s1, [s1, s2]);
    const loop3 = attach('loop3', image);
    expect(await n1.backend.hasMetadata(resource, 0, loop3)).toBe(false);
    await n1.backend.createMetadata(resource, 0);

    // After a reboot the same file is on loop5: the metadata is found.
    expect(await n1.backend.hasMetadata(resource, 0, attach('loop5', image))).toBe(true);
    // loop3 now carries another file: no metadata there.
    const other = path.join(dir, 'other_00000.img');
    writeFileSync(other, 'x');
    expect(await n1.backend.hasMetadata(resource, 0, attach('loop3', other))).toBe(false);
  });

  it('validates a resource file with the given validator, or checks that it exists and is not empty', async () => {
    const dir = tempDir();
    const [s1] = specs();
    const plain = await startNode(s1);
    await expect(plain.backend.validate('r0', path.join(dir, 'missing.res'))).rejects.toThrow(DrbdConfigError);
    writeFileSync(path.join(dir, 'empty.res'), '');
    await expect(plain.backend.validate('r0', path.join(dir, 'empty.res'))).rejects.toThrow('empty resource file (emulated check)');
    writeFileSync(path.join(dir, 'r0.res'), 'resource "r0" {}\n');
    await expect(plain.backend.validate('r0', path.join(dir, 'r0.res'))).resolves.toBeUndefined();

    const seen: string[] = [];
    const checked = await startNode(s1, {
      validator: async (name, file) => {
        seen.push(`${name}:${path.basename(file)}`);
        throw new DrbdConfigError(name, `${file}:1: parse error`);
      },
    });
    await expect(checked.backend.validate('r0', path.join(dir, 'r0.res'))).rejects.toThrow(':1: parse error');
    expect(seen).toEqual(['r0:r0.res']);
  });

  it('leaves no socket, listener or timer behind after stop()', async () => {
    const count = (): { tcp: number; timers: number } => {
      const counts: Record<string, number> = {};
      for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
      return { tcp: (counts.TCPServerWrap ?? 0) + (counts.TCPSocketWrap ?? 0), timers: counts.Timeout ?? 0 };
    };
    await sleep(50); // the previous test's handles finish closing (see below)
    const baseline = count();
    const [s1, s2, s3] = specs();
    const n1 = await startNode(s1, { syncRateKibPerSec: 10_240 });
    const n2 = await startNode(s2);
    const n3 = await startNode(s3); // dials n1 and n2, which never answer for the resource it names
    await bringUp(n1, desired(s1, [s1, s2, s3]));
    await bringUp(n2, desired(s2, [s1, s2, s3]));
    await bringUp(n3, { ...desired(s3, [s1, s2, s3]), name: 'other' });
    await n1.backend.forceInitialSync(desired(s1, [s1, s2, s3]), [0]);
    await waitFor('sync running', () => connection(n2, s1)?.replication === 'SyncTarget');
    expect(count().tcp).toBeGreaterThan(baseline.tcp);

    await Promise.all([n1, n2, n3].map((n) => n.backend.stop()));
    // stop() resolves once every socket and listener emitted 'close'; libuv releases a closed handle in the close
    // phase of the next loop iteration, hence a short wait rather than none.
    await waitFor('TCP handles released', () => count().tcp === baseline.tcp, 200);
    const after = count();
    // Jest's own timers come and go (the baseline may hold one of them), so: no more than before.
    expect(after.timers).toBeLessThanOrEqual(baseline.timers);
  });
});
