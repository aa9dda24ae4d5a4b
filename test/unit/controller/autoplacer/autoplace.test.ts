import { describe, expect, it } from '@jest/globals';
import { autoplace } from '../../../../src/controller/autoplacer/autoplace.js';
import type { PlacementFilter, PlacementResult, PlacementSnapshot } from '../../../../src/controller/autoplacer/types.js';
import { cluster, GiB, placed, reasonsFor, request, shuffled } from './cluster.js';

describe('how many replicas', () => {
  const c = () => cluster().storage('n1', {}, { free: 90n * GiB }).storage('n2', {}, { free: 80n * GiB }).storage('n3', {}, { free: 70n * GiB }).storage('n4', {}, { free: 60n * GiB });

  it('place count minus existing diskful, non-deleting replicas; default place count 2', () => {
    expect(autoplace(c().snapshot(), request()).needed).toBe(2);
    const existing = c().resource('r1', 'n1').resource('r1', 'n2', { diskless: true }).resource('r1', 'n3', { deleting: true });
    const result = autoplace(existing.snapshot(), request({ placeCount: 3 }));
    expect(result).toMatchObject({ existingDiskful: 1, needed: 2, ok: true });
    expect(placed(result)).toEqual(['n2:thin', 'n4:thin']);
  });

  it('additionalReplicas places that many more regardless of the place count', () => {
    const result = autoplace(c().resource('r1', 'n1').snapshot(), request({ placeCount: 1 }, { additionalReplicas: 2 }));
    expect(result.needed).toBe(2);
    expect(placed(result)).toEqual(['n2:thin', 'n3:thin']);
  });

  it('more replicas than the place count is fine: nothing to do', () => {
    const result = autoplace(c().resource('r1', 'n1').resource('r1', 'n2').resource('r1', 'n3').snapshot(), request({ placeCount: 2 }));
    expect(result).toMatchObject({ ok: true, needed: 0, placements: [], existingDiskful: 3 });
  });

  it('counts existing replicas on nodes missing from the snapshot', () => {
    const result = autoplace(c().resource('r1', 'gone').snapshot(), request({ placeCount: 2 }));
    expect(result).toMatchObject({ existingDiskful: 1, needed: 1 });
    expect(result.explanation).toContain('next to 1 existing (gone)');
  });

  it('matches node names case-insensitively across nodes, pools and resources', () => {
    const snapshot = c().snapshot();
    const mixed: PlacementSnapshot = {
      ...snapshot,
      pools: snapshot.pools.map((p) => ({ ...p, node: p.node.toUpperCase() })),
      resources: [{ resourceDefinition: 'r1', node: 'N1', diskless: false, deleting: false }],
    };
    const result = autoplace(mixed, request({ placeCount: 2 }));
    expect(placed(result)).toEqual(['n2:thin']);
    expect(reasonsFor(result, 'n1')).toEqual(['already holds a replica of r1']);
  });
});

/** A varied cluster: sites, offline nodes, full pools, several pools per node, other resources. */
function variedCluster() {
  const c = cluster().controller({ 'Autoplacer/Weights/MinRscCount': '0.5' });
  for (let i = 0; i < 24; i++) {
    const name = `node-${String.fromCharCode(97 + ((i * 7) % 24))}${i}`;
    c.node(name, { props: { 'Aux/site': `s${i % 4}`, 'Aux/rack': `r${i % 6}` }, status: i % 11 === 5 ? 'OFFLINE' : 'ONLINE' });
    c.pool(name, 'thin', { free: BigInt(5 + ((i * 37) % 90)) * GiB, count: (i * 13) % 7, reserved: BigInt((i * 17) % 300) * GiB });
    if (i % 3 === 0) c.pool(name, 'thick', { kind: 'LVM', free: BigInt((i * 11) % 60) * GiB });
    if (i % 5 === 0) c.resource('db-1', name);
  }
  c.resource('r1', 'node-h1', { diskless: true }).resource('r1', 'node-o2');
  return c;
}

const filters: PlacementFilter[] = [
  { placeCount: 3 },
  { placeCount: 4, replicasOnDifferent: ['Aux/site'], doNotPlaceWithRsc: ['db-1'] },
  { placeCount: 4, xReplicasOnDifferent: { 'Aux/site': 2 }, replicasOnDifferent: ['Aux/rack'] },
  { placeCount: 3, replicasOnSame: ['Aux/site'], disklessOnRemaining: true },
  { placeCount: 6, replicasOnDifferent: ['Aux/site'] },
];

