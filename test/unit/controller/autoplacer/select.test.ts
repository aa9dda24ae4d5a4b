import { describe, expect, it } from '@jest/globals';
import type { Props } from '../../../../src/common/props/keys.js';
import { parseRules, type ExistingReplicaNode } from '../../../../src/controller/autoplacer/constraints.js';
import { selectPools, type SelectCandidate } from '../../../../src/controller/autoplacer/select.js';
import type { PlacementFilter } from '../../../../src/controller/autoplacer/types.js';
import { shuffled } from './cluster.js';

const cand = (node: string, score: number, nodeProps: Props = {}, pool = 'p'): SelectCandidate => ({ node, pool, score, nodeProps });

function select(candidates: SelectCandidate[], count: number, filter: PlacementFilter = {}, existing: ExistingReplicaNode[] = [], budget?: number) {
  const counter = { operations: 0, searchSteps: 0 };
  const outcome = selectPools({ candidates, count, rules: parseRules(filter, existing), counter, ...(budget ? { budget } : {}) });
  return { ...outcome, counter, names: outcome.selected?.map((c) => `${c.node}:${c.pool}`) ?? null };
}

const site = (s: string, extra: Props = {}): Props => ({ 'Aux/site': s, ...extra });

describe('selectPools without rules', () => {
  it('takes the best scores, ties by node name then pool name, whatever the input order', () => {
    const candidates = [cand('n3', 0.5), cand('n1', 0.9), cand('n4', 0.9), cand('n2', 0.5), cand('n0', 0.1)];
    for (const seed of [1, 2, 3, 4, 5]) {
      expect(select(shuffled(candidates, seed), 3).names).toEqual(['n1:p', 'n4:p', 'n2:p']);
    }
  });

  it('uses one pool per node: the best one', () => {
    const candidates = [cand('n1', 0.9, {}, 'b'), cand('n1', 0.95, {}, 'a'), cand('n1', 0.95, {}, 'c'), cand('n2', 0.1)];
    expect(select(candidates, 2).names).toEqual(['n1:a', 'n2:p']);
    expect(select(candidates, 3).selected).toBeNull();
  });

  it('selects nothing for count 0', () => {
    expect(select([cand('n1', 1)], 0).selected).toEqual([]);
  });
});

describe('selectPools with replicas-on-same', () => {
  it('backtracks when the best node is in a group too small for all replicas', () => {
    const candidates = [
      cand('a-top', 1.0, { 'Aux/zone': 'z1' }),
      cand('a-2', 0.2, { 'Aux/zone': 'z1' }),
      cand('b-1', 0.9, { 'Aux/zone': 'z2' }),
      cand('b-2', 0.8, { 'Aux/zone': 'z2' }),
      cand('b-3', 0.7, { 'Aux/zone': 'z2' }),
      cand('no-zone', 0.99),
    ];
    expect(select(candidates, 3, { replicasOnSame: ['Aux/zone'] }).names).toEqual(['b-1:p', 'b-2:p', 'b-3:p']);
    // with 2 replicas the best group wins on the sum: z1 = 1.2, z2 = 1.7
    expect(select(candidates, 2, { replicasOnSame: ['Aux/zone'] }).names).toEqual(['b-1:p', 'b-2:p']);
    expect(select(candidates, 4, { replicasOnSame: ['Aux/zone'] }).selected).toBeNull();
  });

  it('keeps the value of the existing replicas', () => {
    const candidates = [cand('a-top', 1.0, { 'Aux/zone': 'z1' }), cand('a-2', 0.9, { 'Aux/zone': 'z1' }), cand('b-1', 0.1, { 'Aux/zone': 'z2' })];
    expect(select(candidates, 1, { replicasOnSame: ['Aux/zone'] }, [{ name: 'b-0', props: { 'Aux/zone': 'z2' } }]).names).toEqual(['b-1:p']);
  });

  it('combines two same keys', () => {
    const candidates = [
      cand('n1', 1.0, { 'Aux/zone': 'z1', 'Aux/room': 'r1' }),
      cand('n2', 0.9, { 'Aux/zone': 'z1', 'Aux/room': 'r2' }),
      cand('n3', 0.8, { 'Aux/zone': 'z1', 'Aux/room': 'r2' }),
      cand('n4', 0.95, { 'Aux/zone': 'z2', 'Aux/room': 'r1' }),
    ];
    expect(select(candidates, 2, { replicasOnSame: ['Aux/zone', 'Aux/room'] }).names).toEqual(['n2:p', 'n3:p']);
  });
});

