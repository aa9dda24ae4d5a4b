import { describe, expect, it } from '@jest/globals';
import { autoplace } from '../../../../src/controller/autoplacer/autoplace.js';
import type { Props } from '../../../../src/common/props/keys.js';
import { needsTieBreaker } from '../../../../src/controller/autoplacer/diskless.js';
import { cluster, GiB, placed, request } from './cluster.js';

describe('needsTieBreaker', () => {
  const cases: [number, number, Props[], boolean][] = [
    [2, 0, [], true],
    [4, 0, [], true],
    [1, 0, [], false],
    [3, 0, [], false],
    [0, 0, [], false],
    [2, 1, [], false],
    [2, 0, [{ 'DrbdOptions/auto-add-quorum-tiebreaker': 'False' }], false],
    [2, 0, [{}, { 'DrbdOptions/auto-add-quorum-tiebreaker': 'false' }], false],
    [2, 0, [{ 'DrbdOptions/auto-add-quorum-tiebreaker': 'true' }, { 'DrbdOptions/auto-add-quorum-tiebreaker': 'false' }], true],
    [2, 0, [{ 'DrbdOptions/Resource/quorum': 'off' }], false],
    [2, 0, [{ 'DrbdOptions/Resource/quorum': 'majority' }], true],
  ];
  it.each(cases)('%p diskful, %p voting diskless, props %j -> %p', (diskfulCount, votingDisklessCount, props, expected) => {
    expect(needsTieBreaker({ diskfulCount, votingDisklessCount, props })).toBe(expected);
  });
});

describe('tie-breaker', () => {
  // Sites a and b hold the data; "zz-c" sits in a third site and is alphabetically last, so only the
  // failure-domain rule puts the tie-breaker there.
  const sites = () =>
    cluster()
      .storage('a1', { props: { 'Aux/site': 'a' } }, { free: 90n * GiB })
      .storage('a2', { props: { 'Aux/site': 'a' } }, { free: 30n * GiB })
      .storage('b1', { props: { 'Aux/site': 'b' } }, { free: 80n * GiB })
      .storage('b2', { props: { 'Aux/site': 'b' } }, { free: 20n * GiB })
      .node('zz-c', { props: { 'Aux/site': 'c' } });

  it('is added for an even diskful count, outside the sites of the diskful replicas', () => {
    const result = autoplace(sites().snapshot(), request({ placeCount: 2, replicasOnDifferent: ['Aux/site'] }));
    expect(placed(result)).toEqual(['a1:thin', 'b1:thin']);
    expect(result.disklessPlacements).toEqual([{ node: 'zz-c', pool: 'DfltDisklessStorPool', tieBreaker: true }]);
    expect(result.explanation).toContain('Added a diskless tie-breaker on zz-c (DfltDisklessStorPool)');
  });

  it('without different-rules goes to the first eligible node by name, never onto a diskful one', () => {
    const result = autoplace(sites().snapshot(), request({ placeCount: 2 }));
    expect(placed(result)).toEqual(['a1:thin', 'b1:thin']);
    expect(result.disklessPlacements).toEqual([{ node: 'a2', pool: 'DfltDisklessStorPool', tieBreaker: true }]);
  });

  it('is not added for an odd count', () => {
    expect(autoplace(sites().snapshot(), request({ placeCount: 3 })).disklessPlacements).toEqual([]);
  });

  it('counts existing replicas: 2 existing and nothing to place still get a tie-breaker', () => {
    const c = sites().resource('r1', 'a1').resource('r1', 'b1');
    const result = autoplace(c.snapshot(), request({ placeCount: 2, replicasOnDifferent: ['Aux/site'] }));
    expect(result.needed).toBe(0);
    expect(result.ok).toBe(true);
    expect(result.disklessPlacements).toEqual([{ node: 'zz-c', pool: 'DfltDisklessStorPool', tieBreaker: true }]);
  });

  it('is not added when a voting diskless replica exists, but is when the diskless one is a DRBD client', () => {
    const voting = sites().resource('r1', 'zz-c', { diskless: true });
    expect(autoplace(voting.snapshot(), request({ placeCount: 2 })).disklessPlacements).toEqual([]);
    const client = sites().resource('r1', 'zz-c', { diskless: true, client: true });
    expect(autoplace(client.snapshot(), request({ placeCount: 2 })).disklessPlacements).toEqual([
      { node: 'a2', pool: 'DfltDisklessStorPool', tieBreaker: true },
    ]);
  });

  it('a deleting diskless replica does not count, and its node cannot take the new one', () => {
    const c = sites().resource('r1', 'zz-c', { diskless: true, tieBreaker: true, deleting: true });
    const result = autoplace(c.snapshot(), request({ placeCount: 2, replicasOnDifferent: ['Aux/site'] }));
    expect(result.disklessPlacements).toEqual([{ node: 'a2', pool: 'DfltDisklessStorPool', tieBreaker: true }]);
  });

  it('respects the node rules that are not about data and the diskless pool list', () => {
    const c = sites()
      .node('c-offline', { props: { 'Aux/site': 'c' }, status: 'OFFLINE' })
      .node('c-notarget', { props: { 'Aux/site': 'c', AutoplaceTarget: 'false' } })
      .node('c-other', { props: { 'Aux/site': 'c' } })
      .pool('c-other', 'dl2', { kind: 'DISKLESS', total: null });
    const result = autoplace(
      c.snapshot(),
      request({ placeCount: 2, replicasOnDifferent: ['Aux/site'], storagePoolDisklessList: ['DL2'], doNotPlaceWithRsc: ['x'] }),
    );
    expect(result.disklessPlacements).toEqual([{ node: 'c-other', pool: 'dl2', tieBreaker: true }]);
  });

  it('is skipped when switched off on the definition or the controller', () => {
    const off = sites().controller({ 'DrbdOptions/auto-add-quorum-tiebreaker': 'false' });
    expect(autoplace(off.snapshot(), request({ placeCount: 2 })).disklessPlacements).toEqual([]);
    const on = autoplace(off.snapshot(), request({ placeCount: 2 }, { props: { 'DrbdOptions/auto-add-quorum-tiebreaker': 'true' } }));
    expect(on.disklessPlacements).toHaveLength(1);
  });

  it('needs a DISKLESS pool on the node', () => {
    // "a-thin-only" sorts first and is online, but has only a (too full) thin pool and no DISKLESS pool
    const c = cluster().storage('n1').storage('n2').storage('a-thin-only', { noDisklessPool: true }, { free: 5n * GiB });
    const result = autoplace(c.snapshot(), request({ placeCount: 2 }));
    expect(placed(result)).toEqual(['n1:thin', 'n2:thin']);
    expect(result.disklessPlacements).toEqual([]);
  });

  it('explains when no node can take it', () => {
    const c = cluster().storage('n1').storage('n2');
    const result = autoplace(c.snapshot(), request({ placeCount: 2 }));
    expect(result.ok).toBe(true);
    expect(result.disklessPlacements).toEqual([]);
    expect(result.explanation).toContain('An even number of diskful replicas wants a diskless tie-breaker, but no node can take one.');
  });
});

