import { describe, expect, it, jest } from '@jest/globals';
import { DB_LOGS_STATE, events2FixtureLines } from '../../../../support/drbd.js';
import type { DrbdPeerDeviceState, DrbdResourceState } from '../../../../../src/common/protocol/drbd.js';
import {
  DrbdStateTracker,
  Events2ParseError,
  parseEvents2Line,
  type Events2ObjectEvent,
  type UnknownDrbdState,
} from '../../../../../src/satellite/layers/drbd/events2.js';

/*
 * The test/fixtures/drbd/events2/*.txt streams are DOCUMENTATION-FORMAT SAMPLES, not captured output: drbd-utils is
 * installed here but the DRBD kernel module is not, so no live stream can be recorded. Every line follows what
 * drbd-utils prints, from these sources:
 * - drbd-utils user/v9/drbdsetup_events2.c (print_*_changes, format_timestamp, print_helper): key order and set per
 *   object (resource: role suspended force-io-failures may_promote promotion_score; device: volume minor backing_dev
 *   disk client open quorum; connection: peer-node-id conn-name connection role; peer-device: peer-node-id conn-name
 *   volume replication peer-disk peer-client resync-suspended done), the `--timestamps` prefix
 *   `%04u-%02u-%02uT%02u:%02u:%02u.%06u%+03d:%02u `, `call`/`response helper` lines; a `change` prints only what
 *   changed;
 * - drbd-utils user/v9/drbdsetup.c print_*_statistics: `--statistics` keys (write-ordering; size read written
 *   al-writes bm-writes upper-pending lower-pending al-suspended blocked; congested ap-in-flight rs-in-flight;
 *   received sent out-of-sync pending unacked dbdt1 eta, where eta prints `nan` when nothing moved), and `done:%.2f`
 *   printed only while the kernel has resync details;
 * - drbd-utils tests/v9/events2-*.test (expected outputs of the instrumented drbdsetup: create/change/destroy order of
 *   a resource going down: path, peer-device, connection, device, resource; sync with done:37.50 and statistics);
 * - drbdsetup(8) (drbd-utils 9.22, installed here) for the action/object vocabulary and `exists -`;
 * - LINSTOR's DrbdEventsMonitor and /work/shared/reference/linstor-facts.md §5.4 for `done`-only change lines and for
 *   holding back non-exists lines until `exists -`.
 * State sequences (Attaching -> Inconsistent, WFBitMapS -> SyncSource, NetworkFailure -> Unconnected -> Connecting,
 * Disconnecting -> StandAlone, Detaching -> Diskless) are the DRBD 9 state names in plausible order, not a recording.
 */

function feed(tracker: DrbdStateTracker, lines: string[]): void {
  for (const line of lines) tracker.push(line);
}

/** Feeds lines up to and including the first that contains `marker`; returns the rest. */
function feedThrough(tracker: DrbdStateTracker, lines: string[], marker: string): string[] {
  const index = lines.findIndex((line) => line.includes(marker));
  if (index === -1) throw new Error(`no line contains '${marker}'`);
  feed(tracker, lines.slice(0, index + 1));
  return lines.slice(index + 1);
}

function resourceOf(states: DrbdResourceState[], name: string): DrbdResourceState {
  const state = states.find((s) => s.resource === name);
  if (state === undefined) throw new Error(`no state for resource ${name}`);
  return state;
}

function peerDevice(state: DrbdResourceState, peerNodeId: number, volume: number): DrbdPeerDeviceState {
  const found = state.connections.find((c) => c.peerNodeId === peerNodeId)?.peerDevices.find((p) => p.volumeNumber === volume);
  if (found === undefined) throw new Error(`no peer-device ${peerNodeId}/${volume} in ${state.resource}`);
  return found;
}

function parseError(line: string): Events2ParseError {
  try {
    parseEvents2Line(line);
  } catch (error) {
    if (error instanceof Events2ParseError) return error;
    throw error;
  }
  throw new Error(`'${line}' parsed without an error`);
}