describe('determinism and completeness', () => {
  it.each(filters.map((filter, index) => ({ index, filter })))('filter #$index gives the same result whatever the input order', ({ filter }) => {
    const base = variedCluster().snapshot();
    const expected = autoplace(base, request(filter));
    for (const seed of [7, 8, 9]) {
      const mixed: PlacementSnapshot = {
        ...base,
        nodes: shuffled(base.nodes, seed),
        pools: shuffled(base.pools, seed + 100),
        resources: shuffled(base.resources, seed + 200),
      };
      const result = autoplace(mixed, request(filter));
      expect({ ...result, stats: null }).toEqual({ ...expected, stats: null });
    }
  });

  it.each(filters.map((filter, index) => ({ index, filter })))('filter #$index accounts for every node and pool exactly once', ({ filter }) => {
    const snapshot = variedCluster().snapshot();
    const result: PlacementResult = autoplace(snapshot, request(filter));
    const nodeRejected = new Set(result.rejections.filter((r) => r.pool === undefined).map((r) => r.node));
    const seen = new Map<string, string>();
    const mark = (key: string, how: string) => {
      expect(seen.get(key)).toBeUndefined();
      seen.set(key, how);
    };
    result.placements.forEach((p) => mark(`${p.node}:${p.pool}`, 'diskful'));
    result.disklessPlacements.forEach((p) => mark(`${p.node}:${p.pool}`, 'diskless'));
    result.rejections.filter((r) => r.pool !== undefined).forEach((r) => mark(`${r.node}:${r.pool}`, 'rejected'));
    for (const pool of snapshot.pools) {
      const key = `${pool.node}:${pool.name}`;
      if (nodeRejected.has(pool.node)) {
        expect(seen.get(key) ?? 'node-rejected').toMatch(/^(node-rejected|diskless)$/);
      } else {
        expect(seen.has(key)).toBe(true);
      }
    }
    for (const r of result.rejections) {
      expect(r.reasons.length).toBeGreaterThan(0);
      expect(r.codes).toHaveLength(r.reasons.length);
    }
  });

  it('does not modify its input', () => {
    const snapshot = variedCluster().snapshot();
    const copy = structuredClone(snapshot);
    autoplace(snapshot, request(filters[1]!));
    expect(snapshot).toEqual(copy);
  });

  it('replicas-on-different with a site per node group and the diskless node that becomes diskful', () => {
    const result = autoplace(variedCluster().snapshot(), request(filters[1]!));
    expect(result.ok).toBe(true);
    const sites = result.placements.map((p) => variedCluster().nodes.find((n) => n.name === p.node)!.props['Aux/site']);
    // node-o2 holds r1 in site s2, so three new replicas go to the other three sites
    expect(result.needed).toBe(3);
    expect(new Set(sites)).toEqual(new Set(['s0', 's1', 's3']));
  });
});

describe('cost', () => {
  /** `nodes` storage nodes, each with a thin pool and the default diskless pool: 2 pools per node. */
  function big(nodes: number): PlacementSnapshot {
    const c = cluster();
    for (let i = 0; i < nodes; i++) {
      // scores spread so that neither input order nor name order is the score order
      c.storage(`n${String(i).padStart(6, '0')}`, {}, { free: BigInt(20 + ((i * 7919) % 10_000)) * GiB, total: 20_000n * GiB, count: i % 9 });
    }
    return c.snapshot();
  }

  it('places 3 replicas among 10,000 pools with work linear in the pools', () => {
    const small = autoplace(big(5_000), request({ placeCount: 3 }, { sizeKib: 1n * GiB }));
    const large = autoplace(big(10_000), request({ placeCount: 3 }, { sizeKib: 1n * GiB }));
    expect(small.ok).toBe(true);
    expect(small.placements).toHaveLength(3);
    const pools = 10_000;
    expect(small.stats.operations).toBeLessThanOrEqual(12 * pools);
    expect(small.stats.searchSteps).toBeLessThanOrEqual(10);
    expect(large.stats.operations / small.stats.operations).toBeLessThan(2.1);
  });

  it('stays linear with replicas-on-different over 3 sites among 10,000 pools', () => {
    const withSites = (nodes: number): PlacementSnapshot => {
      const s = big(nodes);
      return { ...s, nodes: s.nodes.map((n, i) => ({ ...n, props: { 'Aux/site': `site-${i % 3}` } })) };
    };
    const small = autoplace(withSites(5_000), request({ placeCount: 3, replicasOnDifferent: ['Aux/site'] }, { sizeKib: 1n * GiB }));
    const large = autoplace(withSites(10_000), request({ placeCount: 3, replicasOnDifferent: ['Aux/site'] }, { sizeKib: 1n * GiB }));
    expect(small.ok).toBe(true);
    expect(small.stats.operations).toBeLessThanOrEqual(12 * 10_000);
    expect(large.stats.operations / small.stats.operations).toBeLessThan(2.1);
  });
});
