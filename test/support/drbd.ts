/**
 * Builders shared by the DRBD tests: a desired DRBD resource and its peers as the controller sends them, and the
 * events2 fixture streams. Each test file passes what it cares about as overrides.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DesiredDrbdPeer, DesiredDrbdResource, DrbdResourceState } from '../../src/common/protocol/drbd.js';

/** A diskful peer with node id `nodeId`, at 10.0.0.<nodeId + 1>:7000, host name `<node>.example`. */
export function drbdPeer(node: string, nodeId: number, overrides: Partial<DesiredDrbdPeer> = {}): DesiredDrbdPeer {
  return { node, hostname: `${node}.example`, nodeId, address: `10.0.0.${nodeId + 1}`, port: 7000, diskless: false, tieBreaker: false, ...overrides };
}

/** A diskful replica `pvc-1` with node id 0 at 10.0.0.1:7000, one 100 MiB volume (minor 1000), no peers, no options. */
export function desiredDrbdResource(overrides: Partial<DesiredDrbdResource> = {}): DesiredDrbdResource {
  return {
    name: 'pvc-1',
    secret: 'Zm9vYmFyYmF6cXV4cXV1',
    nodeId: 0,
    address: '10.0.0.1',
    port: 7000,
    diskless: false,
    tieBreaker: false,
    peerSlots: 7,
    volumes: [{ volumeNumber: 0, minor: 1000, sizeKib: '102400' }],
    peers: [],
    options: {},
    initialSyncSourceVolumes: [],
    ...overrides,
  };
}

/** The non-empty lines of test/fixtures/drbd/events2/<name>. */
export function events2FixtureLines(name: string): string[] {
  const text = readFileSync(fileURLToPath(new URL(`../fixtures/drbd/events2/${name}`, import.meta.url)), 'utf8');
  return text.split('\n').filter((line) => line !== '');
}

/** db-logs as initial-dump-3node.txt describes it (written out by hand): UpToDate, connected to node-b. */
export const DB_LOGS_STATE: DrbdResourceState = {
  resource: 'db-logs',
  role: 'Secondary',
  suspended: false,
  volumes: [{ volumeNumber: 0, minor: 1002, diskState: 'UpToDate', client: false, quorum: true }],
  connections: [
    {
      peerNodeId: 1,
      peer: 'node-b',
      connectionState: 'Connected',
      peerRole: 'Secondary',
      peerDevices: [{ volumeNumber: 0, replicationState: 'Established', peerDiskState: 'UpToDate', donePercent: null }],
    },
  ],
};