const WEB_DATA_HEALTHY: DrbdResourceState = {
  resource: 'web-data',
  role: 'Primary',
  suspended: false,
  volumes: [
    { volumeNumber: 0, minor: 1000, diskState: 'UpToDate', client: false, quorum: true },
    { volumeNumber: 1, minor: 1001, diskState: 'UpToDate', client: false, quorum: true },
  ],
  connections: [
    {
      peerNodeId: 1,
      peer: 'node-b',
      connectionState: 'Connected',
      peerRole: 'Secondary',
      peerDevices: [
        { volumeNumber: 0, replicationState: 'Established', peerDiskState: 'UpToDate', donePercent: null },
        { volumeNumber: 1, replicationState: 'Established', peerDiskState: 'UpToDate', donePercent: null },
      ],
    },
    {
      peerNodeId: 2,
      peer: 'node-c',
      connectionState: 'Connected',
      peerRole: 'Secondary',
      peerDevices: [
        { volumeNumber: 0, replicationState: 'Established', peerDiskState: 'Diskless', donePercent: null },
        { volumeNumber: 1, replicationState: 'Established', peerDiskState: 'Diskless', donePercent: null },
      ],
    },
  ],
};


describe('parseEvents2Line', () => {
  it('reads an object line into action, object and every key, splitting each token at its first colon', () => {
    expect(
      parseEvents2Line(
        'exists path name:web-data peer-node-id:1 conn-name:node-b local:ipv4:10.0.0.1:7000 peer:ipv4:10.0.0.2:7000 established:yes',
      ),
    ).toEqual({
      kind: 'object',
      action: 'exists',
      object: 'path',
      props: {
        name: 'web-data',
        'peer-node-id': '1',
        'conn-name': 'node-b',
        local: 'ipv4:10.0.0.1:7000',
        peer: 'ipv4:10.0.0.2:7000',
        established: 'yes',
      },
      timestamp: null,
    });
  });

  it('keeps the --timestamps prefix (any UTC offset) and drops a trailing CR', () => {
    expect(parseEvents2Line('2026-11-25T18:00:00.123456+00:00 change resource name:r0 role:Primary\r')).toEqual({
      kind: 'object',
      action: 'change',
      object: 'resource',
      props: { name: 'r0', role: 'Primary' },
      timestamp: '2026-11-25T18:00:00.123456+00:00',
    });
    expect(parseEvents2Line('2017-03-27T08:28:17.072611-07:00 destroy device name:r0 volume:0')).toMatchObject({
      action: 'destroy',
      props: { name: 'r0', volume: '0' },
      timestamp: '2017-03-27T08:28:17.072611-07:00',
    });
  });

  it('reads `exists -` as the end of the initial dump, with or without a timestamp', () => {
    expect(parseEvents2Line('exists -')).toEqual({ kind: 'initial-state-done', timestamp: null });
    expect(parseEvents2Line('2026-11-25T18:00:00.104511+01:00 exists -\r')).toEqual({
      kind: 'initial-state-done',
      timestamp: '2026-11-25T18:00:00.104511+01:00',
    });
  });

  it('skips lines without tracked state: helper calls and responses, rename, helper objects, blank lines', () => {
    for (const line of [
      'call helper name:r0 peer-node-id:1 conn-name:node-b volume:0 helper:before-resync-target',
      'response helper name:r0 peer-node-id:1 conn-name:node-b volume:0 helper:before-resync-target status:1',
      '2026-11-25T18:00:00.123456+00:00 call helper name:r0 helper:disconnected',
      'rename resource name:r0 new_name:r1',
      'exists helper name:r0',
      '',
      '   \r',
    ]) {
      expect(parseEvents2Line(line)).toBeNull();
    }
  });

  it('accepts destroy lines that carry only the identifying keys, and --statistics values such as eta:nan', () => {
    expect(parseEvents2Line('destroy peer-device name:r0 peer-node-id:1 conn-name:node-b volume:0')).toMatchObject({
      action: 'destroy',
      object: 'peer-device',
    });
    expect(
      parseEvents2Line(
        'change peer-device name:r0 peer-node-id:0 conn-name:node-a volume:0 done:12.50 received:1310720 dbdt1:0.00 eta:nan',
      ),
    ).toMatchObject({ props: { done: '12.50', eta: 'nan', dbdt1: '0.00' } });
  });

  it.each([
    [' change resource name:r0 role:Primary', 'empty action (the line starts with a blank)'],
    ['2026-11-25T18:00:00.123456+00:00', 'no action after the timestamp'],
    ['drbdsetup: unexpected EOF on netlink socket', "'drbdsetup:' is not an action"],
    ['change', "action 'change' without an object"],
    ['destroy -', "'-' (end of the initial dump) after 'destroy'"],
    ['change peer-device name:r0 peer-node-id:1 conn-na', "token 'conn-na' is not key:value"],
    ['change resource name:r0 :Primary', "token ':Primary' has an empty key"],
    ['exists resource role:Secondary suspended:no', "resource line without 'name'"],
    ['exists resource name: role:Secondary', "resource line without 'name'"],
    ['change device name:r0 minor:1000 disk:UpToDate', "device line without 'volume'"],
    ['change connection name:r0 conn-name:node-b connection:Connected', "connection line without 'peer-node-id'"],
    ['change peer-device name:r0 peer-node-id:1 conn-name:node-b replication:Off', "peer-device line without 'volume'"],
    ['exists device name:r0 volume:one minor:1000 disk:UpToDate', "volume 'one' is not a non-negative integer"],
    ['change connection name:r0 peer-node-id:x conn-name:b', "peer-node-id 'x' is not a non-negative integer"],
    ['change device name:r0 volume:0 minor:-1 disk:Outdated', "minor '-1' is not a non-negative integer"],
    ['change peer-device name:r0 peer-node-id:1 volume:0 done:37,50', "done '37,50' is not a percentage"],
  ])('refuses %j: %s', (line, reason) => {
    const error = parseError(line);
    expect(error.line).toBe(line);
    expect(error.reason).toBe(reason);
    expect(error.message).toBe(`Cannot read the drbdsetup events2 line '${line}': ${reason}`);
  });

  it('refuses connection lines without peer-node-id, as printed by old drbd-utils (drbdtop 2017 samples)', () => {
    // drbdtop's test comments quote this shape from 2017; current drbd-utils always print peer-node-id, and the
    // report identifies connections by it.
    expect(
      parseError(
        '2017-02-15T14:43:16.688437+00:00 exists connection name:test0 conn-name:peer connection:Connected role:Secondary congested:no',
      ).reason,
    ).toBe("connection line without 'peer-node-id'");
  });
});

