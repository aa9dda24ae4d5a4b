import { describe, expect, it } from '@jest/globals';
import { autoplace } from '../../../../src/controller/autoplacer/autoplace.js';
import { cluster, GiB, placed, reasonsFor, request } from './cluster.js';

/**
 * Three sites, replicas-on-different=Aux/site, place count 3. The site-c nodes come first in the input and by name
 * would be chosen first ("c" < ...), and c1 has the most total capacity; a2 has the most free space of all.
 */
const threeSites = (cFull: boolean) =>
  cluster()
    .storage('c1', { props: { 'Aux/site': 'c' } }, cFull ? { total: 500n * GiB, free: 2n * GiB, reserved: 9995n * GiB } : { total: 500n * GiB, free: 60n * GiB })
    .storage('c2', { props: { 'Aux/site': 'c' } }, { kind: 'LVM', free: cFull ? 9n * GiB : 20n * GiB })
    .storage('a1', { props: { 'Aux/site': 'a' } }, { free: 80n * GiB })
    .storage('a2', { props: { 'Aux/site': 'a' } }, { free: 90n * GiB })
    .storage('b1', { props: { 'Aux/site': 'b' } }, { free: 70n * GiB })
    .storage('b2', { props: { 'Aux/site': 'b' } }, { free: 60n * GiB });

describe('three sites, replicas-on-different=Aux/site, place count 3', () => {
  const filter = { placeCount: 3, replicasOnDifferent: ['Aux/site'] };

  it('uses one node per site, taking the weakest site too', () => {
    const result = autoplace(threeSites(false).snapshot(), request(filter));
    expect(result.ok).toBe(true);
    // a1 has more space than c1 but site a is taken by a2
    expect(placed(result)).toEqual(['a2:thin', 'b1:thin', 'c1:thin']);
    expect(reasonsFor(result, 'a1', 'thin')).toEqual(["replicas-on-different Aux/site: value 'a' already used by a2"]);
    expect(reasonsFor(result, 'c2', 'thin')).toEqual(["replicas-on-different Aux/site: value 'c' already used by c1"]);
    expect(result.explanation).toBe('Placed 3 diskful replicas of r1 (10 GiB each): a2 (thin), b1 (thin), c1 (thin).');
  });

  it('fails when site c is full, and the explanation names site c and why each of its nodes is out', () => {
    const result = autoplace(threeSites(true).snapshot(), request(filter));
    expect(result.ok).toBe(false);
    expect(result.placements).toEqual([]);
    expect(result.disklessPlacements).toEqual([]);
    const text = result.explanation;
    expect(text).toMatch(/^Cannot place 3 diskful replicas of r1 \(10 GiB each\): at most 2 can be placed together\./);
    expect(text).toContain('4 of 6 nodes have a usable storage pool (a1, a2, b1, b2).');
    expect(text).toContain("replicas-on-different Aux/site admits at most 2 new replicas: usable nodes cover 'a' (a1, a2), 'b' (b1, b2)");
    expect(text).toContain("'c' has no usable node: c1 (thin: pool thin: 5 GiB free with oversubscription, 10 GiB needed");
    expect(text).toContain('c2 (thin: pool thick: 9 GiB free, 10 GiB needed');
    expect(text).toContain('Rejected: 2 pools without enough space (c1:thin, c2:thin); 1 pool below Autoplacer/MinThinFreeSpace (c1:thin).');
    expect(text).not.toContain('\n');
    expect(reasonsFor(result, 'a2', 'thin')).toEqual(['eligible, but no valid combination of 3 replicas exists (see explanation)']);
  });

  it('with allowPartial places the best 2 on different sites and says so', () => {
    const result = autoplace(threeSites(true).snapshot(), request(filter, { allowPartial: true }));
    expect(result.ok).toBe(false);
    expect(placed(result)).toEqual(['a2:thin', 'b1:thin']);
    expect(result.explanation).toContain('Partial placement: 2 diskful replicas on a2 (thin), b1 (thin).');
    // the even count gets a tie-breaker, in the site without data
    expect(result.disklessPlacements).toEqual([{ node: 'c1', pool: 'DfltDisklessStorPool', tieBreaker: true }]);
    expect(reasonsFor(result, 'a1', 'thin')).toEqual(["replicas-on-different Aux/site: value 'a' already used by a2"]);
  });
});