describe('selectPools with replicas-on-different', () => {
  it('finds the best sum where taking the best node first would be wrong', () => {
    // Greedy takes n1 (1.0); then site a and rack r1 are used, and only n4 (0.1) fits: 1.1.
    // The best pair is n2 + n3 = 1.7.
    const candidates = [
      cand('n1', 1.0, site('a', { 'Aux/rack': 'r1' })),
      cand('n2', 0.9, site('b', { 'Aux/rack': 'r1' })),
      cand('n3', 0.8, site('a', { 'Aux/rack': 'r2' })),
      cand('n4', 0.1, site('b', { 'Aux/rack': 'r2' })),
    ];
    expect(select(candidates, 2, { replicasOnDifferent: ['Aux/site', 'Aux/rack'] }).names).toEqual(['n2:p', 'n3:p']);
  });

  it('spreads over values; fails when there are fewer values than replicas', () => {
    const candidates = [cand('a1', 0.9, site('a')), cand('a2', 0.8, site('a')), cand('b1', 0.3, site('b')), cand('c1', 0.2, site('c'))];
    expect(select(candidates, 3, { replicasOnDifferent: ['Aux/site'] }).names).toEqual(['a1:p', 'b1:p', 'c1:p']);
    expect(select(candidates.slice(0, 3), 3, { replicasOnDifferent: ['Aux/site'] }).selected).toBeNull();
  });

  it('counts existing replicas against the values', () => {
    const candidates = [cand('a1', 0.9, site('a')), cand('b1', 0.3, site('b')), cand('c1', 0.2, site('c'))];
    expect(select(candidates, 2, { replicasOnDifferent: ['Aux/site'] }, [{ name: 'a0', props: site('a') }]).names).toEqual(['b1:p', 'c1:p']);
  });
});

describe('selectPools with x-replicas-on-different', () => {
  const candidates = [
    cand('a1', 1.0, site('a')),
    cand('b1', 0.95, site('b')),
    cand('c1', 0.9, site('c')),
    cand('a2', 0.5, site('a')),
    cand('b2', 0.4, site('b')),
    cand('a3', 0.45, site('a')),
  ];

  it('fills groups: 2 per site and 3 replicas use exactly 2 sites, not the 3 best nodes', () => {
    expect(select(candidates, 3, { xReplicasOnDifferent: { 'Aux/site': 2 } }).names).toEqual(['a1:p', 'b1:p', 'a2:p']);
  });

  it('4 replicas at 2 per site are 2 + 2', () => {
    expect(select(candidates, 4, { xReplicasOnDifferent: { 'Aux/site': 2 } }).names).toEqual(['a1:p', 'b1:p', 'a2:p', 'b2:p']);
  });

  it('an existing replica joins its group', () => {
    // c0 exists: c is partially filled, so the single new replica must complete c (another partial group is not allowed)
    const result = select(candidates, 1, { xReplicasOnDifferent: { 'Aux/site': 2 } }, [{ name: 'c0', props: site('c') }]);
    expect(result.names).toEqual(['c1:p']);
  });
});

/** The best sum by trying every subset: the reference the search must match. */
function bruteForce(candidates: SelectCandidate[], count: number, filter: PlacementFilter, existing: ExistingReplicaNode[]): number | null {
  const rules = parseRules(filter, existing);
  let best: number | null = null;
  const n = candidates.length;
  for (let mask = 0; mask < 1 << n; mask++) {
    const chosen = candidates.filter((_, i) => mask & (1 << i));
    if (chosen.length !== count) continue;
    if (new Set(chosen.map((c) => c.node)).size !== count) continue;
    let valid = true;
    for (const rule of rules.same) {
      const values = new Set(chosen.map((c) => c.nodeProps[rule.key]));
      if (rule.conflict || values.has(undefined) || values.size > 1 || (rule.fixed !== null && !values.has(rule.fixed))) valid = false;
    }
    for (const rule of rules.different) {
      const used = new Map<string, number>();
      for (const [v, nodes] of rule.existing) used.set(v, nodes.length);
      const basePartial = [...used.values()].filter((u) => u > 0 && u < rule.max).length;
      for (const c of chosen) {
        const v = c.nodeProps[rule.key];
        if (v === undefined) continue;
        if (rule.forbidden.includes(v)) valid = false;
        used.set(v, (used.get(v) ?? 0) + 1);
      }
      if ([...used.values()].some((u) => u > rule.max)) valid = false;
      if ([...used.values()].filter((u) => u > 0 && u < rule.max).length > Math.max(1, basePartial)) valid = false;
    }
    if (!valid) continue;
    const sum = chosen.reduce((s, c) => s + c.score, 0);
    if (best === null || sum > best) best = sum;
  }
  return best;
}