describe('DrbdStateTracker on the initial dump of two resources (3-node web-data with 2 volumes, db-logs)', () => {
  it('is ready only at `exists -` and reports the dump sorted by name, volume and peer node id', () => {
    const tracker = new DrbdStateTracker();
    const lines = events2FixtureLines('initial-dump-3node.txt');
    feed(tracker, lines.slice(0, -1));
    expect(tracker.ready).toBe(false);
    expect(tracker.takeChanges()).toEqual({ resources: [], removed: [] });

    tracker.push(lines.at(-1) ?? '');
    expect(tracker.ready).toBe(true);
    // The dump lists node-c (2) before node-b (1) and volume 1 before 0; the report is ordered regardless.
    expect(tracker.snapshot()).toEqual([DB_LOGS_STATE, WEB_DATA_HEALTHY]);
    expect(tracker.takeChanges()).toEqual({ resources: [DB_LOGS_STATE, WEB_DATA_HEALTHY], removed: [] });
    expect(tracker.takeChanges()).toEqual({ resources: [], removed: [] });
  });

  it('holds back lines other than exists until `exists -`, then applies them after the dump', () => {
    const tracker = new DrbdStateTracker();
    const lines = events2FixtureLines('initial-dump-3node.txt');
    feed(tracker, lines.slice(0, 5));
    // Raced with the dump: newer than the exists lines that follow it, so it must win over them.
    tracker.push('change device name:web-data volume:1 minor:1001 disk:Outdated client:no quorum:no');
    feed(tracker, lines.slice(5, -1));
    expect(resourceOf(tracker.snapshot(), 'web-data').volumes[1]?.diskState).toBe('UpToDate');

    tracker.push('exists -');
    expect(resourceOf(tracker.snapshot(), 'web-data').volumes[1]).toEqual({
      volumeNumber: 1,
      minor: 1001,
      diskState: 'Outdated',
      client: false,
      quorum: false,
    });
  });
});

