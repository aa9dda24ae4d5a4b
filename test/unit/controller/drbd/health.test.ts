import { describe, expect, it } from '@jest/globals';
import type {
  DrbdConnectionStateReport,
  DrbdPeerDeviceState,
  DrbdResourceState,
  DrbdVolumeState,
} from '../../../../src/common/protocol/drbd.js';
import { HEALTH_STATES, resourceHealth, volumeHealth, worst, type Health } from '../../../../src/controller/drbd/health.js';

/*
 * States are written the way the satellite's events2 tracker reports them for node-a of a resource replicated on
 * node-a (node id 0), node-b (1) and node-c (2): every test starts from a healthy replica and changes what its
 * scenario needs, so each expectation differs from HEALTHY only because of that change.
 */

function volume(volumeNumber: number, overrides: Partial<DrbdVolumeState> = {}): DrbdVolumeState {
  return { volumeNumber, minor: 1000 + volumeNumber, diskState: 'UpToDate', client: false, quorum: true, ...overrides };
}

function peerDevice(volumeNumber: number, overrides: Partial<DrbdPeerDeviceState> = {}): DrbdPeerDeviceState {
  return { volumeNumber, replicationState: 'Established', peerDiskState: 'UpToDate', donePercent: null, ...overrides };
}

function connection(peer: string, peerNodeId: number, volumes: number[], overrides: Partial<DrbdConnectionStateReport> = {}): DrbdConnectionStateReport {
  return { peerNodeId, peer, connectionState: 'Connected', peerRole: 'Secondary', peerDevices: volumes.map((n) => peerDevice(n)), ...overrides };
}

/** node-a's view of a healthy 3-replica resource with volumes 0 and 1. */
function healthy(): DrbdResourceState {
  return {
    resource: 'pvc-1',
    role: 'Primary',
    suspended: false,
    volumes: [volume(0), volume(1)],
    connections: [connection('node-b', 1, [0, 1]), connection('node-c', 2, [0, 1])],
  };
}

/** `healthy()` with one change applied to a copy. */
function healthyWith(change: (state: DrbdResourceState) => void): DrbdResourceState {
  const state = healthy();
  change(state);
  return state;
}

function peerDeviceOf(state: DrbdResourceState, peerNodeId: number, volumeNumber: number): DrbdPeerDeviceState {
  const device = state.connections.find((c) => c.peerNodeId === peerNodeId)?.peerDevices.find((d) => d.volumeNumber === volumeNumber);
  if (!device) throw new Error(`no peer device ${peerNodeId}/${volumeNumber}`);
  return device;
}

function connectionOf(state: DrbdResourceState, peerNodeId: number): DrbdConnectionStateReport {
  const found = state.connections.find((c) => c.peerNodeId === peerNodeId);
  if (!found) throw new Error(`no connection to ${peerNodeId}`);
  return found;
}

function volumeOf(state: DrbdResourceState, volumeNumber: number): DrbdVolumeState {
  const found = state.volumes.find((v) => v.volumeNumber === volumeNumber);
  if (!found) throw new Error(`no volume ${volumeNumber}`);
  return found;
}

/** [resource, volume 0, volume 1] health of a diskful replica. */
const healthOf = (state: DrbdResourceState | null): [Health, Health, Health] => [
  resourceHealth(state, false),
  volumeHealth(state, 0, false),
  volumeHealth(state, 1, false),
];

describe('worst', () => {
  it('orders HEALTHY < SYNCING < DEGRADED < SPLIT_BRAIN < FAILED < UNKNOWN, whatever the input order', () => {
    expect(HEALTH_STATES).toEqual(['HEALTHY', 'SYNCING', 'DEGRADED', 'SPLIT_BRAIN', 'FAILED', 'UNKNOWN']);
    // Each value against every value ranked below it, in both orders.
    for (let i = 0; i < HEALTH_STATES.length; i += 1) {
      for (let j = 0; j < i; j += 1) {
        const higher = HEALTH_STATES[i]!;
        const lower = HEALTH_STATES[j]!;
        expect([worst([lower, higher]), worst([higher, lower])]).toEqual([higher, higher]);
      }
    }
  });

  it('is HEALTHY for no values and takes any iterable', () => {
    expect(worst([])).toBe('HEALTHY');
    expect(worst(new Set<Health>(['SYNCING', 'DEGRADED', 'HEALTHY']))).toBe('DEGRADED');
    expect(worst(['SYNCING', 'SYNCING'])).toBe('SYNCING');
  });
});

