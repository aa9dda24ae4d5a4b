import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Guest, freeLoopbackPort, waitForLoopbackListener } from '../../scripts/kernel-lane/guest.js';
import type { DrbdObserved } from '../../scripts/kernel-lane/protocol.js';
import { DEFAULT_PEER_SLOTS, drbdGrossSizeKib } from '../../src/common/drbd-metadata.js';
import type { DesiredDrbdResource, DrbdResourceState, DrbdStateReport } from '../../src/common/protocol/drbd.js';
import { quorumFor } from '../../src/controller/satellites/desired-state.js';
import type { DrbdApplyResult } from '../../src/satellite/layers/drbd/drbd-layer.js';
import { backingVolumeName, type ActualVolume, type PoolSpec } from '../../src/satellite/layers/storage/provider.js';
import { note, prepareLane, tearDown, type Lane } from './lane.js';

/**
 * The satellite's DRBD layer with its real drbd-utils backend, in two guests running Debian's kernel and its
 * in-tree DRBD module, linked by a qemu socket link on 127.0.0.1. Each guest's agent builds the layer as
 * src/bin/satellite.ts does (selectDrbdBackend('drbd-utils') + DrbdLayer) over a backing volume the LVM_THIN
 * provider created, applies the resource the controller would send it, and reports what its events2 parser and
 * tracker saw.
 *
 * THIS IS DRBD 8.4.11, NOT DRBD 9 (DRBD 9 is out of tree and not in Debian main). What differs, and how the lane
 * deals with it (scripts/kernel-lane/drbd84.ts):
 * - configuration dialect: the generated DRBD 9 file (node-id, connection blocks, `quorum off`) is rewritten into
 *   8.4's before drbdadm-84 checks it; only two replicas, no quorum, no per-connection options;
 * - metadata: v08 with one peer slot, created without `--max-peers`, checked with `drbdmeta ... v08 ... dstate`;
 * - events2: the very parser and tracker of the satellite read 8.4's stream unchanged, but 8.4 has one connection
 *   without identity: it is always `peer-node-id:0 conn-name:peer` (DRBD 9 says the peer's node id and node name),
 *   devices carry no `quorum:`/`client:`, and resync progress has no `done:`. The assertions below say so;
 * - resize: 8.4 resizes a connected resource only with a Primary, and refuses a second resize while the first one's
 *   resync runs; DRBD 9 resizes Secondaries too. The resize test shows the refusal, then resizes with node-a Primary;
 * - a Secondary's device cannot be opened on 8.4 ("Wrong medium type"), not even to read its size;
 * - multi-peer (three or more replicas, tie-breakers, diskless clients) cannot be tested on 8.4 at all.
 */

const MiB = 1024n;
const RESOURCE = 'demo';
const MINOR = 1000;
const PORT = 7000;
const NET_KIB = 64n * MiB;
const STATE_DIR = '/run/blockplane';
const POOL: PoolSpec = { name: 'drbdpool', providerKind: 'LVM_THIN', props: { 'StorDriver/LvmVg': 'vg0', 'StorDriver/ThinPool': 'thinpool' } };

interface Node {
  name: 'node-a' | 'node-b';
  nodeId: number;
  ip: string;
  guest?: Guest;
  backing?: ActualVolume;
  /** Everything the agent's DRBD layer reported and every raw events2 line, in order. */
  reports: DrbdStateReport[];
  lines: string[];
  since: { reports: number; lines: number };
  state: DrbdResourceState[];
}

const a: Node = { name: 'node-a', nodeId: 0, ip: '169.254.100.1', reports: [], lines: [], since: { reports: 0, lines: 0 }, state: [] };
const b: Node = { name: 'node-b', nodeId: 1, ip: '169.254.100.2', reports: [], lines: [], since: { reports: 0, lines: 0 }, state: [] };
let lane: Lane | undefined;
const secret = randomBytes(15).toString('base64');

function guest(node: Node): Guest {
  if (!node.guest) throw new Error(`${node.name} did not boot`);
  return node.guest;
}