describe('DrbdStateTracker on an initial sync (node-a makes fresh data UpToDate and is SyncSource to b and c)', () => {
  it('follows the local disk from Diskless to UpToDate and the role through primary --force and back', () => {
    const tracker = new DrbdStateTracker();
    const disks: string[] = [];
    const roles: string[] = [];
    for (const line of events2FixtureLines('initial-sync.txt')) {
      tracker.push(line);
      const state = tracker.snapshot()[0];
      if (state === undefined) continue;
      const disk = state.volumes[0]?.diskState;
      if (disk !== undefined && disks.at(-1) !== disk) disks.push(disk);
      if (roles.at(-1) !== state.role) roles.push(state.role);
    }
    expect(disks).toEqual(['Diskless', 'Attaching', 'Inconsistent', 'UpToDate']);
    expect(roles).toEqual(['Secondary', 'Primary', 'Secondary']);
  });

  it('reports rising done% per peer only while syncing, keeps it while paused, and clears it at Established', () => {
    const tracker = new DrbdStateTracker();
    const seen = new Map<number, string[]>([
      [1, []],
      [2, []],
    ]);
    for (const line of events2FixtureLines('initial-sync.txt')) {
      tracker.push(line);
      const state = tracker.snapshot()[0];
      if (state === undefined) continue;
      for (const [peer, steps] of seen) {
        const pd = state.connections.find((c) => c.peerNodeId === peer)?.peerDevices[0];
        if (pd === undefined) continue;
        const step = `${pd.replicationState}/${pd.peerDiskState}/${pd.donePercent ?? '-'}`;
        if (steps.at(-1) !== step) steps.push(step);
      }
    }
    expect(seen.get(1)).toEqual([
      'Off/DUnknown/-',
      'Established/Inconsistent/-',
      'WFBitMapS/Inconsistent/-',
      'SyncSource/Inconsistent/0',
      'SyncSource/Inconsistent/12.5',
      'SyncSource/Inconsistent/48.83',
      'SyncSource/Inconsistent/97.66',
      'Established/UpToDate/-',
    ]);
    expect(seen.get(2)).toEqual([
      'Off/DUnknown/-',
      'Established/Inconsistent/-',
      'WFBitMapS/Inconsistent/-',
      'SyncSource/Inconsistent/0',
      'SyncSource/Inconsistent/11.72',
      'PausedSyncS/Inconsistent/11.72',
      'SyncSource/Inconsistent/11.72',
      'SyncSource/Inconsistent/60.16',
      'SyncSource/Inconsistent/99.22',
      'Established/UpToDate/-',
    ]);
  });

  it('ends fully synced, and a delta taken mid-sync carries the progress', () => {
    const tracker = new DrbdStateTracker();
    const rest = feedThrough(tracker, events2FixtureLines('initial-sync.txt'), 'done:48.83');
    const mid = tracker.takeChanges();
    expect(mid.removed).toEqual([]);
    expect(mid.resources.map((s) => [s.resource, peerDevice(s, 1, 0).donePercent, peerDevice(s, 2, 0).replicationState])).toEqual([
      ['vm-disk', 48.83, 'PausedSyncS'],
    ]);

    feed(tracker, rest);
    expect(tracker.takeChanges().resources).toEqual([
      {
        resource: 'vm-disk',
        role: 'Secondary',
        suspended: false,
        volumes: [{ volumeNumber: 0, minor: 1010, diskState: 'UpToDate', client: false, quorum: true }],
        connections: [1, 2].map((peerNodeId) => ({
          peerNodeId,
          peer: peerNodeId === 1 ? 'node-b' : 'node-c',
          connectionState: 'Connected',
          peerRole: 'Secondary',
          peerDevices: [{ volumeNumber: 0, replicationState: 'Established', peerDiskState: 'UpToDate', donePercent: null }],
        })),
      },
    ]);
  });
});