describe('resourceHealth / volumeHealth', () => {
  it('HEALTHY: three replicas connected, every disk UpToDate', () => {
    expect(healthOf(healthy())).toEqual(['HEALTHY', 'HEALTHY', 'HEALTHY']);
  });

  it('HEALTHY: a diskful replica whose peer is a diskless client (peer disk Diskless)', () => {
    const state = healthyWith((s) => {
      for (const d of connectionOf(s, 2).peerDevices) d.peerDiskState = 'Diskless';
    });
    expect(healthOf(state)).toEqual(['HEALTHY', 'HEALTHY', 'HEALTHY']);
  });

  it('SYNCING: this node is the SyncTarget of volume 0 with an Inconsistent disk; volume 1 stays HEALTHY', () => {
    const state = healthyWith((s) => {
      volumeOf(s, 0).diskState = 'Inconsistent';
      Object.assign(peerDeviceOf(s, 1, 0), { replicationState: 'SyncTarget', donePercent: 12.5 });
    });
    expect(healthOf(state)).toEqual(['SYNCING', 'SYNCING', 'HEALTHY']);
  });

  it('SYNCING: the resync towards this node is paused or waiting for the bitmap', () => {
    for (const replicationState of ['PausedSyncT', 'WFBitMapT', 'StartingSyncT'] as const) {
      const state = healthyWith((s) => {
        volumeOf(s, 0).diskState = 'Inconsistent';
        peerDeviceOf(s, 1, 0).replicationState = replicationState;
      });
      expect([replicationState, volumeHealth(state, 0, false)]).toEqual([replicationState, 'SYNCING']);
    }
  });

  it('SYNCING: this node is the SyncSource of a peer whose disk is Inconsistent', () => {
    const state = healthyWith((s) => {
      Object.assign(peerDeviceOf(s, 2, 1), { replicationState: 'SyncSource', peerDiskState: 'Inconsistent', donePercent: 48.83 });
    });
    expect(healthOf(state)).toEqual(['SYNCING', 'HEALTHY', 'SYNCING']);
  });

  it('SYNCING: a disk that is still attaching', () => {
    const state = healthyWith((s) => {
      volumeOf(s, 1).diskState = 'Attaching';
    });
    expect(healthOf(state)).toEqual(['SYNCING', 'HEALTHY', 'SYNCING']);
  });

  it('DEGRADED: a peer is Connecting (unreachable), for every volume', () => {
    const state = healthyWith((s) => {
      const c = connectionOf(s, 1);
      c.connectionState = 'Connecting';
      c.peerRole = 'Unknown';
      for (const d of c.peerDevices) Object.assign(d, { replicationState: 'Off', peerDiskState: 'DUnknown' });
    });
    expect(healthOf(state)).toEqual(['DEGRADED', 'DEGRADED', 'DEGRADED']);
  });

  it('DEGRADED: a connected peer whose disk is Outdated, without a resync', () => {
    const state = healthyWith((s) => {
      peerDeviceOf(s, 2, 0).peerDiskState = 'Outdated';
    });
    expect(healthOf(state)).toEqual(['DEGRADED', 'DEGRADED', 'HEALTHY']);
  });

  it('DEGRADED: the local disk is Outdated (or Inconsistent, or Consistent) and no resync runs towards it', () => {
    for (const diskState of ['Outdated', 'Inconsistent', 'Consistent'] as const) {
      const state = healthyWith((s) => {
        volumeOf(s, 1).diskState = diskState;
      });
      expect([diskState, ...healthOf(state)]).toEqual([diskState, 'DEGRADED', 'HEALTHY', 'DEGRADED']);
    }
  });

  it('DEGRADED: a connected peer that has no peer device for the volume', () => {
    const state = healthyWith((s) => {
      connectionOf(s, 1).peerDevices = [peerDevice(0)];
    });
    expect(healthOf(state)).toEqual(['DEGRADED', 'HEALTHY', 'DEGRADED']);
  });

  it('SPLIT_BRAIN: a StandAlone connection, even when another peer is only Connecting', () => {
    const state = healthyWith((s) => {
      connectionOf(s, 1).connectionState = 'StandAlone';
      connectionOf(s, 2).connectionState = 'Connecting';
    });
    expect(healthOf(state)).toEqual(['SPLIT_BRAIN', 'SPLIT_BRAIN', 'SPLIT_BRAIN']);
  });

  it('FAILED: a volume without quorum, even while every connection is StandAlone', () => {
    const state = healthyWith((s) => {
      volumeOf(s, 0).quorum = false;
      for (const c of s.connections) c.connectionState = 'StandAlone';
    });
    expect(healthOf(state)).toEqual(['FAILED', 'FAILED', 'SPLIT_BRAIN']);
  });

  it('FAILED: suspended I/O', () => {
    const state = healthyWith((s) => {
      s.suspended = true;
    });
    expect(healthOf(state)).toEqual(['FAILED', 'FAILED', 'FAILED']);
  });

  it('FAILED: a local disk that Failed or is Detaching', () => {
    for (const diskState of ['Failed', 'Detaching'] as const) {
      const state = healthyWith((s) => {
        volumeOf(s, 0).diskState = diskState;
      });
      expect([diskState, ...healthOf(state)]).toEqual([diskState, 'FAILED', 'FAILED', 'HEALTHY']);
    }
  });

  it('FAILED: a diskful replica whose volume is Diskless (the disk was lost), by the state and by the fallback', () => {
    const lostDisk = healthyWith((s) => {
      volumeOf(s, 1).diskState = 'Diskless';
    });
    expect(healthOf(lostDisk)).toEqual(['FAILED', 'HEALTHY', 'FAILED']);
    // The satellite says the replica is meant to be diskful: that wins over a diskless fallback.
    const annotated = { ...lostDisk, diskless: false };
    expect([resourceHealth(annotated, true), volumeHealth(annotated, 1, true)]).toEqual(['FAILED', 'FAILED']);
  });

  it('HEALTHY: a diskless replica with Diskless volumes, by the state\'s diskless annotation', () => {
    const state: DrbdResourceState = {
      ...healthy(),
      diskless: true,
      volumes: [volume(0, { diskState: 'Diskless', client: true }), volume(1, { diskState: 'Diskless', client: true })],
    };
    // The fallback says diskful; the annotation from the satellite's desired state wins.
    expect([resourceHealth(state, false), volumeHealth(state, 0, false), volumeHealth(state, 1, false)]).toEqual(['HEALTHY', 'HEALTHY', 'HEALTHY']);
  });

  it('HEALTHY: a diskless replica with Diskless volumes, by the fallback when the state does not say', () => {
    const state: DrbdResourceState = {
      ...healthy(),
      volumes: [volume(0, { diskState: 'Diskless', client: true }), volume(1, { diskState: 'Diskless', client: true })],
    };
    expect('diskless' in state).toBe(false);
    expect([resourceHealth(state, true), volumeHealth(state, 0, true), volumeHealth(state, 1, true)]).toEqual(['HEALTHY', 'HEALTHY', 'HEALTHY']);
    // The same state read as a diskful replica lost both disks.
    expect([resourceHealth(state, false), volumeHealth(state, 0, false)]).toEqual(['FAILED', 'FAILED']);
  });

  it('a diskless replica still reports its peers: one Connecting makes it DEGRADED', () => {
    const state: DrbdResourceState = {
      ...healthy(),
      diskless: true,
      volumes: [volume(0, { diskState: 'Diskless', client: true }), volume(1, { diskState: 'Diskless', client: true })],
    };
    connectionOf(state, 2).connectionState = 'Connecting';
    expect(resourceHealth(state, true)).toBe('DEGRADED');
  });

  it('UNKNOWN: no state at all (node offline or not reported yet), whatever the fallback', () => {
    expect([resourceHealth(null, false), resourceHealth(undefined, true), volumeHealth(null, 0, false), volumeHealth(undefined, 0, true)]).toEqual([
      'UNKNOWN',
      'UNKNOWN',
      'UNKNOWN',
      'UNKNOWN',
    ]);
  });

  it('UNKNOWN: a volume the state does not have, while the resource itself is HEALTHY', () => {
    const state = healthy();
    expect([volumeHealth(state, 7, false), resourceHealth(state, false)]).toEqual(['UNKNOWN', 'HEALTHY']);
  });

  it('UNKNOWN: a local disk state the satellite could not name', () => {
    const state = healthyWith((s) => {
      volumeOf(s, 0).diskState = 'Unknown';
    });
    expect(healthOf(state)).toEqual(['UNKNOWN', 'UNKNOWN', 'HEALTHY']);
  });

  it('a resource without volumes is judged by its connections', () => {
    const base: DrbdResourceState = { ...healthy(), volumes: [], connections: [connection('node-b', 1, []), connection('node-c', 2, [])] };
    expect(resourceHealth(base, false)).toBe('HEALTHY');
    connectionOf(base, 1).connectionState = 'Connecting';
    expect(resourceHealth(base, false)).toBe('DEGRADED');
    connectionOf(base, 2).connectionState = 'StandAlone';
    expect(resourceHealth(base, false)).toBe('SPLIT_BRAIN');
  });

  it('the resource is its worst volume: FAILED beats SYNCING and DEGRADED on other volumes and peers', () => {
    const state = healthyWith((s) => {
      volumeOf(s, 0).diskState = 'Failed';
      volumeOf(s, 1).diskState = 'Inconsistent';
      peerDeviceOf(s, 1, 1).replicationState = 'SyncTarget';
      connectionOf(s, 2).connectionState = 'Connecting';
    });
    expect(healthOf(state)).toEqual(['FAILED', 'FAILED', 'DEGRADED']);
  });

  /*
   * Regressions: the contract says DEGRADED is "a copy that is neither UpToDate nor syncing". The code reported
   * DEGRADED for a running online verify (both copies UpToDate, VerifyS/VerifyT) and for an Outdated local disk
   * whose resync had already started (WFBitMapT before DRBD marks it Inconsistent), while the same moment seen from
   * the sync source (WFBitMapS, peer disk Outdated) was SYNCING.
   */
  it('HEALTHY during an online verify: both copies are UpToDate and replicating', () => {
    for (const replicationState of ['VerifyS', 'VerifyT'] as const) {
      const state = healthyWith((s) => {
        Object.assign(peerDeviceOf(s, 1, 0), { replicationState, donePercent: 40 });
      });
      expect([replicationState, ...healthOf(state)]).toEqual([replicationState, 'HEALTHY', 'HEALTHY', 'HEALTHY']);
    }
    const outdatedPeer = healthyWith((s) => {
      Object.assign(peerDeviceOf(s, 1, 0), { replicationState: 'VerifyS', peerDiskState: 'Outdated' });
    });
    expect(volumeHealth(outdatedPeer, 0, false)).toBe('DEGRADED');
  });

  it('SYNCING: an Outdated local disk whose resync from a peer has begun', () => {
    const state = healthyWith((s) => {
      volumeOf(s, 0).diskState = 'Outdated';
      peerDeviceOf(s, 1, 0).replicationState = 'WFBitMapT';
    });
    expect(healthOf(state)).toEqual(['SYNCING', 'SYNCING', 'HEALTHY']);
  });
});

