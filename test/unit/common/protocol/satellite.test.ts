import type { DesiredDrbdResource } from '../../../../src/common/protocol/drbd.js';
import { desiredDrbdResource, drbdPeer } from '../../../support/drbd.js';
import { describe, expect, it } from '@jest/globals';
import {
  applyDesiredStateDelta,
  diffDesiredState,
  volumeKey,
  type DesiredPool,
  type DesiredState,
  type DesiredVolume,
} from '../../../../src/common/protocol/satellite.js';

const pool = (name: string, providerKind: DesiredPool['providerKind'] = 'FILE_THIN', props: Record<string, string> = {}): DesiredPool => ({
  name,
  providerKind,
  props,
});
const vol = (resource: string, volumeNumber: number, poolName: string, sizeKib: string): DesiredVolume => ({
  resource,
  volumeNumber,
  pool: poolName,
  sizeKib,
});

/** States as applyDesiredStateDelta produces them: pools by name, volumes by `resource/volumeNumber`. */
function normalized(state: DesiredState): DesiredState {
  return {
    ...state,
    pools: [...state.pools].sort((a, b) => a.name.localeCompare(b.name)),
    volumes: [...state.volumes].sort((a, b) => volumeKey(a).localeCompare(volumeKey(b))),
  };
}

const base: DesiredState = {
  node: 'n1',
  revision: 10,
  pools: [pool('thin', 'FILE_THIN', { 'StorDriver/FileDir': '/srv/thin' }), pool('DfltDisklessStorPool', 'DISKLESS'), pool('lvm', 'LVM', { 'StorDriver/LvmVg': 'vg0' })],
  volumes: [vol('r1', 0, 'thin', '1024'), vol('r1', 1, 'thin', '2048'), vol('r2', 0, 'lvm', '4096')],
  drbdResources: [],
};