describe('DrbdStateTracker on a peer disconnect and its return', () => {
  it('shows the lost peer as Connecting with Off/DUnknown peer-devices while the other peer stays healthy', () => {
    const tracker = new DrbdStateTracker();
    const rest = feedThrough(tracker, events2FixtureLines('peer-disconnect.txt'), 'connection:NetworkFailure');
    expect(resourceOf(tracker.snapshot(), 'web-data').connections[0]).toMatchObject({
      peerNodeId: 1,
      connectionState: 'NetworkFailure',
      peerRole: 'Unknown',
    });

    feedThrough(tracker, rest, 'promotion_score:10201');
    const { resources, removed } = tracker.takeChanges();
    expect(removed).toEqual([]);
    expect(resources).toEqual([
      {
        ...WEB_DATA_HEALTHY,
        connections: [
          {
            peerNodeId: 1,
            peer: 'node-b',
            connectionState: 'Connecting',
            peerRole: 'Unknown',
            peerDevices: [
              { volumeNumber: 0, replicationState: 'Off', peerDiskState: 'DUnknown', donePercent: null },
              { volumeNumber: 1, replicationState: 'Off', peerDiskState: 'DUnknown', donePercent: null },
            ],
          },
          WEB_DATA_HEALTHY.connections[1],
        ],
      },
    ]);
  });

  it('resyncs the volume written meanwhile and ends as healthy as before', () => {
    const tracker = new DrbdStateTracker();
    const lines = events2FixtureLines('peer-disconnect.txt');
    const rest = feedThrough(tracker, lines, 'done:81.25');
    expect(peerDevice(resourceOf(tracker.snapshot(), 'web-data'), 1, 0)).toEqual({
      volumeNumber: 0,
      replicationState: 'SyncSource',
      peerDiskState: 'Inconsistent',
      donePercent: 81.25,
    });
    feed(tracker, rest);
    expect(tracker.snapshot()).toEqual([WEB_DATA_HEALTHY]);
  });
});

describe('DrbdStateTracker on `drbdadm down` of one resource', () => {
  it('drops the connection, then the device, then the resource; the other resource is not reported again', () => {
    const tracker = new DrbdStateTracker();
    const lines = events2FixtureLines('resource-down.txt');
    const rest = feedThrough(tracker, lines, 'exists -');
    tracker.takeChanges();

    const afterConnection = feedThrough(tracker, rest, 'destroy connection');
    expect(resourceOf(tracker.snapshot(), 'db-logs')).toEqual({
      resource: 'db-logs',
      role: 'Secondary',
      suspended: false,
      volumes: [{ volumeNumber: 0, minor: 1002, diskState: 'UpToDate', client: false, quorum: true }],
      connections: [],
    });
    const afterDetach = feedThrough(tracker, afterConnection, 'disk:Diskless');
    expect(resourceOf(tracker.snapshot(), 'db-logs').volumes).toEqual([
      { volumeNumber: 0, minor: 1002, diskState: 'Diskless', client: false, quorum: true },
    ]);

    feed(tracker, afterDetach);
    expect(tracker.snapshot().map((s) => s.resource)).toEqual(['web-data']);
    expect(tracker.takeChanges()).toEqual({ resources: [], removed: ['db-logs'] });
    expect(tracker.takeChanges()).toEqual({ resources: [], removed: [] });
  });

  it('forgets devices and connections with their resource, and peer-devices with their connection', () => {
    const tracker = new DrbdStateTracker();
    feed(tracker, events2FixtureLines('initial-dump-3node.txt'));
    tracker.push('destroy connection name:web-data peer-node-id:1 conn-name:node-b');
    tracker.push('create connection name:web-data peer-node-id:1 conn-name:node-b connection:StandAlone role:Unknown');
    expect(resourceOf(tracker.snapshot(), 'web-data').connections[0]).toEqual({
      peerNodeId: 1,
      peer: 'node-b',
      connectionState: 'StandAlone',
      peerRole: 'Unknown',
      peerDevices: [],
    });

    tracker.push('destroy resource name:web-data');
    tracker.push('create resource name:web-data role:Secondary suspended:no');
    expect(resourceOf(tracker.snapshot(), 'web-data')).toEqual({
      resource: 'web-data',
      role: 'Secondary',
      suspended: false,
      volumes: [],
      connections: [],
    });
  });
});

