import type { DesiredDrbdPeer, DesiredDrbdResource, DesiredDrbdVolume } from '../../common/protocol/drbd.js';
import { array, boolean, integer, object, string } from '../../common/protocol/json-checks.js';
import type { DesiredPool, DesiredState, DesiredStateMessage, DesiredVolume } from '../../common/protocol/satellite.js';
import type { ProviderKind } from '../../common/vocabulary.js';

/**
 * Checks that a value received on the desired-state subscription (a JSON scalar, so anything) is a
 * {@link DesiredStateMessage}, before the satellite acts on it: a malformed message must become a readable `fatal`
 * report, not a TypeError in the middle of a pass. Unknown extra fields are ignored (a newer controller may add some).
 * @throws Error naming the first offending field, e.g. `state.volumes[2].sizeKib: expected a string`.
 */
export function parseDesiredStateMessage(value: unknown): DesiredStateMessage {
  const m = object(value, 'message');
  if (m.type === 'full') return { type: 'full', state: desiredState(m.state, 'state') };
  if (m.type === 'delta') {
    return {
      type: 'delta',
      node: string(m.node, 'node'),
      baseRevision: integer(m.baseRevision, 'baseRevision'),
      revision: integer(m.revision, 'revision'),
      upsertPools: array(m.upsertPools, 'upsertPools').map((p, i) => pool(p, `upsertPools[${i}]`)),
      deletePools: array(m.deletePools, 'deletePools').map((p, i) => string(p, `deletePools[${i}]`)),
      upsertVolumes: array(m.upsertVolumes, 'upsertVolumes').map((v, i) => volume(v, `upsertVolumes[${i}]`)),
      deleteVolumes: array(m.deleteVolumes, 'deleteVolumes').map((v, i) => {
        const o = object(v, `deleteVolumes[${i}]`);
        return { resource: string(o.resource, `deleteVolumes[${i}].resource`), volumeNumber: integer(o.volumeNumber, `deleteVolumes[${i}].volumeNumber`) };
      }),
      upsertDrbdResources: array(m.upsertDrbdResources, 'upsertDrbdResources').map((r, i) => drbdResource(r, `upsertDrbdResources[${i}]`)),
      deleteDrbdResources: array(m.deleteDrbdResources, 'deleteDrbdResources').map((r, i) => string(r, `deleteDrbdResources[${i}]`)),
    };
  }
  throw new Error(`type: expected 'full' or 'delta', got ${JSON.stringify(m.type) ?? 'nothing'}`);
}

function desiredState(value: unknown, path: string): DesiredState {
  const s = object(value, path);
  return {
    node: string(s.node, `${path}.node`),
    revision: integer(s.revision, `${path}.revision`),
    pools: array(s.pools, `${path}.pools`).map((p, i) => pool(p, `${path}.pools[${i}]`)),
    volumes: array(s.volumes, `${path}.volumes`).map((v, i) => volume(v, `${path}.volumes[${i}]`)),
    drbdResources: array(s.drbdResources, `${path}.drbdResources`).map((r, i) => drbdResource(r, `${path}.drbdResources[${i}]`)),
  };
}

function drbdResource(value: unknown, path: string): DesiredDrbdResource {
  const r = object(value, path);
  return {
    name: string(r.name, `${path}.name`),
    secret: string(r.secret, `${path}.secret`),
    nodeId: integer(r.nodeId, `${path}.nodeId`),
    address: string(r.address, `${path}.address`),
    port: integer(r.port, `${path}.port`),
    diskless: boolean(r.diskless, `${path}.diskless`),
    tieBreaker: boolean(r.tieBreaker, `${path}.tieBreaker`),
    peerSlots: integer(r.peerSlots, `${path}.peerSlots`),
    volumes: array(r.volumes, `${path}.volumes`).map((v, i): DesiredDrbdVolume => {
      const o = object(v, `${path}.volumes[${i}]`);
      return { volumeNumber: integer(o.volumeNumber, `${path}.volumes[${i}].volumeNumber`), minor: integer(o.minor, `${path}.volumes[${i}].minor`), sizeKib: string(o.sizeKib, `${path}.volumes[${i}].sizeKib`) };
    }),
    peers: array(r.peers, `${path}.peers`).map((v, i): DesiredDrbdPeer => {
      const o = object(v, `${path}.peers[${i}]`);
      const at = `${path}.peers[${i}]`;
      return {
        node: string(o.node, `${at}.node`),
        hostname: string(o.hostname, `${at}.hostname`),
        nodeId: integer(o.nodeId, `${at}.nodeId`),
        address: string(o.address, `${at}.address`),
        port: integer(o.port, `${at}.port`),
        diskless: boolean(o.diskless, `${at}.diskless`),
        tieBreaker: boolean(o.tieBreaker, `${at}.tieBreaker`),
      };
    }),
    options: props(r.options, `${path}.options`),
    initialSyncSourceVolumes: array(r.initialSyncSourceVolumes, `${path}.initialSyncSourceVolumes`).map((n, i) => integer(n, `${path}.initialSyncSourceVolumes[${i}]`)),
  };
}

function pool(value: unknown, path: string): DesiredPool {
  const p = object(value, path);
  return {
    name: string(p.name, `${path}.name`),
    // Not checked against the kinds this satellite knows: an unknown kind (from a newer controller) makes only that
    // pool unusable in the pass, instead of refusing the whole state.
    providerKind: string(p.providerKind, `${path}.providerKind`) as ProviderKind,
    props: props(p.props, `${path}.props`),
  };
}

function volume(value: unknown, path: string): DesiredVolume {
  const v = object(value, path);
  return {
    resource: string(v.resource, `${path}.resource`),
    volumeNumber: integer(v.volumeNumber, `${path}.volumeNumber`),
    pool: string(v.pool, `${path}.pool`),
    sizeKib: string(v.sizeKib, `${path}.sizeKib`),
  };
}

function props(value: unknown, path: string): Record<string, string> {
  const o = object(value, path);
  const result: Record<string, string> = {};
  for (const [key, v] of Object.entries(o)) result[key] = string(v, `${path}[${JSON.stringify(key)}]`);
  return result;
}