describe('diffDesiredState / applyDesiredStateDelta', () => {
  const cases: [string, DesiredState][] = [
    ['nothing changed but the revision', { ...base, revision: 11 }],
    ['a pool and a volume added', { ...base, revision: 12, pools: [...base.pools, pool('zfs', 'ZFS', { 'StorDriver/ZPool': 'tank' })], volumes: [...base.volumes, vol('r3', 0, 'zfs', '100')] }],
    ['a pool and its volume removed', { ...base, revision: 13, pools: base.pools.filter((p) => p.name !== 'lvm'), volumes: base.volumes.filter((v) => v.pool !== 'lvm') }],
    ['a volume grown', { ...base, revision: 14, volumes: base.volumes.map((v) => (v.resource === 'r1' && v.volumeNumber === 1 ? { ...v, sizeKib: '8192' } : v)) }],
    ['a volume moved to another pool', { ...base, revision: 15, volumes: base.volumes.map((v) => (v.resource === 'r2' ? { ...v, pool: 'thin' } : v)) }],
    ['pool props changed', { ...base, revision: 16, pools: base.pools.map((p) => (p.name === 'thin' ? { ...p, props: { 'StorDriver/FileDir': '/srv/other' } } : p)) }],
    ['pool kind changed', { ...base, revision: 17, pools: base.pools.map((p) => (p.name === 'lvm' ? { ...p, providerKind: 'LVM_THIN' as const, props: { ...p.props, 'StorDriver/ThinPool': 'tp' } } : p)) }],
    ['everything removed', { ...base, revision: 18, pools: [], volumes: [] }],
  ];

  it.each(cases)('round-trips: %s', (_name, next) => {
    const delta = diffDesiredState(base, next);
    expect(delta.type).toBe('delta');
    expect(delta.node).toBe('n1');
    expect(delta.baseRevision).toBe(10);
    expect(delta.revision).toBe(next.revision);
    expect(applyDesiredStateDelta(base, delta)).toEqual(normalized(next));
  });

  it('round-trips from an empty state and back to it', () => {
    const empty: DesiredState = { node: 'n1', revision: 0, pools: [], volumes: [], drbdResources: [] };
    const up = diffDesiredState(empty, base);
    expect(applyDesiredStateDelta(empty, up)).toEqual(normalized(base));
    const down = diffDesiredState(base, { ...empty, revision: 20 });
    expect(applyDesiredStateDelta(base, down)).toEqual({ ...empty, revision: 20 });
  });

  it('sends only what changed', () => {
    const next: DesiredState = {
      ...base,
      revision: 11,
      pools: [...base.pools.filter((p) => p.name !== 'lvm'), pool('zfs', 'ZFS', { 'StorDriver/ZPool': 'tank' })],
      volumes: [vol('r1', 0, 'thin', '1024'), vol('r1', 1, 'thin', '3000'), vol('r3', 0, 'zfs', '10')],
    };
    expect(diffDesiredState(base, next)).toEqual({
      type: 'delta',
      node: 'n1',
      baseRevision: 10,
      revision: 11,
      upsertPools: [pool('zfs', 'ZFS', { 'StorDriver/ZPool': 'tank' })],
      deletePools: ['lvm'],
      upsertVolumes: [vol('r1', 1, 'thin', '3000'), vol('r3', 0, 'zfs', '10')],
      deleteVolumes: [{ resource: 'r2', volumeNumber: 0 }],
      upsertDrbdResources: [],
      deleteDrbdResources: [],
    });
  });

  it('sends a DRBD resource again when anything in it changed (a peer added), and names removed ones', () => {
    const r = (name: string, peers: string[]): DesiredDrbdResource =>
      desiredDrbdResource({
        name,
        volumes: [{ volumeNumber: 0, minor: 1000, sizeKib: '1024' }],
        peers: peers.map((node, i) => drbdPeer(node, i + 1, { hostname: node })),
        options: { 'DrbdOptions/Resource/quorum': 'off' },
      });
    const a: DesiredState = { ...base, drbdResources: [r('r1', ['n2']), r('r2', ['n2']), r('r3', [])] };
    const b: DesiredState = { ...base, revision: 11, drbdResources: [r('r1', ['n2']), r('r2', ['n2', 'n3'])] };
    const delta = diffDesiredState(a, b);
    expect(delta.upsertDrbdResources.map((x) => [x.name, x.peers.map((p) => p.node)])).toEqual([['r2', ['n2', 'n3']]]);
    expect(delta.deleteDrbdResources).toEqual(['r3']);
    expect(applyDesiredStateDelta(a, delta).drbdResources).toEqual(b.drbdResources);
  });

  it('compares only the scope it is given: the same delta when everything else was carried over', () => {
    const r = (name: string, peers: string[]): DesiredDrbdResource =>
      desiredDrbdResource({ name, volumes: [{ volumeNumber: 0, minor: 1000, sizeKib: '1024' }], peers: peers.map((node, i) => drbdPeer(node, i + 1, { hostname: node })), options: {} });
    const a: DesiredState = { ...base, drbdResources: [r('r1', ['n2']), r('r2', ['n2']), r('r3', [])] };
    // r2 gains a peer, r3 goes with its volume, r4 comes; r1 and the pools are the same objects.
    const b: DesiredState = {
      ...a,
      revision: 11,
      volumes: [...a.volumes.filter((v) => v.resource !== 'r2'), vol('r4', 0, 'thin', '512')],
      drbdResources: [a.drbdResources[0]!, r('r2', ['n2', 'n3']), r('r4', [])],
    };
    const full = diffDesiredState(a, b);
    expect(diffDesiredState(a, b, new Set(['r2', 'r3', 'r4']))).toEqual(full);
    expect(full.deleteVolumes).toEqual([{ resource: 'r2', volumeNumber: 0 }]);
    // Outside the scope nothing is looked at, even a difference (the caller vouches there is none).
    expect(diffDesiredState(a, b, new Set(['r1']))).toMatchObject({ upsertVolumes: [], deleteVolumes: [], upsertDrbdResources: [], deleteDrbdResources: [] });
  });

  it('does not see a change in props that only differ in key order', () => {
    const a: DesiredState = { node: 'n1', revision: 1, pools: [pool('p', 'LVM_THIN', { 'StorDriver/LvmVg': 'vg', 'StorDriver/ThinPool': 'tp' })], volumes: [], drbdResources: [] };
    const b: DesiredState = { node: 'n1', revision: 2, pools: [pool('p', 'LVM_THIN', { 'StorDriver/ThinPool': 'tp', 'StorDriver/LvmVg': 'vg' })], volumes: [], drbdResources: [] };
    expect(diffDesiredState(a, b).upsertPools).toEqual([]);
  });

  it('applies a chain of deltas to the same result as the last full state', () => {
    const states: DesiredState[] = [base, ...cases.map(([, s]) => s)];
    let current = base;
    for (let i = 1; i < states.length; i++) {
      current = applyDesiredStateDelta(current, diffDesiredState(states[i - 1]!, states[i]!));
      expect(current).toEqual(normalized(states[i]!));
    }
  });

  it('refuses a delta whose base revision is not the state\'s revision, without changing the state', () => {
    const next = { ...base, revision: 12, volumes: [] };
    const delta = diffDesiredState({ ...base, revision: 11 }, next);
    const before = structuredClone(base);
    expect(() => applyDesiredStateDelta(base, delta)).toThrow('delta for revision 11 cannot apply to state at revision 10');
    expect(base).toEqual(before);
  });

  it('does not modify its inputs', () => {
    const next = cases[1]![1];
    const [prevCopy, nextCopy] = [structuredClone(base), structuredClone(next)];
    const delta = diffDesiredState(base, next);
    const deltaCopy = structuredClone(delta);
    applyDesiredStateDelta(base, delta);
    expect(base).toEqual(prevCopy);
    expect(next).toEqual(nextCopy);
    expect(delta).toEqual(deltaCopy);
  });
});