/**
 * The DRBD resource as the controller's desired state gives it to `node` (src/controller/satellites/desired-state.ts):
 * two diskful replicas, auto-quorum for them, the first replica (lowest node id) seeds the new volume.
 */
function desired(node: Node, { initialized = false } = {}): DesiredDrbdResource {
  const peer = node === a ? b : a;
  return {
    name: RESOURCE,
    secret,
    nodeId: node.nodeId,
    address: node.ip,
    port: PORT,
    diskless: false,
    tieBreaker: false,
    peerSlots: DEFAULT_PEER_SLOTS,
    volumes: [{ volumeNumber: 0, minor: MINOR, sizeKib: String(NET_KIB) }],
    peers: [{ node: peer.name, hostname: peer.name, nodeId: peer.nodeId, address: peer.ip, port: PORT, diskless: false, tieBreaker: false }],
    options: { 'DrbdOptions/Resource/quorum': quorumFor(2, 0, undefined) },
    // Until a replica reported UpToDate (then the volume definition is DRBD_INITIALIZED and nobody seeds again).
    initialSyncSourceVolumes: node === a && !initialized ? [0] : [],
  };
}

/**
 * Fetches what the node's DRBD layer saw since the last poll, and returns the resource's state as last REPORTED
 * (what the controller would know; undefined once reported removed). The tracker's live state (`node.state`) may be
 * a report window ahead.
 */
async function poll(node: Node): Promise<DrbdResourceState | undefined> {
  const observed = await guest(node).call<DrbdObserved>({ op: 'drbd-observed', since: node.since });
  node.reports.push(...observed.reports);
  node.lines.push(...observed.lines);
  node.since = observed.next;
  node.state = observed.state;
  for (const report of [...node.reports].reverse()) {
    if (report.removed.includes(RESOURCE)) return undefined;
    const state = report.resources.find((s) => s.resource === RESOURCE);
    if (state || report.full) return state;
  }
  return undefined;
}

