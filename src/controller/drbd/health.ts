import type { DrbdResourceState, DrbdVolumeState } from '../../common/protocol/drbd.js';

/**
 * One health value per resource (replica) and per volume, aggregated from what DRBD reports on the replica's node,
 * worst first:
 * - UNKNOWN: no current state (the node is offline or has not reported since it connected): never a stale UpToDate;
 * - FAILED: a disk failed, a diskful volume lost its disk, or the replica lost quorum (I/O fails or is suspended);
 * - SPLIT_BRAIN: a connection is StandAlone (DRBD refused to reconnect, usually after a split brain: an operator
 *   must decide which data wins);
 * - DEGRADED: a peer is unreachable, or a copy (local or a peer's) is neither UpToDate nor syncing;
 * - SYNCING: a resync is running (with progress);
 * - HEALTHY: every connection Connected and every disk UpToDate (diskless replicas: Diskless).
 */
export const HEALTH_STATES = ['HEALTHY', 'SYNCING', 'DEGRADED', 'SPLIT_BRAIN', 'FAILED', 'UNKNOWN'] as const;
export type Health = (typeof HEALTH_STATES)[number];

const SEVERITY: Record<Health, number> = { HEALTHY: 0, SYNCING: 1, DEGRADED: 2, SPLIT_BRAIN: 3, FAILED: 4, UNKNOWN: 5 };
const SYNC_STATES = new Set(['StartingSyncS', 'StartingSyncT', 'WFBitMapS', 'WFBitMapT', 'WFSyncUUID', 'SyncSource', 'SyncTarget', 'PausedSyncS', 'PausedSyncT']);
/**
 * Replication states in which both copies are in step: normal replication, an online verify (VerifyS/VerifyT run
 * while both disks stay UpToDate; `drbdadm verify` is a routine cron job, not a degradation), and Ahead/Behind
 * congestion mode (the Behind disk becomes Outdated, which the peer disk state shows).
 */
const IN_STEP_STATES = new Set(['Established', 'VerifyS', 'VerifyT', 'Ahead', 'Behind']);

/** The worse of some health values (HEALTHY for none). */
export function worst(values: Iterable<Health>): Health {
  let result: Health = 'HEALTHY';
  for (const v of values) if (SEVERITY[v] > SEVERITY[result]) result = v;
  return result;
}

/**
 * Health of one volume of a replica. `diskless`: the replica is meant to have no local disk (then Diskless is
 * right, not a failure).
 */
export function volumeHealth(state: DrbdResourceState | null | undefined, volumeNumber: number, disklessFallback: boolean): Health {
  if (!state) return 'UNKNOWN';
  const diskless = state.diskless ?? disklessFallback;
  const volume = state.volumes.find((v) => v.volumeNumber === volumeNumber);
  if (!volume) return 'UNKNOWN';
  const resyncing = isSyncTarget(state, volumeNumber);
  return worst([localDiskHealth(volume, diskless, state), ...state.connections.map((c) => peerHealth(c, volumeNumber, resyncing)), expectedPeersHealth(state, volumeNumber)]);
}

/**
 * Health of a replica: its worst volume, and its connections (a resource without volumes still has peers).
 * `disklessFallback` is used when the state does not say whether the replica is meant to be diskless.
 */
export function resourceHealth(state: DrbdResourceState | null | undefined, diskless: boolean): Health {
  if (!state) return 'UNKNOWN';
  if (state.volumes.length === 0) return worst([...state.connections.map(connectionHealth), expectedPeersHealth(state, null)]);
  return worst(state.volumes.map((v) => volumeHealth(state, v.volumeNumber, diskless)));
}

function localDiskHealth(volume: DrbdVolumeState, diskless: boolean, state: DrbdResourceState): Health {
  if (volume.quorum === false || state.suspended) return 'FAILED';
  switch (volume.diskState) {
    case 'UpToDate':
      return 'HEALTHY';
    case 'Diskless':
      return diskless ? 'HEALTHY' : 'FAILED';
    case 'Failed':
    case 'Detaching':
      return 'FAILED';
    case 'Inconsistent':
    case 'Outdated':
    case 'Consistent':
      // Behind its peers while a resync towards this node runs is the normal way to UpToDate (an Outdated disk
      // stays Outdated while the resync starts, WFBitMapT, before DRBD marks it Inconsistent); without one it is
      // data that may be behind with nothing fixing it.
      return isSyncTarget(state, volume.volumeNumber) ? 'SYNCING' : 'DEGRADED';
    case 'Attaching':
    case 'Negotiating':
      return 'SYNCING';
    case 'Unknown':
      return 'UNKNOWN';
    default:
      // DUnknown (a peer's disk state, not expected locally): nothing says the data is current.
      return 'DEGRADED';
  }
}

/**
 * Against the peers the replica is configured with (when the satellite said): a peer DRBD does not show at all is
 * missing from replication (DEGRADED), and so is a diskful peer whose disk DRBD sees as Diskless (it lost its disk).
 */
function expectedPeersHealth(state: DrbdResourceState, volumeNumber: number | null): Health {
  if (!state.expectedPeers) return 'HEALTHY';
  for (const expected of state.expectedPeers) {
    const connection = state.connections.find((c) => c.peer === expected.peer);
    if (!connection) return 'DEGRADED';
    if (!expected.diskless && volumeNumber !== null && connection.connectionState === 'Connected') {
      const device = connection.peerDevices.find((d) => d.volumeNumber === volumeNumber);
      if (device?.peerDiskState === 'Diskless') return 'DEGRADED';
    }
  }
  return 'HEALTHY';
}

function isSyncTarget(state: DrbdResourceState, volumeNumber: number): boolean {
  return state.connections.some((c) => c.peerDevices.some((d) => d.volumeNumber === volumeNumber && SYNC_STATES.has(d.replicationState)));
}

function connectionHealth(connection: DrbdResourceState['connections'][number]): Health {
  if (connection.connectionState === 'StandAlone') return 'SPLIT_BRAIN';
  return connection.connectionState === 'Connected' ? 'HEALTHY' : 'DEGRADED';
}

/**
 * `resyncing`: a resync of this volume runs on this replica (towards it or from it). A peer whose copy is Inconsistent
 * over an established link is then taken to be syncing too (during an initial sync every new replica fills from the
 * source, and a replica sees its fellow targets Inconsistent without seeing their sync).
 */
function peerHealth(connection: DrbdResourceState['connections'][number], volumeNumber: number, resyncing: boolean): Health {
  const link = connectionHealth(connection);
  if (link !== 'HEALTHY') return link;
  const device = connection.peerDevices.find((d) => d.volumeNumber === volumeNumber);
  if (!device) return 'DEGRADED';
  if (SYNC_STATES.has(device.replicationState)) return 'SYNCING';
  if (!IN_STEP_STATES.has(device.replicationState)) return 'DEGRADED';
  if (device.peerDiskState === 'UpToDate' || device.peerDiskState === 'Diskless') return 'HEALTHY';
  return device.peerDiskState === 'Inconsistent' && resyncing ? 'SYNCING' : 'DEGRADED';
}