describe('explanations', () => {
  it('when too few nodes are usable: counts, the most common reasons first', () => {
    const c = cluster()
      .storage('n1', { status: 'OFFLINE' })
      .storage('n2', { status: 'OFFLINE' })
      .storage('n3', { props: { AutoplaceTarget: 'false' } })
      .storage('n4', {}, { free: 1n * GiB, kind: 'LVM' })
      .storage('n5');
    const result = autoplace(c.snapshot(), request({ placeCount: 3 }));
    expect(result.explanation).toBe(
      'Cannot place 3 diskful replicas of r1 (10 GiB each): at most 1 can be placed together. 1 of 5 nodes has a usable storage pool (n5). ' +
        'Rejected: 2 nodes offline (n1, n2); 1 node with AutoplaceTarget=false (n3); 1 pool without enough space (n4:thin).',
    );
  });

  it('when nothing is usable', () => {
    const c = cluster().storage('n1', { status: 'OFFLINE' });
    expect(autoplace(c.snapshot(), request({ placeCount: 1 })).explanation).toBe(
      'Cannot place 1 diskful replica of r1 (10 GiB each): none can be placed. 0 of 1 node has a usable storage pool. Rejected: 1 node offline (n1).',
    );
  });

  it('replicas-on-same: the largest group is too small', () => {
    const c = cluster()
      .storage('a1', { props: { 'Aux/zone': 'z1' } })
      .storage('a2', { props: { 'Aux/zone': 'z1' } })
      .storage('b1', { props: { 'Aux/zone': 'z2' } });
    const result = autoplace(c.snapshot(), request({ placeCount: 3, replicasOnSame: ['Aux/zone'] }));
    expect(result.explanation).toContain("replicas-on-same Aux/zone needs all 3 replicas on nodes with one value, but at most 2 usable nodes share one ('z1': a1, a2).");
  });

  it('replicas-on-same: an undecidable value is stated', () => {
    const c = cluster().storage('a1', { props: { 'Aux/zone': 'z1' } }).storage('b1', { props: { 'Aux/zone': 'z2' } }).storage('n3', { props: { 'Aux/zone': 'z1' } });
    const result = autoplace(c.resource('r1', 'a1').resource('r1', 'b1').snapshot(), request({ placeCount: 3, replicasOnSame: ['Aux/zone'] }));
    expect(result.explanation).toContain("replicas-on-same Aux/zone is undecidable: existing replicas disagree on Aux/zone: 'z1' (a1), 'z2' (b1).");
    expect(result.explanation).toContain('next to 2 existing (a1, b1)');
  });

  it('replicas-on-different: values used up by existing replicas and forbidden values are named', () => {
    const c = cluster()
      .storage('a1', { props: { 'Aux/site': 'a' } })
      .storage('a2', { props: { 'Aux/site': 'a' } })
      .storage('b1', { props: { 'Aux/site': 'b' } })
      .storage('x1', { props: { 'Aux/site': 'x' } })
      .resource('r1', 'b1');
    const result = autoplace(c.snapshot(), request({ placeCount: 3, replicasOnDifferent: ['Aux/site=x'] }));
    expect(result.explanation).toContain(
      "replicas-on-different Aux/site admits at most 1 new replica: usable nodes cover 'a' (a1, a2); 'b' is used up by existing replica b1; 'x' is excluded by replicas-on-different Aux/site=x.",
    );
  });

  it('x-replicas-on-different: the partial-group rule is named when nothing else explains the failure', () => {
    // 2 per site, 3 replicas: needs a site with 2 usable nodes; every site has only 1, so 3 partial groups
    const c = cluster()
      .storage('a1', { props: { 'Aux/site': 'a' } })
      .storage('b1', { props: { 'Aux/site': 'b' } })
      .storage('c1', { props: { 'Aux/site': 'c' } });
    const result = autoplace(c.snapshot(), request({ placeCount: 3, xReplicasOnDifferent: { 'Aux/site': 2 } }));
    expect(result.ok).toBe(false);
    expect(result.explanation).toContain(
      'No combination of 3 usable nodes satisfies the replicas-on-same/different rules together (at most one x-replicas-on-different group may be partially filled).',
    );
  });

  it('success names existing replicas, diskless-turned-diskful nodes and nothing-to-do', () => {
    const c = cluster().storage('n1').storage('n2').storage('n3').resource('r1', 'n1').resource('r1', 'n2', { diskless: true });
    const result = autoplace(c.snapshot(), request({ placeCount: 3 }));
    expect(result.explanation).toBe('Placed 2 diskful replicas of r1 (10 GiB each) next to 1 existing (n1): n2 (thin, was diskless), n3 (thin).');
    const done = autoplace(c.resource('r1', 'n3').snapshot(), request({ placeCount: 2 }));
    expect(done.explanation).toBe('r1 already has 2 diskful replicas (place count 2); no diskful replica added.');
  });
});

describe('rejections of eligible pools that were not chosen', () => {
  it('say whether the score was lower, tied, or the node got another pool', () => {
    const c = cluster()
      .node('n1')
      .pool('n1', 'big', { free: 90n * GiB })
      .pool('n1', 'small', { free: 20n * GiB })
      .storage('n2', {}, { free: 50n * GiB })
      .storage('n3', {}, { free: 50n * GiB })
      .storage('n4', {}, { free: 30n * GiB })
      .node('n5')
      .pool('n5', 'p1', { free: 10n * GiB + 1n, kind: 'LVM' })
      .pool('n5', 'p2', { free: 25n * GiB });
    const result = autoplace(c.snapshot(), request({ placeCount: 2 }));
    expect(placed(result)).toEqual(['n1:big', 'n2:thin']);
    expect(reasonsFor(result, 'n1', 'small')).toEqual(['node gets its replica in pool big (one replica per node)']);
    expect(reasonsFor(result, 'n3', 'thin')).toEqual(['score 0.555556 ties with the chosen pools; ties go to the node name that sorts first']);
    expect(reasonsFor(result, 'n4', 'thin')).toEqual(['score 0.333333 below the chosen pools (lowest 0.555556)']);
    expect(reasonsFor(result, 'n5', 'p1')).toEqual(['pool p2 on the same node ranks higher (score 0.277778 vs 0.111111)']);
    expect(reasonsFor(result, 'n5', 'p2')).toEqual(['score 0.277778 below the chosen pools (lowest 0.555556)']);
    expect(reasonsFor(result, 'n5', 'DfltDisklessStorPool')).toEqual(['diskless pool: a diskful replica needs storage']);
  });

  it('say "not needed" when the place count is already reached', () => {
    const c = cluster().storage('n1').storage('n2').resource('r1', 'n1');
    const result = autoplace(c.snapshot(), request({ placeCount: 1 }));
    expect(result.ok).toBe(true);
    expect(result.needed).toBe(0);
    expect(reasonsFor(result, 'n2', 'thin')).toEqual(['no diskful replica needed: r1 has 1 (place count 1)']);
  });
});