describe('DrbdStateTracker on `events2 --timestamps --statistics` (node-b is SyncTarget from node-a)', () => {
  it('reads every line with its timestamp and keeps the statistics in the event props', () => {
    const events = events2FixtureLines('statistics-timestamps.txt').map((line) => parseEvents2Line(line));
    expect(events.every((event) => event === null || /^2026-11-25T18:00:\d\d\.\d{6}\+01:00$/.test(event.timestamp ?? ''))).toBe(
      true,
    );
    expect(events.filter((event) => event === null)).toHaveLength(2);
    expect((events[6] as Events2ObjectEvent).props).toMatchObject({ done: '12.50', 'out-of-sync': '9175040', eta: 'nan' });
  });

  it('reports SyncTarget progress, ignores statistics-only changes, and ends UpToDate', () => {
    const tracker = new DrbdStateTracker();
    const lines = events2FixtureLines('statistics-timestamps.txt');
    let rest = feedThrough(tracker, lines, 'exists -');
    const initial = tracker.takeChanges().resources;
    expect(initial.map((s) => [s.volumes[0]?.diskState, peerDevice(s, 0, 0), peerDevice(s, 2, 0).peerDiskState])).toEqual([
      [
        'Inconsistent',
        { volumeNumber: 0, replicationState: 'SyncTarget', peerDiskState: 'UpToDate', donePercent: 12.5 },
        'Inconsistent',
      ],
    ]);
    expect(initial[0]?.connections.map((c) => [c.peerNodeId, c.peer])).toEqual([
      [0, 'node-a'],
      [2, 'node-c'],
    ]);

    // Device counters and the connection's rs-in-flight changed, nothing the report carries.
    rest = feedThrough(tracker, rest, 'rs-in-flight:2048');
    expect(tracker.takeChanges()).toEqual({ resources: [], removed: [] });

    rest = feedThrough(tracker, rest, 'done:98.44');
    expect(tracker.takeChanges().resources.map((s) => peerDevice(s, 0, 0).donePercent)).toEqual([98.44]);

    feed(tracker, rest);
    const [final] = tracker.takeChanges().resources;
    expect(final?.volumes[0]?.diskState).toBe('UpToDate');
    expect(final && peerDevice(final, 0, 0)).toEqual({
      volumeNumber: 0,
      replicationState: 'Established',
      peerDiskState: 'UpToDate',
      donePercent: null,
    });
  });
});

describe('DrbdStateTracker on a stream with malformed lines interleaved', () => {
  it('reports each malformed line, never throws, and applies every good line', () => {
    const errors: Events2ParseError[] = [];
    const tracker = new DrbdStateTracker({ onError: (error) => errors.push(error) });
    const results = events2FixtureLines('malformed-interleaved.txt').map((line) => tracker.push(line));

    expect(results.filter((r) => !r.ok)).toHaveLength(11);
    expect(errors.map((e) => e.reason)).toEqual([
      "resource line without 'name'",
      "volume 'one' is not a non-negative integer",
      "'drbdsetup:' is not an action",
      'empty action (the line starts with a blank)',
      "token 'conn-na' is not key:value",
      "peer-node-id 'x' is not a non-negative integer",
      'no action after the timestamp',
      "minor '-1' is not a non-negative integer",
      "action 'change' without an object",
      "done '37,50' is not a percentage",
      "'-' (end of the initial dump) after 'destroy'",
    ]);
    expect(results.map((r) => (r.ok ? (r.event?.kind ?? 'skipped') : 'error')).filter((k) => k === 'skipped')).toHaveLength(1);
    expect(tracker.ready).toBe(true);
    expect(tracker.snapshot()).toEqual([
      {
        resource: 'web-data',
        role: 'Secondary',
        suspended: false,
        volumes: [{ volumeNumber: 0, minor: 1000, diskState: 'UpToDate', client: false, quorum: true }],
        connections: [
          {
            peerNodeId: 1,
            peer: 'node-b',
            connectionState: 'Connected',
            peerRole: 'Secondary',
            peerDevices: [{ volumeNumber: 0, replicationState: 'SyncSource', peerDiskState: 'Inconsistent', donePercent: 37.5 }],
          },
        ],
      },
    ]);
  });

  it('returns the error from push without any callback', () => {
    const tracker = new DrbdStateTracker();
    const result = tracker.push('change resource role:Primary');
    expect(result).toEqual({ ok: false, error: expect.any(Events2ParseError) });
    expect(tracker.push('exists -')).toEqual({ ok: true, event: { kind: 'initial-state-done', timestamp: null } });
  });
});