describe('diskless-on-remaining', () => {
  const c = () =>
    cluster()
      .storage('d1', {}, { free: 90n * GiB })
      .storage('d2', {}, { free: 80n * GiB })
      .storage('d3', {}, { free: 70n * GiB })
      .node('m-offline', { status: 'OFFLINE' })
      .node('m-other')
      .node('m-out')
      .node('m-with-db')
      .node('m-has', {})
      .node('ctrl', { type: 'CONTROLLER' })
      .resource('db', 'm-with-db')
      .resource('r1', 'm-has', { diskless: true, client: true });

  it('adds a DRBD client on every remaining eligible node, by name', () => {
    const result = autoplace(c().snapshot(), request({ placeCount: 3, disklessOnRemaining: true, nodeNameList: ['d1', 'd2', 'd3', 'm-offline', 'm-other', 'm-with-db', 'm-has'], doNotPlaceWithRsc: ['db'] }));
    expect(placed(result)).toEqual(['d1:thin', 'd2:thin', 'd3:thin']);
    expect(result.disklessPlacements).toEqual([{ node: 'm-other', pool: 'DfltDisklessStorPool', tieBreaker: false }]);
  });

  it('puts the tie-breaker first and clients on the rest', () => {
    const result = autoplace(c().snapshot(), request({ placeCount: 2, disklessOnRemaining: true }));
    expect(placed(result)).toEqual(['d1:thin', 'd2:thin']);
    expect(result.disklessPlacements).toEqual([
      { node: 'd3', pool: 'DfltDisklessStorPool', tieBreaker: true },
      { node: 'm-other', pool: 'DfltDisklessStorPool', tieBreaker: false },
      { node: 'm-out', pool: 'DfltDisklessStorPool', tieBreaker: false },
      { node: 'm-with-db', pool: 'DfltDisklessStorPool', tieBreaker: false },
    ]);
    expect(result.explanation).toContain('Added diskless replicas on the remaining nodes: m-other, m-out, m-with-db.');
    // the diskless pools that got a replica are not listed as rejected
    expect(result.rejections.find((r) => r.node === 'm-out')).toBeUndefined();
  });

  it('is not done when the diskful placement fails', () => {
    const result = autoplace(c().snapshot(), request({ placeCount: 4, disklessOnRemaining: true }));
    expect(result.ok).toBe(false);
    expect(result.disklessPlacements).toEqual([]);
  });
});