/** Polls both nodes until `done` holds for both reported states; fails with both states after `timeoutMs`. */
async function waitForBoth(what: string, done: (state: DrbdResourceState | undefined, node: Node) => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [sa, sb] = await Promise.all([poll(a), poll(b)]);
    if (done(sa, a) && done(sb, b)) return;
    if (Date.now() > deadline) {
      throw new Error(`${what}: not reached within ${timeoutMs / 1000} s.\nnode-a: ${JSON.stringify(sa)}\nnode-b: ${JSON.stringify(sb)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

/** The states of the resource in the node's reports, in order, with consecutive repeats of `pick` removed. */
function history(node: Node, pick: (state: DrbdResourceState) => string): string[] {
  const values = node.reports.flatMap((r) => r.resources.filter((s) => s.resource === RESOURCE)).map(pick);
  return values.filter((v, i) => i === 0 || v !== values[i - 1]);
}

const disk = (s: DrbdResourceState) => s.volumes[0]?.diskState ?? 'none';
const replication = (s: DrbdResourceState) => s.connections[0]?.peerDevices[0]?.replicationState ?? 'none';
const connection = (s: DrbdResourceState) => s.connections[0]?.connectionState ?? 'none';
const role = (s: DrbdResourceState) => s.role;
const peerRole = (s: DrbdResourceState) => s.connections[0]?.peerRole ?? 'none';

function inSync(state: DrbdResourceState | undefined): boolean {
  return (
    state !== undefined &&
    disk(state) === 'UpToDate' &&
    connection(state) === 'Connected' &&
    replication(state) === 'Established' &&
    state.connections[0]?.peerDevices[0]?.peerDiskState === 'UpToDate'
  );
}

beforeAll(async () => {
  lane = await prepareLane('drbd');
  const port = await freeLoopbackPort();
  const options = { image: lane.image, agentDir: lane.agentDir, runDir: lane.runDir, cpus: 1, memoryMiB: 768, disksMiB: [256] };
  // node-a's qemu listens on 127.0.0.1:port, node-b's connects to it: the guests' only network.
  a.guest = await Guest.launch({ ...options, hostname: a.name, link: { mode: 'listen', port, ip: `${a.ip}/24`, mac: '52:54:00:b1:00:01' } });
  await waitForLoopbackListener(port);
  b.guest = await Guest.launch({ ...options, hostname: b.name, link: { mode: 'connect', port, ip: `${b.ip}/24`, mac: '52:54:00:b1:00:02' } });
  const [readyA, readyB] = await Promise.all([a.guest.ready, b.guest.ready]);
  note(`node-a ready after ${a.guest.bootMs} ms, node-b after ${b.guest.bootMs} ms (${readyA.drbd}; ${readyB.kernel})`);

  const started = performance.now();
  await Promise.all(
    [a, b].map(async (node) => {
      const g = guest(node);
      await g.exec(['pvcreate', '-q', '/dev/vda']);
      await g.exec(['vgcreate', '-q', 'vg0', '/dev/vda']);
      await g.exec(['lvcreate', '-q', '--type', 'thin-pool', '-L', '128m', '-n', 'thinpool', 'vg0']);
      // The storage layer's part of a DRBD resource: the backing volume, sized gross (net + DRBD 9 metadata for
      // DEFAULT_PEER_SLOTS peers, as the controller sizes it; 8.4's one-peer metadata is smaller, so DRBD's device
      // comes out a little larger than the net size).
      node.backing = await g.storage<ActualVolume>(POOL, 'create', { name: backingVolumeName(RESOURCE, 0), sizeKib: drbdGrossSizeKib(NET_KIB, DEFAULT_PEER_SLOTS) });
    }),
  );
  note(`thin pools and backing volumes created in ${Math.round(performance.now() - started)} ms`);
}, 420_000);

afterAll(async () => {
  await tearDown(lane, [a.guest, b.guest]);
}, 120_000);

describe('DRBD 8.4 in two guests, driven by the satellite DRBD layer', () => {
  it('both guests run the in-tree DRBD 8.4 module of the Debian kernel', async () => {
    for (const node of [a, b]) {
      const ready = await guest(node).ready;
      expect(ready.drbd).toMatch(/^version: 8\.4\.\d+ \(api:1\/proto:86-\d+\)$/);
      expect(node.backing?.devicePath).toBe(`/dev/vg0/${backingVolumeName(RESOURCE, 0)}`);
    }
  });

  it('brings the generated two-replica resource up: .res file checked and installed, create-md, adjust, initial sync seeded by node-a', async () => {
    await Promise.all([a, b].map((node) => guest(node).call({ op: 'drbd-start', hostname: node.name, stateDir: STATE_DIR })));
    // The events2 stream's initial dump (no resource yet) reaches the layer as a full, empty report.
    await waitForBoth('the initial events2 dump', (_state, node) => node.reports.some((r) => r.full), 60_000);
    for (const node of [a, b]) expect(node.reports[0]).toEqual({ backend: 'drbd-utils', full: true, resources: [], removed: [] });

    const started = performance.now();
    const results = await Promise.all(
      [a, b].map((node) =>
        guest(node).call<DrbdApplyResult>({ op: 'drbd-apply', resource: desired(node), backing: [[0, { devicePath: node.backing!.devicePath, grown: false }]] }, 240_000),
      ),
    );
    note(`DrbdLayer.apply on both nodes took ${Math.round(performance.now() - started)} ms`);
    expect(results).toEqual([
      { resource: RESOURCE, error: null },
      { resource: RESOURCE, error: null },
    ]);

    // The installed file: the layer's DRBD 9 rendering in the 8.4 dialect (addresses in the `on` sections).
    const res = (await guest(a).exec(['cat', `${STATE_DIR}/drbd.d/${RESOURCE}.res`])).stdout;
    expect(res).toContain('# Rewritten into the DRBD 8.4 dialect');
    expect(res).toContain(`address ipv4 ${a.ip}:${PORT};`);
    expect(res).toContain(`address ipv4 ${b.ip}:${PORT};`);
    const statements = res.split('\n').filter((line) => !line.startsWith('#'));
    expect(statements.filter((line) => /node-id|connection|quorum/.test(line))).toEqual([]);
    // Both backing volumes are attached to DRBD (their fresh metadata says Inconsistent until the sync; node-a's
    // UpToDate once it was forced primary).
    for (const node of [a, b]) {
      const dstate = await guest(node).exec(['drbdsetup', 'dstate', String(MINOR)]);
      expect(dstate.stdout.trim()).toMatch(/^(Inconsistent|UpToDate)\//);
    }
  });

  it('syncs to UpToDate on both, and the satellite state reading sees each step', async () => {
    const started = performance.now();
    await waitForBoth('UpToDate on both nodes', inSync, 240_000);
    note(`initial sync of ${NET_KIB / MiB} MiB complete ${Math.round(performance.now() - started)} ms after apply returned`);

    // The steps, as the events2 parser and tracker reported them (consecutive duplicates removed).
    expect(history(a, disk)).toEqual(expect.arrayContaining(['Inconsistent', 'UpToDate']));
    expect(history(a, disk).indexOf('Inconsistent')).toBeLessThan(history(a, disk).lastIndexOf('UpToDate'));
    expect(history(b, disk)).toEqual(expect.arrayContaining(['Inconsistent', 'UpToDate']));
    expect(history(b, disk).at(-1)).toBe('UpToDate');
    expect(history(a, replication)).toContain('SyncSource');
    expect(history(b, replication)).toContain('SyncTarget');
    expect(history(a, replication).at(-1)).toBe('Established');
    expect(history(a, connection)).toContain('Connected');
    // node-a was promoted with --force to seed the sync and demoted again right after (DrbdLayer.forceInitialSync).
    expect(history(a, role)).toEqual(expect.arrayContaining(['Primary', 'Secondary']));

    // The final state as the tracker holds it. DRBD 8.4: one connection, always peer-node-id 0 named "peer" (DRBD 9
    // would say node-b's node id 1 and name), no quorum, no resync progress figure.
    for (const node of [a, b]) {
      expect(node.state).toEqual([
        {
          resource: RESOURCE,
          role: 'Secondary',
          suspended: false,
          volumes: [{ volumeNumber: 0, minor: MINOR, diskState: 'UpToDate', client: false, quorum: null }],
          connections: [
            {
              peerNodeId: 0,
              peer: 'peer',
              connectionState: 'Connected',
              peerRole: 'Secondary',
              peerDevices: [{ volumeNumber: 0, replicationState: 'Established', peerDiskState: 'UpToDate', donePercent: null }],
            },
          ],
        },
      ]);
      // What 8.4's drbdsetup events2 really printed, and /proc/drbd agreeing with the tracker.
      expect(node.lines).toContain(`exists -`);
      expect(node.lines.some((l) => /^change peer-device name:demo peer-node-id:0 conn-name:peer volume:0 replication:Sync(Source|Target)$/.test(l))).toBe(true);
      const proc = (await guest(node).exec(['cat', '/proc/drbd'])).stdout;
      expect(proc).toMatch(new RegExp(`${MINOR}: cs:Connected ro:Secondary/Secondary ds:UpToDate/UpToDate C`));
    }
    // The reports carry the desired diskless-ness, which the controller's health needs.
    expect(a.reports.flatMap((r) => r.resources).filter((s) => s.resource === RESOURCE).at(-1)?.diskless).toBe(false);
  });

  it('replicates data: written on node-a while Primary, read back on node-b while Primary', async () => {
    const device = `/dev/drbd${MINOR}`;
    await guest(a).exec(['drbdadm', 'primary', RESOURCE]);
    await guest(a).exec(['dd', 'if=/dev/urandom', 'of=/run/marker', 'bs=1M', 'count=1', 'status=none']);
    await guest(a).exec(['dd', 'if=/run/marker', `of=${device}`, 'bs=1M', 'oflag=direct', 'conv=fsync', 'status=none']);
    const written = (await guest(a).exec(['sha256sum', '/run/marker'])).stdout.split(' ')[0];
    await guest(a).exec(['drbdadm', 'secondary', RESOURCE]);
    await guest(b).exec(['drbdadm', 'primary', RESOURCE]);
    const read = (await guest(b).exec(['sh', '-c', `dd if=${device} bs=1M count=1 iflag=direct status=none | sha256sum`])).stdout.split(' ')[0];
    await guest(b).exec(['drbdadm', 'secondary', RESOURCE]);
    expect(read).toBe(written);

    // Both role changes reached each node's tracker: its own role, and the peer's on the connection.
    await waitForBoth('both Secondary again', (state) => state?.role === 'Secondary' && peerRole(state) === 'Secondary', 60_000);
    expect(history(b, peerRole)).toContain('Primary');
    expect(history(b, role)).toContain('Primary');
  });

  it('grows: the storage layer grows both backing volumes, the DRBD layer resizes, DRBD offers the new size', async () => {
    // From sysfs in 512-byte sectors: DRBD 8.4 refuses to open a Secondary's device at all ("Wrong medium type").
    const sizeOf = async (node: Node) => BigInt((await guest(node).exec(['cat', `/sys/block/drbd${MINOR}/size`])).stdout.trim()) / 2n;
    const before = await sizeOf(a);
    // DRBD 8.4's one-slot metadata is smaller than the DRBD 9 metadata the gross size allows for.
    expect(before).toBeGreaterThanOrEqual(NET_KIB);
    const grownNet = 96n * MiB;
    await Promise.all(
      [a, b].map(async (node) => {
        node.backing = await guest(node).storage<ActualVolume>(POOL, 'resize', { name: backingVolumeName(RESOURCE, 0), sizeKib: drbdGrossSizeKib(grownNet, DEFAULT_PEER_SLOTS) });
      }),
    );
    const applyGrown = (node: Node) =>
      guest(node).call<DrbdApplyResult>({ op: 'drbd-apply', resource: desired(node, { initialized: true }), backing: [[0, { devicePath: node.backing!.devicePath, grown: true }]] }, 240_000);
    // DRBD 8.4 resizes a connected resource only while a node is Primary (DRBD 9 also resizes Secondaries).
    for (const result of await Promise.all([applyGrown(a), applyGrown(b)])) {
      expect(result.error).toMatch(/drbdadm resize demo\/0.* exited with 10: .*\(131\) Need one Primary node to resize/);
    }
    // Growing a volume in use, the usual case: node-a is Primary. One node after the other: the first resize starts
    // a resync of the added space, and while it runs 8.4 refuses another resize ("(130) Resize not allowed during
    // resync").
    await guest(a).exec(['drbdadm', 'primary', RESOURCE]);
    expect(await applyGrown(a)).toEqual({ resource: RESOURCE, error: null });
    await waitForBoth('UpToDate on both nodes after the resize', inSync, 240_000);
    expect(await applyGrown(b)).toEqual({ resource: RESOURCE, error: null });
    await guest(a).exec(['drbdadm', 'secondary', RESOURCE]);
    const [sizeA, sizeB] = await Promise.all([sizeOf(a), sizeOf(b)]);
    expect(sizeA).toBe(sizeB);
    expect(sizeA).toBeGreaterThanOrEqual(grownNet);
    expect(sizeA).toBeGreaterThan(before);
    note(`DRBD device grown from ${before} KiB to ${sizeA} KiB`);
  });

  it('takes the resource down (drbdsetup down) and reports it removed; then the backing volume goes', async () => {
    const failures = await Promise.all([a, b].map((node) => guest(node).call<Record<string, string>>({ op: 'drbd-remove-unwanted', desired: [] })));
    expect(failures).toEqual([{}, {}]);
    await waitForBoth('the resource gone from both trackers', (state, node) => state === undefined && node.reports.some((r) => r.removed.includes(RESOURCE)), 60_000);
    for (const node of [a, b]) {
      expect(node.lines).toContain(`destroy resource name:${RESOURCE}`);
      expect((await guest(node).exec(['cat', '/proc/drbd'])).stdout).not.toMatch(new RegExp(`^ *${MINOR}:`, 'm'));
      await guest(node).exec(['test', '!', '-e', `${STATE_DIR}/drbd.d/${RESOURCE}.res`]);
      await guest(node).storage(POOL, 'delete', backingVolumeName(RESOURCE, 0));
      expect(await guest(node).storage<ActualVolume[]>(POOL, 'list')).toEqual([]);
      await guest(node).call({ op: 'drbd-stop' });
    }
  });
});