describe('DrbdStateTracker state rules', () => {
  function readyTracker(options: ConstructorParameters<typeof DrbdStateTracker>[0] = {}): DrbdStateTracker {
    const tracker = new DrbdStateTracker(options);
    feed(tracker, events2FixtureLines('initial-dump-3node.txt'));
    tracker.takeChanges();
    return tracker;
  }

  it('maps state strings DRBD may add later to Unknown and tells the callback', () => {
    const unknown: UnknownDrbdState[] = [];
    const tracker = readyTracker({ onUnknownState: (state) => unknown.push(state) });
    tracker.push('change connection name:db-logs peer-node-id:1 conn-name:node-b connection:Rerouting role:Secondary');
    tracker.push('change device name:db-logs volume:0 minor:1002 disk:Fading client:no quorum:maybe');
    tracker.push('change resource name:db-logs role:Both suspended:quorum');

    const state = resourceOf(tracker.snapshot(), 'db-logs');
    expect(state.connections[0]?.connectionState).toBe('Unknown');
    expect(state.volumes[0]).toMatchObject({ diskState: 'Unknown', quorum: null });
    expect(state.role).toBe('Unknown');
    expect(state.suspended).toBe(true);
    expect(unknown).toEqual([
      { resource: 'db-logs', object: 'connection', key: 'connection', value: 'Rerouting' },
      { resource: 'db-logs', object: 'device', key: 'disk', value: 'Fading' },
      { resource: 'db-logs', object: 'resource', key: 'role', value: 'Both' },
    ]);
  });

  it('reads suspended:no as running and any reason list (user, no-data, fencing, quorum) as suspended', () => {
    const tracker = readyTracker();
    tracker.push('change resource name:web-data suspended:user,quorum');
    expect(resourceOf(tracker.snapshot(), 'web-data').suspended).toBe(true);
    tracker.push('change resource name:web-data suspended:no');
    expect(resourceOf(tracker.snapshot(), 'web-data').suspended).toBe(false);
  });

  it('takes done only in a sync state: a stray done is dropped, a new sync does not show the old percentage', () => {
    const tracker = readyTracker();
    const prefix = 'change peer-device name:db-logs peer-node-id:1 conn-name:node-b volume:0';
    const done = () => peerDevice(resourceOf(tracker.snapshot(), 'db-logs'), 1, 0).donePercent;
    tracker.push(`${prefix} done:42.00`);
    expect(done()).toBeNull();
    tracker.push(`${prefix} replication:VerifyS done:42.00`);
    expect(done()).toBe(42);
    tracker.push(`${prefix} replication:Established`);
    expect(done()).toBeNull();
    tracker.push(`${prefix} replication:SyncTarget`);
    expect(done()).toBeNull();
  });

  it('merges a change into an object the stream never created, and ignores destroys of unknown objects', () => {
    const stray: string[] = [];
    const tracker = readyTracker({ onStrayEvent: (message) => stray.push(message) });
    tracker.push('change device name:db-logs volume:3 minor:1005 disk:Inconsistent client:no quorum:yes');
    tracker.push('change peer-device name:new-res peer-node-id:4 conn-name:node-e volume:0 replication:Established');
    tracker.push('destroy connection name:db-logs peer-node-id:9 conn-name:node-z');
    tracker.push('destroy resource name:never-seen');

    expect(resourceOf(tracker.snapshot(), 'db-logs').volumes.map((v) => [v.volumeNumber, v.diskState])).toEqual([
      [0, 'UpToDate'],
      [3, 'Inconsistent'],
    ]);
    expect(resourceOf(tracker.snapshot(), 'new-res')).toEqual({
      resource: 'new-res',
      role: 'Unknown',
      suspended: false,
      volumes: [],
      connections: [
        {
          peerNodeId: 4,
          peer: 'node-e',
          connectionState: 'Unknown',
          peerRole: 'Unknown',
          peerDevices: [{ volumeNumber: 0, replicationState: 'Established', peerDiskState: 'Unknown', donePercent: null }],
        },
      ],
    });
    expect(stray).toEqual([
      'device db-logs/3 was never created',
      'resource new-res was never created',
      'connection new-res/4 was never created',
      'peer-device new-res/4/0 was never created',
      'destroy of a connection that does not exist',
      'destroy of a resource that does not exist',
    ]);
  });

  it('ignores path lines and helper calls', () => {
    const tracker = readyTracker();
    tracker.push('change path name:web-data peer-node-id:1 conn-name:node-b local:ipv4:10.0.0.1:7000 peer:ipv4:10.0.0.2:7000 established:no');
    tracker.push('call helper name:web-data peer-node-id:1 conn-name:node-b helper:disconnected');
    expect(tracker.takeChanges()).toEqual({ resources: [], removed: [] });
  });
});

