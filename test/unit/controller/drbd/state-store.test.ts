import { describe, expect, it } from '@jest/globals';
import type { DrbdResourceState, DrbdStateReport } from '../../../../src/common/protocol/drbd.js';
import { DrbdStateStore, type DrbdStateChange } from '../../../../src/controller/drbd/state-store.js';

function state(resource: string, overrides: Partial<DrbdResourceState> = {}): DrbdResourceState {
  return {
    resource,
    role: 'Secondary',
    suspended: false,
    volumes: [{ volumeNumber: 0, minor: 1000, diskState: 'UpToDate', client: false, quorum: true }],
    connections: [
      {
        peerNodeId: 1,
        peer: 'node-b',
        connectionState: 'Connected',
        peerRole: 'Secondary',
        peerDevices: [{ volumeNumber: 0, replicationState: 'Established', peerDiskState: 'UpToDate', donePercent: null }],
      },
    ],
    ...overrides,
  };
}

/** The same state with the peer's resync at `done` percent. */
function syncing(resource: string, done: number): DrbdResourceState {
  const s = state(resource, { volumes: [{ volumeNumber: 0, minor: 1000, diskState: 'Inconsistent', client: false, quorum: true }] });
  s.connections[0]!.peerDevices[0] = { volumeNumber: 0, replicationState: 'SyncTarget', peerDiskState: 'UpToDate', donePercent: done };
  return s;
}

const full = (...resources: DrbdResourceState[]): DrbdStateReport => ({ backend: 'drbd-utils', full: true, resources, removed: [] });
const delta = (resources: DrbdResourceState[], removed: string[] = []): DrbdStateReport => ({ backend: 'drbd-utils', full: false, resources, removed });

/** What a test compares: [resource, node, state's resource or null]. */
const summary = (changes: DrbdStateChange[]) => changes.map((c) => [c.resource, c.node, c.state === null ? null : c.state.state]);