describe('selectPools against brute force', () => {
  it('finds the optimal sum on 400 random small clusters with random rules', () => {
    let state = 12345;
    const rnd = (n: number): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return (state >>> 8) % n;
    };
    const pick = <T>(items: readonly T[]): T => items[rnd(items.length)]!;
    let compared = 0;
    for (let round = 0; round < 400; round++) {
      const nodes = 3 + rnd(7);
      const candidates: SelectCandidate[] = [];
      for (let i = 0; i < nodes; i++) {
        const props: Props = {};
        if (rnd(5) > 0) props['Aux/site'] = pick(['a', 'b', 'c']);
        if (rnd(5) > 0) props['Aux/zone'] = pick(['z1', 'z2']);
        props['Aux/rack'] = pick(['r1', 'r2', 'r3', 'r4']);
        const pools = 1 + rnd(2);
        for (let p = 0; p < pools; p++) candidates.push(cand(`n${i}`, rnd(20) / 10 - 0.5, props, `p${p}`));
      }
      const filter: PlacementFilter = {};
      const which = rnd(6);
      if (which === 0) filter.replicasOnSame = ['Aux/zone'];
      if (which === 1) filter.replicasOnDifferent = ['Aux/site'];
      if (which === 2) filter.xReplicasOnDifferent = { 'Aux/site': 2 };
      if (which === 3) filter.replicasOnDifferent = ['Aux/site', 'Aux/rack=r4'];
      if (which === 4) {
        filter.replicasOnSame = ['Aux/zone'];
        filter.xReplicasOnDifferent = { 'Aux/rack': 2 };
      }
      const existing: ExistingReplicaNode[] = rnd(3) === 0 ? [{ name: 'old', props: { 'Aux/site': pick(['a', 'b']), 'Aux/zone': 'z1', 'Aux/rack': 'r1' } }] : [];
      const count = 1 + rnd(4);
      const expected = bruteForce(candidates, count, filter, existing);
      const actual = select(shuffled(candidates, round), count, filter, existing).selected;
      const context = JSON.stringify({ round, filter, existing, count, candidates });
      if (expected === null) {
        expect({ context, actual }).toEqual({ context, actual: null });
      } else {
        expect(actual).not.toBeNull();
        expect({ context, sum: Number(actual!.reduce((s, c) => s + c.score, 0).toFixed(9)) }).toEqual({ context, sum: Number(expected.toFixed(9)) });
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(200);
  });
});

describe('selectPools cost', () => {
  const unconstrained = (pools: number, ascending = false): SelectCandidate[] =>
    Array.from({ length: pools }, (_, i) => cand(`node-${String(i).padStart(6, '0')}`, ascending ? i / pools : ((i * 7919) % pools) / pools));

  it('grows linearly with the pools for 3 replicas without rules: 10,000 pools', () => {
    const small = select(unconstrained(10_000), 3);
    const large = select(unconstrained(20_000), 3);
    expect(small.selected).toHaveLength(3);
    expect(small.counter.operations).toBeLessThanOrEqual(5 * 10_000);
    expect(small.counter.searchSteps).toBeLessThanOrEqual(10);
    expect(large.counter.operations / small.counter.operations).toBeLessThan(2.1);
  });

  it('stays linear when the pools arrive worst first (every one enters the bounded best-3 list)', () => {
    const ascending = select(unconstrained(10_000, true), 3);
    expect(ascending.names).toEqual(['node-009999:p', 'node-009998:p', 'node-009997:p']);
    expect(ascending.counter.operations).toBeLessThanOrEqual(12 * 10_000);
  });

  it('stays linear with replicas-on-different over a few sites and with a unique label per node', () => {
    const pools = (n: number): SelectCandidate[] =>
      Array.from({ length: n }, (_, i) => cand(`n${i}`, ((i * 7919) % n) / n, { 'Aux/site': `s${i % 3}`, 'Aux/host': `h${i}` }));
    const small = select(pools(10_000), 3, { replicasOnDifferent: ['Aux/site', 'Aux/host'] });
    const large = select(pools(20_000), 3, { replicasOnDifferent: ['Aux/site', 'Aux/host'] });
    expect(small.selected).toHaveLength(3);
    expect(new Set(small.selected!.map((c) => c.nodeProps['Aux/site'])).size).toBe(3);
    expect(small.counter.searchSteps).toBeLessThanOrEqual(100);
    // one class per node here, so sorting the classes adds a log factor; still far from combinatorial
    expect(large.counter.operations / small.counter.operations).toBeLessThan(2.5);
  });

  it('proves infeasibility at once instead of trying every combination', () => {
    // 5,000 nodes in 2 sites, each its own rack: 3 replicas on different sites cannot exist.
    const candidates = Array.from({ length: 5_000 }, (_, i) => cand(`n${i}`, i / 5_000, { 'Aux/site': `s${i % 2}`, 'Aux/rack': `r${i}` }));
    const result = select(candidates, 3, { replicasOnDifferent: ['Aux/site', 'Aux/rack'] });
    expect(result.selected).toBeNull();
    expect(result.truncated).toBe(false);
    expect(result.counter.searchSteps).toBeLessThanOrEqual(5);
  });

  it('stops at the step budget and says so', () => {
    const candidates = Array.from({ length: 40 }, (_, i) => cand(`n${i}`, 1, { 'Aux/site': `s${i % 2}`, 'Aux/rack': `r${i % 20}` }));
    const result = select(candidates, 3, { replicasOnSame: ['Aux/site'], xReplicasOnDifferent: { 'Aux/rack': 2 } }, [], 3);
    expect(result.truncated).toBe(true);
    expect(result.counter.searchSteps).toBeLessThanOrEqual(4);
  });
});