describe('DrbdStateTracker.takeChanges', () => {
  function readyTracker(): DrbdStateTracker {
    const tracker = new DrbdStateTracker();
    feed(tracker, events2FixtureLines('initial-dump-3node.txt'));
    tracker.takeChanges();
    return tracker;
  }

  it('reports neither a resource created and destroyed in one window nor one destroyed and re-created unchanged', () => {
    const tracker = readyTracker();
    tracker.push('create resource name:short-lived role:Secondary suspended:no');
    tracker.push('destroy resource name:short-lived');
    feed(tracker, ['destroy resource name:db-logs', ...events2FixtureLines('initial-dump-3node.txt').filter((l) => l.includes('db-logs'))]);
    expect(tracker.takeChanges()).toEqual({ resources: [], removed: [] });
  });

  it('reports a resource re-created with a different state in resources, not in removed', () => {
    const tracker = readyTracker();
    tracker.push('destroy resource name:db-logs');
    tracker.push('create resource name:db-logs role:Secondary suspended:no');
    expect(tracker.takeChanges()).toEqual({
      resources: [{ resource: 'db-logs', role: 'Secondary', suspended: false, volumes: [], connections: [] }],
      removed: [],
    });
  });

  it('takeSnapshot returns everything and becomes the baseline of the next delta', () => {
    const tracker = new DrbdStateTracker();
    feed(tracker, events2FixtureLines('initial-dump-3node.txt'));
    expect(tracker.takeSnapshot()).toEqual([DB_LOGS_STATE, WEB_DATA_HEALTHY]);
    expect(tracker.takeChanges()).toEqual({ resources: [], removed: [] });
    tracker.push('change resource name:db-logs role:Primary');
    expect(tracker.takeChanges().resources.map((s) => [s.resource, s.role])).toEqual([['db-logs', 'Primary']]);
  });

  it('after reset (stream restart) reports nothing until the new dump, then exactly what changed meanwhile', () => {
    const onError = jest.fn();
    const tracker = new DrbdStateTracker({ onError });
    feed(tracker, events2FixtureLines('initial-dump-3node.txt'));
    tracker.takeChanges();

    tracker.reset();
    expect(tracker.ready).toBe(false);
    expect(tracker.snapshot()).toEqual([]);
    expect(tracker.takeChanges()).toEqual({ resources: [], removed: [] });

    // The new dump: db-logs went down while the stream was away, web-data's node-c connection dropped.
    const redump = events2FixtureLines('initial-dump-3node.txt')
      .filter((line) => !line.includes('db-logs'))
      .map((line) =>
        line.includes('peer-node-id:2 conn-name:node-c')
          ? line
              .replace('connection:Connected role:Secondary', 'connection:Connecting role:Unknown')
              .replace('replication:Established peer-disk:Diskless peer-client:yes', 'replication:Off peer-disk:DUnknown peer-client:no')
          : line,
      );
    feed(tracker, redump.slice(0, -1));
    expect(tracker.takeChanges()).toEqual({ resources: [], removed: [] });
    tracker.push('exists -');

    const { resources, removed } = tracker.takeChanges();
    expect(removed).toEqual(['db-logs']);
    expect(resources.map((s) => [s.resource, s.connections.map((c) => c.connectionState)])).toEqual([
      ['web-data', ['Connected', 'Connecting']],
    ]);
    expect(onError).not.toHaveBeenCalled();
  });
});