describe('health during an initial sync to several replicas', () => {
  it('is SYNCING for a target that sees a fellow target Inconsistent, DEGRADED when nothing syncs', async () => {
    const { resourceHealth } = await import('../../../../src/controller/drbd/health.js');
    const state = (ownReplication: string) => ({
      resource: 'r1',
      role: 'Secondary' as const,
      suspended: false,
      volumes: [{ volumeNumber: 0, minor: 1000, diskState: 'Inconsistent' as const, client: false, quorum: true }],
      connections: [
        { peerNodeId: 0, peer: 's1', connectionState: 'Connected' as const, peerRole: 'Secondary' as const, peerDevices: [{ volumeNumber: 0, replicationState: ownReplication as never, peerDiskState: 'UpToDate' as const, donePercent: 42 }] },
        { peerNodeId: 2, peer: 's2', connectionState: 'Connected' as const, peerRole: 'Secondary' as const, peerDevices: [{ volumeNumber: 0, replicationState: 'Established' as const, peerDiskState: 'Inconsistent' as const, donePercent: null }] },
      ],
    });
    expect(resourceHealth(state('SyncTarget'), false)).toBe('SYNCING');
    expect(resourceHealth(state('Established'), false)).toBe('DEGRADED');
  });
});

describe('health against the configured peers', () => {
  it('is DEGRADED when a configured peer is missing or a diskful peer shows Diskless, HEALTHY when all are there', async () => {
    const { resourceHealth } = await import('../../../../src/controller/drbd/health.js');
    const connection = (peer: string, peerNodeId: number, peerDisk: 'UpToDate' | 'Diskless') => ({
      peerNodeId,
      peer,
      connectionState: 'Connected' as const,
      peerRole: 'Secondary' as const,
      peerDevices: [{ volumeNumber: 0, replicationState: 'Established' as const, peerDiskState: peerDisk, donePercent: null }],
    });
    const base = {
      resource: 'r1',
      role: 'Secondary' as const,
      suspended: false,
      volumes: [{ volumeNumber: 0, minor: 1000, diskState: 'UpToDate' as const, client: false, quorum: true }],
      connections: [connection('n2', 1, 'UpToDate'), connection('n3', 2, 'Diskless')],
    };
    const expected = [
      { peer: 'n2', diskless: false },
      { peer: 'n3', diskless: true },
    ];
    expect(resourceHealth({ ...base, expectedPeers: expected }, false)).toBe('HEALTHY');
    expect(resourceHealth({ ...base, expectedPeers: [...expected, { peer: 'n4', diskless: false }] }, false)).toBe('DEGRADED');
    expect(resourceHealth({ ...base, expectedPeers: [expected[0]!, { peer: 'n3', diskless: false }] }, false)).toBe('DEGRADED');
    // Without the satellite's list, only what DRBD shows counts.
    expect(resourceHealth(base, false)).toBe('HEALTHY');
  });
});