describe('DrbdStateStore', () => {
  it('stores a full report and hands out one change per resource with increasing sequence numbers', () => {
    const store = new DrbdStateStore();
    expect(store.sequence).toBe(0);
    const before = Date.now();

    const changes = store.apply('node-a', full(state('r1'), state('r2')));

    expect(summary(changes)).toEqual([
      ['r1', 'node-a', state('r1')],
      ['r2', 'node-a', state('r2')],
    ]);
    expect(changes.map((c) => c.seq)).toEqual([1, 2]);
    expect(store.sequence).toBe(2);
    for (const c of changes) {
      expect(c.state).toMatchObject({ resource: c.resource, node: 'node-a', backend: 'drbd-utils', seq: c.seq, at: c.at });
      expect(c.at.getTime()).toBeGreaterThanOrEqual(before);
    }
    expect(store.get('r1', 'node-a')?.state).toEqual(state('r1'));
  });

  it('reports no change for a state that did not change, and one for a state that did', () => {
    const store = new DrbdStateStore();
    store.apply('node-a', full(state('r1'), syncing('r2', 10)));

    expect(store.apply('node-a', full(state('r1'), syncing('r2', 10)))).toEqual([]);
    expect(store.apply('node-a', delta([state('r1')]))).toEqual([]);
    expect(store.sequence).toBe(2);

    const changes = store.apply('node-a', delta([state('r1'), syncing('r2', 55.5)]));
    expect(summary(changes)).toEqual([['r2', 'node-a', syncing('r2', 55.5)]]);
    expect(changes[0]!.seq).toBe(3);
    expect(store.get('r2', 'node-a')?.state.connections[0]?.peerDevices[0]?.donePercent).toBe(55.5);
  });

  it('treats the same state from another backend as a change', () => {
    const store = new DrbdStateStore();
    store.apply('node-a', full(state('r1')));
    const changes = store.apply('node-a', { backend: 'emulated', full: false, resources: [state('r1')], removed: [] });
    expect(changes.map((c) => c.state?.backend)).toEqual(['emulated']);
    expect(store.get('r1', 'node-a')?.backend).toBe('emulated');
  });

  it('a delta replaces only the resources it names and drops those in `removed` (names compared case-insensitively)', () => {
    const store = new DrbdStateStore();
    store.apply('node-a', full(state('r1'), state('r2'), state('r3')));

    const changes = store.apply('node-a', delta([syncing('r3', 1)], ['R1', 'never-known']));

    expect(summary(changes)).toEqual([
      ['r3', 'node-a', syncing('r3', 1)],
      ['r1', 'node-a', null],
    ]);
    expect(changes.map((c) => c.seq)).toEqual([4, 5]);
    expect(store.list({ node: 'node-a' }).map((s) => s.resource).sort()).toEqual(['r2', 'r3']);
    expect(store.get('r1', 'node-a')).toBeNull();
  });

  it('a full report drops the resources it does not name, on that node only', () => {
    const store = new DrbdStateStore();
    store.apply('node-a', full(state('r1'), state('r2')));
    store.apply('node-b', full(state('r1'), state('r2')));

    const changes = store.apply('node-a', full(state('r2')));

    expect(summary(changes)).toEqual([['r1', 'node-a', null]]);
    expect(store.list().map((s) => `${s.node}:${s.resource}`).sort()).toEqual(['node-a:r2', 'node-b:r1', 'node-b:r2']);
  });

  it('an empty full report drops everything of the node; `removed` in a full report is not needed', () => {
    const store = new DrbdStateStore();
    store.apply('node-a', full(state('r1'), state('r2')));
    const changes = store.apply('node-a', full());
    expect(summary(changes)).toEqual([
      ['r1', 'node-a', null],
      ['r2', 'node-a', null],
    ]);
    expect(store.list()).toEqual([]);
  });

  it('forgetNode turns every state of the node into a null-state change, once', () => {
    const store = new DrbdStateStore();
    store.apply('node-a', full(state('r1'), state('r2')));
    store.apply('node-b', full(state('r1')));
    const seen: DrbdStateChange[] = [];
    store.listen((c) => seen.push(c));

    const changes = store.forgetNode('NODE-A');

    expect(summary(changes)).toEqual([
      ['r1', 'node-a', null],
      ['r2', 'node-a', null],
    ]);
    expect(changes.map((c) => c.seq)).toEqual([4, 5]);
    expect(seen).toEqual(changes);
    expect(store.list().map((s) => `${s.node}:${s.resource}`)).toEqual(['node-b:r1']);
    expect(store.forgetNode('node-a')).toEqual([]);
    expect(store.forgetNode('never-seen')).toEqual([]);
    expect(store.sequence).toBe(5);
  });

  it('a node reporting again after forgetNode gets every state back as a change', () => {
    const store = new DrbdStateStore();
    store.apply('node-a', full(state('r1')));
    store.forgetNode('node-a');
    expect(summary(store.apply('node-a', full(state('r1'))))).toEqual([['r1', 'node-a', state('r1')]]);
  });

  it('list() filters by resource and/or node, case-insensitively', () => {
    const store = new DrbdStateStore();
    store.apply('node-a', full(state('Web-Data'), state('db')));
    store.apply('Node-B', full(state('web-data')));

    const keys = (list: ReturnType<DrbdStateStore['list']>) => list.map((s) => `${s.node}:${s.resource}`).sort();
    expect(keys(store.list())).toEqual(['Node-B:web-data', 'node-a:Web-Data', 'node-a:db']);
    expect(keys(store.list({ resource: 'WEB-DATA' }))).toEqual(['Node-B:web-data', 'node-a:Web-Data']);
    expect(keys(store.list({ node: 'node-b' }))).toEqual(['Node-B:web-data']);
    expect(keys(store.list({ node: 'NODE-A', resource: 'web-data' }))).toEqual(['node-a:Web-Data']);
    expect(keys(store.list({ node: 'node-b', resource: 'db' }))).toEqual([]);
    expect(keys(store.list({ node: 'node-z' }))).toEqual([]);
    expect(keys(store.list({ node: null, resource: null }))).toEqual(keys(store.list()));
    expect(store.get('WEB-data', 'NODE-a')?.resource).toBe('Web-Data');
  });

  it('delivers each change to every listener, even when one throws, and stops after unsubscribing', () => {
    const store = new DrbdStateStore();
    const first: string[] = [];
    const last: string[] = [];
    store.listen((c) => first.push(`${c.resource}@${c.seq}`));
    const stopThrowing = store.listen(() => {
      throw new Error('broken subscriber');
    });
    const stopLast = store.listen((c) => last.push(`${c.resource}@${c.seq}`));

    const changes = store.apply('node-a', full(state('r1'), state('r2')));

    expect(changes).toHaveLength(2);
    expect(first).toEqual(['r1@1', 'r2@2']);
    expect(last).toEqual(['r1@1', 'r2@2']);

    stopThrowing();
    stopLast();
    store.apply('node-a', delta([], ['r1']));
    expect(first).toEqual(['r1@1', 'r2@2', 'r1@3']);
    expect(last).toEqual(['r1@1', 'r2@2']);
  });
});
