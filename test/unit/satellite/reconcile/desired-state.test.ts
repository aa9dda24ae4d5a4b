import { describe, expect, it } from '@jest/globals';
import { diffDesiredState, type DesiredState } from '../../../../src/common/protocol/satellite.js';
import { parseDesiredStateMessage } from '../../../../src/satellite/reconcile/desired-state.js';

const state: DesiredState = {
  node: 'n1',
  revision: 3,
  pools: [{ name: 'p1', providerKind: 'LVM', props: { 'StorDriver/LvmVg': 'vg0' } }],
  volumes: [{ resource: 'r1', volumeNumber: 0, pool: 'p1', sizeKib: '1024' }],
  drbdResources: [],
};

describe('parseDesiredStateMessage', () => {
  it('accepts full states and deltas as the controller sends them (after a JSON round trip)', () => {
    const full = { type: 'full' as const, state };
    const delta = diffDesiredState(state, { ...state, revision: 4, volumes: [], pools: [...state.pools, { name: 'p2', providerKind: 'ZFS', props: {} }] });
    expect(parseDesiredStateMessage(JSON.parse(JSON.stringify(full)))).toEqual(full);
    expect(parseDesiredStateMessage(JSON.parse(JSON.stringify(delta)))).toEqual(delta);
  });

  it('ignores fields it does not know and passes unknown provider kinds on (the pass reports that pool)', () => {
    const message = { type: 'full', extra: 1, state: { ...state, extra: true, pools: [{ name: 'p9', providerKind: 'NVME_OF', props: {} }] } };
    expect(parseDesiredStateMessage(message)).toEqual({ type: 'full', state: { ...state, pools: [{ name: 'p9', providerKind: 'NVME_OF', props: {} }] } });
  });

  it.each<[string, unknown]>([
    ['message: expected an object', null],
    [`type: expected 'full' or 'delta', got "partial"`, { type: 'partial' }],
    [`type: expected 'full' or 'delta', got nothing`, {}],
    ['state: expected an object', { type: 'full' }],
    ['state.revision: expected a non-negative integer', { type: 'full', state: { ...state, revision: -1 } }],
    ['state.revision: expected a non-negative integer', { type: 'full', state: { ...state, revision: '3' } }],
    ['state.pools: expected an array', { type: 'full', state: { ...state, pools: {} } }],
    ['state.volumes[0].sizeKib: expected a string', { type: 'full', state: { ...state, volumes: [{ ...state.volumes[0], sizeKib: 1024 }] } }],
    ['state.pools[0].props["a"]: expected a string', { type: 'full', state: { ...state, pools: [{ ...state.pools[0], props: { a: 1 } }] } }],
    ['deleteVolumes[0].volumeNumber: expected a non-negative integer', { ...diffDesiredState(state, state), deleteVolumes: [{ resource: 'r1' }] }],
    ['baseRevision: expected a non-negative integer', { ...diffDesiredState(state, state), baseRevision: undefined }],
  ])('refuses a message with %s', (message, value) => {
    expect(() => parseDesiredStateMessage(value)).toThrow(message);
  });
});
