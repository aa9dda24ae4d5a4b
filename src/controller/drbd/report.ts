import { array, boolean as bool, integer as int, object, string } from '../../common/protocol/json-checks.js';
import { DRBD_BACKENDS, type DrbdResourceState, type DrbdStateReport } from '../../common/protocol/drbd.js';

/**
 * Checks a DRBD state report from a satellite (a JSON scalar, so anything) before it reaches the store: a malformed
 * report is refused with the first offending field, never half-applied. State names are kept as sent (DRBD may know
 * states this version does not), but types and shapes are enforced.
 */
export function parseDrbdStateReport(value: unknown): DrbdStateReport {
  const r = object(value, 'report');
  const backend = r.backend;
  if (typeof backend !== 'string' || !(DRBD_BACKENDS as readonly string[]).includes(backend)) throw new Error(`report.backend: expected one of ${DRBD_BACKENDS.join(', ')}`);
  if (typeof r.full !== 'boolean') throw new Error('report.full: expected true or false');
  return {
    backend: backend as DrbdStateReport['backend'],
    full: r.full,
    resources: array(r.resources, 'report.resources').map((x, i) => resourceState(x, `report.resources[${i}]`)),
    removed: array(r.removed, 'report.removed').map((x, i) => string(x, `report.removed[${i}]`)),
  };
}

function resourceState(value: unknown, path: string): DrbdResourceState {
  const r = object(value, path);
  return {
    resource: string(r.resource, `${path}.resource`),
    ...(r.diskless === undefined ? {} : { diskless: bool(r.diskless, `${path}.diskless`) }),
    ...(r.expectedPeers === undefined
      ? {}
      : {
          expectedPeers: array(r.expectedPeers, `${path}.expectedPeers`).map((x, i) => {
            const e = object(x, `${path}.expectedPeers[${i}]`);
            return { peer: string(e.peer, `${path}.expectedPeers[${i}].peer`), diskless: bool(e.diskless, `${path}.expectedPeers[${i}].diskless`) };
          }),
        }),
    role: string(r.role, `${path}.role`) as DrbdResourceState['role'],
    suspended: bool(r.suspended, `${path}.suspended`),
    volumes: array(r.volumes, `${path}.volumes`).map((x, i) => {
      const v = object(x, `${path}.volumes[${i}]`);
      const at = `${path}.volumes[${i}]`;
      return {
        volumeNumber: int(v.volumeNumber, `${at}.volumeNumber`),
        minor: v.minor === null ? null : int(v.minor, `${at}.minor`),
        diskState: string(v.diskState, `${at}.diskState`) as DrbdResourceState['volumes'][number]['diskState'],
        client: bool(v.client, `${at}.client`),
        quorum: v.quorum === null || v.quorum === undefined ? null : bool(v.quorum, `${at}.quorum`),
      };
    }),
    connections: array(r.connections, `${path}.connections`).map((x, i) => {
      const c = object(x, `${path}.connections[${i}]`);
      const at = `${path}.connections[${i}]`;
      return {
        peerNodeId: int(c.peerNodeId, `${at}.peerNodeId`),
        peer: string(c.peer, `${at}.peer`),
        connectionState: string(c.connectionState, `${at}.connectionState`) as DrbdResourceState['connections'][number]['connectionState'],
        peerRole: string(c.peerRole, `${at}.peerRole`) as DrbdResourceState['role'],
        peerDevices: array(c.peerDevices, `${at}.peerDevices`).map((y, j) => {
          const d = object(y, `${at}.peerDevices[${j}]`);
          const dp = `${at}.peerDevices[${j}]`;
          const done = d.donePercent;
          if (done !== null && done !== undefined && (typeof done !== 'number' || !(done >= 0 && done <= 100))) throw new Error(`${dp}.donePercent: expected a number from 0 to 100 or null`);
          return {
            volumeNumber: int(d.volumeNumber, `${dp}.volumeNumber`),
            replicationState: string(d.replicationState, `${dp}.replicationState`) as never,
            peerDiskState: string(d.peerDiskState, `${dp}.peerDiskState`) as never,
            donePercent: typeof done === 'number' ? done : null,
          };
        }),
      };
    }),
  };
}
