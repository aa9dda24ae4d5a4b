import { describe, expect, it } from '@jest/globals';
import { autoplace } from '../../../../src/controller/autoplacer/autoplace.js';
import { parseRules } from '../../../../src/controller/autoplacer/constraints.js';
import { filterCandidates, type FilterInput } from '../../../../src/controller/autoplacer/filter.js';
import type { PlacementFilter } from '../../../../src/controller/autoplacer/types.js';
import { cluster, GiB, placed, reasonsFor, request } from './cluster.js';

/**
 * One block per filter rule (linstor-facts 4.2). Each scenario gives the node the rule must exclude the most free
 * space, so it would be chosen if the rule were not applied, and checks the reason given for it.
 */

describe('online nodes only', () => {
  it('skips nodes that are not ONLINE even when they have the most space, naming the status', () => {
    const c = cluster()
      .storage('a-offline', { status: 'OFFLINE' }, { free: 99n * GiB })
      .storage('b-connected', { status: 'CONNECTED' }, { free: 98n * GiB })
      .storage('n1', {}, { free: 50n * GiB })
      .storage('n2', {}, { free: 40n * GiB });
    const result = autoplace(c.snapshot(), request({ placeCount: 2 }));
    expect(placed(result)).toEqual(['n1:thin', 'n2:thin']);
    expect(reasonsFor(result, 'a-offline')).toEqual(['node offline (OFFLINE)']);
    expect(reasonsFor(result, 'b-connected')).toEqual(['node offline (CONNECTED)']);
  });

  it('skips node types that hold no storage', () => {
    const c = cluster().storage('ctrl', { type: 'CONTROLLER' }, { free: 99n * GiB }).storage('n1', {}, { free: 5n * GiB, total: 11n * GiB });
    const result = autoplace(c.snapshot(), request({ placeCount: 1 }, { sizeKib: 1n * GiB }));
    expect(placed(result)).toEqual(['n1:thin']);
    expect(reasonsFor(result, 'ctrl')).toEqual(['node type CONTROLLER cannot hold replicas']);
  });
});

describe('node name list', () => {
  it('matches case-insensitively and rejects the others', () => {
    const c = cluster()
      .storage('big', {}, { free: 99n * GiB })
      .storage('Small1', {}, { free: 30n * GiB })
      .storage('small2', {}, { free: 20n * GiB });
    const result = autoplace(c.snapshot(), request({ placeCount: 2, nodeNameList: ['SMALL1', 'Small2'] }));
    expect(placed(result)).toEqual(['Small1:thin', 'small2:thin']);
    expect(reasonsFor(result, 'big')).toEqual(['not in node name list (SMALL1, Small2)']);
  });
});

describe('AutoplaceTarget=false', () => {
  const base = () => cluster().storage('n1', {}, { free: 10n * GiB + 1n }).storage('n2', {}, { free: 20n * GiB });

  it('on the node', () => {
    const c = base().storage('z', { props: { AutoplaceTarget: 'false' } }, { free: 99n * GiB });
    const result = autoplace(c.snapshot(), request({ placeCount: 2 }));
    expect(placed(result)).toEqual(['n2:thin', 'n1:thin']);
    expect(reasonsFor(result, 'z')).toEqual(['AutoplaceTarget=false on node']);
  });

  it('on the pool, other pools of the node stay usable', () => {
    const c = base().node('z').pool('z', 'big', { free: 99n * GiB, props: { AutoplaceTarget: 'False' } }).pool('z', 'small', { free: 15n * GiB });
    const result = autoplace(c.snapshot(), request({ placeCount: 2 }));
    expect(placed(result)).toEqual(['n2:thin', 'z:small']);
    expect(reasonsFor(result, 'z', 'big')).toEqual(['AutoplaceTarget=false on pool']);
  });

  it('on the controller, unless the node says true', () => {
    const c = base().storage('z', { props: { AutoplaceTarget: 'true' } }, { free: 99n * GiB }).controller({ AutoplaceTarget: 'false' });
    const result = autoplace(c.snapshot(), request({ placeCount: 1 }));
    expect(placed(result)).toEqual(['z:thin']);
    expect(reasonsFor(result, 'n1')).toEqual(['AutoplaceTarget=false on controller']);
    expect(reasonsFor(result, 'n2')).toEqual(['AutoplaceTarget=false on controller']);
  });
});

describe("the definition's own replicas", () => {
  it('never puts two replicas on one node; a diskless replica may become diskful; a deleting one blocks', () => {
    const c = cluster()
      .storage('has-diskful', {}, { free: 99n * GiB })
      .storage('has-deleting', {}, { free: 98n * GiB })
      .storage('has-diskless', {}, { free: 60n * GiB })
      .storage('empty', {}, { free: 50n * GiB })
      .storage('other', {}, { free: 40n * GiB })
      .resource('r1', 'has-diskful')
      .resource('r1', 'has-deleting', { deleting: true })
      .resource('r1', 'has-diskless', { diskless: true });
    const result = autoplace(c.snapshot(), request({ placeCount: 3 }));
    expect(result.existingDiskful).toBe(1);
    expect(result.needed).toBe(2);
    expect(result.placements).toEqual([
      { node: 'has-diskless', pool: 'thin', score: expect.any(Number), wasDiskless: true },
      { node: 'empty', pool: 'thin', score: expect.any(Number), wasDiskless: false },
    ]);
    expect(reasonsFor(result, 'has-diskful')).toEqual(['already holds a replica of r1']);
    expect(reasonsFor(result, 'has-deleting')).toEqual(['a replica of r1 is still being deleted there']);
  });

  it('matches the definition name case-insensitively', () => {
    const c = cluster().storage('n1', {}, { free: 99n * GiB }).storage('n2').resource('R1', 'n1');
    const result = autoplace(c.snapshot(), request({ placeCount: 2 }));
    expect(placed(result)).toEqual(['n2:thin']);
    expect(reasonsFor(result, 'n1')).toEqual(['already holds a replica of r1']);
  });
});

describe('do-not-place-with', () => {
  const base = () =>
    cluster()
      .storage('n1', {}, { free: 99n * GiB })
      .storage('n2', {}, { free: 98n * GiB })
      .storage('n3', {}, { free: 97n * GiB })
      .storage('n4', {}, { free: 20n * GiB })
      .resource('DB-1', 'n1')
      .resource('db-7', 'n2')
      .resource('mydb-2', 'n3')
      .resource('db-9', 'n4', { deleting: true });

  it('excludes nodes holding a listed resource (case-insensitive), ignoring deleting resources', () => {
    const result = autoplace(base().snapshot(), request({ placeCount: 3, doNotPlaceWithRsc: ['db-1', 'db-9'] }));
    expect(placed(result)).toEqual(['n2:thin', 'n3:thin', 'n4:thin']);
    expect(reasonsFor(result, 'n1')).toEqual(['do-not-place-with DB-1 (holds it)']);
  });

  it('excludes nodes with a resource the regex finds, case-insensitively and anywhere in the name', () => {
    const anchored = autoplace(base().snapshot(), request({ placeCount: 2, doNotPlaceWithRscRegex: '^db-' }));
    expect(placed(anchored)).toEqual(['n3:thin', 'n4:thin']);
    expect(reasonsFor(anchored, 'n1')).toEqual(['do-not-place-with regex ^db- matches DB-1']);
    expect(reasonsFor(anchored, 'n2')).toEqual(['do-not-place-with regex ^db- matches db-7']);

    const anywhere = autoplace(base().snapshot(), request({ placeCount: 1, doNotPlaceWithRscRegex: 'DB-[27]' }));
    expect(placed(anywhere)).toEqual(['n1:thin']);
    expect(reasonsFor(anywhere, 'n3')).toEqual(['do-not-place-with regex DB-[27] matches mydb-2']);
  });

  it('lists every offending resource and gives both rules when both match', () => {
    const c = base().resource('db-8', 'n1');
    const result = autoplace(c.snapshot(), request({ placeCount: 1, doNotPlaceWithRsc: ['db-8', 'DB-1'], doNotPlaceWithRscRegex: 'db' }));
    expect(reasonsFor(result, 'n1')).toEqual(['do-not-place-with DB-1, db-8 (holds them)', 'do-not-place-with regex db matches DB-1, db-8']);
    expect(placed(result)).toEqual(['n4:thin']);
  });

  it('reports an invalid regex on every node instead of throwing', () => {
    const result = autoplace(base().snapshot(), request({ placeCount: 1, doNotPlaceWithRscRegex: '(' }));
    expect(result.ok).toBe(false);
    expect(reasonsFor(result, 'n4')[0]).toMatch(/^do-not-place-with regex \( is invalid: /);
  });
});

describe('pool rules', () => {
  it('provider list', () => {
    const c = cluster().node('n1').pool('n1', 'lvm', { kind: 'LVM', free: 99n * GiB }).pool('n1', 'zfs', { kind: 'ZFS_THIN', free: 20n * GiB });
    const result = autoplace(c.snapshot(), request({ placeCount: 1, providerList: ['ZFS_THIN', 'FILE'] }));
    expect(placed(result)).toEqual(['n1:zfs']);
    expect(reasonsFor(result, 'n1', 'lvm')).toEqual(['provider LVM not in provider list (ZFS_THIN, FILE)']);
  });

  it('storage pool list, case-insensitive', () => {
    const c = cluster().node('n1').pool('n1', 'slow', { free: 99n * GiB }).pool('n1', 'fast', { free: 20n * GiB });
    const result = autoplace(c.snapshot(), request({ placeCount: 1, storagePoolList: ['FAST'] }));
    expect(placed(result)).toEqual(['n1:fast']);
    expect(reasonsFor(result, 'n1', 'slow')).toEqual(['not in storage pool list (FAST)']);
  });

  it('diskful replicas need a non-DISKLESS pool; capacity must have been reported; a pool with an error is skipped', () => {
    const c = cluster()
      .node('n1', { noDisklessPool: true })
      .pool('n1', 'dl', { kind: 'DISKLESS', total: null })
      .pool('n1', 'new', { total: null })
      .pool('n1', 'broken', { free: 99n * GiB, lastError: "volume group 'vg0' not found" })
      .pool('n1', 'ok', { free: 20n * GiB });
    const result = autoplace(c.snapshot(), request({ placeCount: 1 }));
    expect(placed(result)).toEqual(['n1:ok']);
    expect(reasonsFor(result, 'n1', 'dl')).toEqual(['diskless pool: a diskful replica needs storage']);
    expect(reasonsFor(result, 'n1', 'new')).toEqual(['capacity never reported by the satellite']);
    expect(reasonsFor(result, 'n1', 'broken')).toEqual(["pool reports an error: volume group 'vg0' not found"]);
  });

  it('reports a node without pools', () => {
    const c = cluster().node('bare', { noDisklessPool: true }).storage('n1');
    const result = autoplace(c.snapshot(), request({ placeCount: 1 }));
    expect(reasonsFor(result, 'bare')).toEqual(['node has no storage pools']);
  });

  it('reports pools of nodes missing from the snapshot', () => {
    const c = cluster().storage('n1').pool('ghost', 'thin');
    const result = autoplace(c.snapshot(), request({ placeCount: 1 }));
    expect(reasonsFor(result, 'ghost', 'thin')).toEqual(['node ghost is not in the snapshot']);
  });
});

describe('capacity with thin oversubscription', () => {
  const noMin = { 'Autoplacer/MinThinFreeSpace': '0%' };

  it('a thin pool with less free space than the size still fits through oversubscription', () => {
    // 1 GiB free x 20 = 20 GiB usable >= 10 GiB
    const c = cluster().storage('n1', {}, { free: 1n * GiB, props: noMin });
    const result = autoplace(c.snapshot(), request({ placeCount: 1 }));
    expect(placed(result)).toEqual(['n1:thin']);
  });

  it('rejects a thin pool whose free-based estimate is too small, with both bounds', () => {
    const c = cluster().storage('n1', {}, { free: 400n * 1024n, props: noMin }).storage('n2', {}, { free: 11n * GiB });
    const result = autoplace(c.snapshot(), request({ placeCount: 1 }));
    expect(placed(result)).toEqual(['n2:thin']);
    expect(reasonsFor(result, 'n1', 'thin')).toEqual([
      'pool thin: 7.81 GiB free with oversubscription, 10 GiB needed (free 400 MiB × 20 = 7.81 GiB, total 100 GiB × 20 − 0 KiB reserved = 1.95 TiB)',
    ]);
  });

  it('rejects a thin pool whose total-based estimate is used up by reservations, however much is free', () => {
    const c = cluster().storage('n1', {}, { free: 99n * GiB, reserved: 1995n * GiB }).storage('n2', {}, { free: 20n * GiB });
    const result = autoplace(c.snapshot(), request({ placeCount: 1 }));
    expect(placed(result)).toEqual(['n2:thin']);
    expect(reasonsFor(result, 'n1', 'thin')[0]).toMatch(/^pool thin: 5 GiB free with oversubscription, 10 GiB needed .*− 1\.94 TiB reserved = 5 GiB\)$/);
  });

  it('thick pools need the whole size free', () => {
    const c = cluster().storage('n1', {}, { kind: 'LVM', free: 9n * GiB, props: { MaxOversubscriptionRatio: '10' } }).storage('n2', {}, { kind: 'ZFS', free: 10n * GiB });
    const result = autoplace(c.snapshot(), request({ placeCount: 1 }));
    expect(placed(result)).toEqual(['n2:thin']);
    expect(reasonsFor(result, 'n1', 'thin')).toEqual(['pool thick: 9 GiB free, 10 GiB needed (free 9 GiB, total 100 GiB − 0 KiB reserved = 100 GiB)']);
  });

  it('ratios on the controller and the pool change the verdict', () => {
    const c = cluster()
      .storage('n1', {}, { free: 4n * GiB, props: noMin })
      .storage('n2', {}, { free: 4n * GiB, props: { ...noMin, MaxFreeCapacityOversubscriptionRatio: '3' } })
      .controller({ MaxOversubscriptionRatio: '2' });
    const result = autoplace(c.snapshot(), request({ placeCount: 1 }));
    expect(placed(result)).toEqual(['n2:thin']); // 4 x 3 = 12 GiB; n1: 4 x 2 = 8 GiB
    expect(reasonsFor(result, 'n1', 'thin')[0]).toMatch(/^pool thin: 8 GiB free with oversubscription/);
  });

  it('an invalid ratio rejects the pool with the property named', () => {
    const c = cluster().storage('n1', {}, { props: { MaxOversubscriptionRatio: 'lots' } });
    const result = autoplace(c.snapshot(), request({ placeCount: 1 }));
    expect(reasonsFor(result, 'n1', 'thin')).toEqual(["invalid oversubscription ratio: MaxOversubscriptionRatio='lots' on pool is not a positive number"]);
  });

  it('thin pools keep Autoplacer/MinThinFreeSpace (default 10% of total) of reported free space', () => {
    const c = cluster()
      .storage('n1', {}, { free: 9n * GiB }) // 9 < 10% of 100 GiB
      .storage('n2', {}, { free: 9n * GiB, props: { 'Autoplacer/MinThinFreeSpace': '5GiB' } })
      .storage('n3', {}, { kind: 'LVM', free: 10n * GiB }); // thick pools have no such minimum
    const result = autoplace(c.snapshot(), request({ placeCount: 2 }, { sizeKib: 5n * GiB }));
    expect(placed(result)).toEqual(['n3:thin', 'n2:thin']);
    expect(reasonsFor(result, 'n1', 'thin')).toEqual(['pool thin: 9 GiB free, below the minimum of 10% of 100 GiB (default)']);
  });

  it('Autoplacer/MinThinFreeSpace comes from the definition, node or controller when the pool has none', () => {
    const key = 'Autoplacer/MinThinFreeSpace';
    const c = cluster()
      .storage('n1', { props: { [key]: '50%' } }, { free: 40n * GiB })
      .storage('n2', {}, { free: 40n * GiB })
      .controller({ [key]: '45GiB' });
    const fromNode = autoplace(c.snapshot(), request({ placeCount: 2 }, { props: { [key]: '30%' } }));
    // the definition's 30% beats the node's 50% and the controller's 45 GiB
    expect(placed(fromNode)).toEqual(['n1:thin', 'n2:thin']);
    const fromController = autoplace(c.snapshot(), request({ placeCount: 2 }));
    expect(reasonsFor(fromController, 'n1', 'thin')).toEqual(['pool thin: 40 GiB free, below the minimum of 50% of 100 GiB (Autoplacer/MinThinFreeSpace on node)']);
    expect(reasonsFor(fromController, 'n2', 'thin')).toEqual(['pool thin: 40 GiB free, below the minimum of 45 GiB (Autoplacer/MinThinFreeSpace on controller)']);
  });
});

describe('replicas-on-same', () => {
  const zones = () =>
    cluster()
      .storage('a1', { props: { 'Aux/zone': 'z1' } }, { free: 99n * GiB })
      .storage('b1', { props: { 'Aux/zone': 'z2' } }, { free: 60n * GiB })
      .storage('b2', { props: { 'Aux/zone': 'z2' } }, { free: 50n * GiB })
      .storage('c1', { props: { 'Aux/zone': 'z3' } }, { free: 70n * GiB })
      .storage('c2', { props: { 'Aux/zone': 'z3' } }, { free: 40n * GiB })
      .storage('nozone', {}, { free: 98n * GiB });

  it('KEY=VALUE requires the value; nodes without the key are rejected', () => {
    const result = autoplace(zones().snapshot(), request({ placeCount: 2, replicasOnSame: ['Aux/zone=z2'] }));
    expect(placed(result)).toEqual(['b1:thin', 'b2:thin']);
    expect(reasonsFor(result, 'c1')).toEqual(["replicas-on-same Aux/zone=z2: node has Aux/zone='z3'"]);
    expect(reasonsFor(result, 'nozone')).toEqual(['replicas-on-same Aux/zone: node has no Aux/zone']);
  });

  it('a plain KEY takes the value of the existing replicas', () => {
    const c = zones().storage('b0', { props: { 'Aux/zone': 'z2' } }).resource('r1', 'b0');
    const result = autoplace(c.snapshot(), request({ placeCount: 3, replicasOnSame: ['Aux/zone'] }));
    expect(placed(result)).toEqual(['b1:thin', 'b2:thin']);
    expect(reasonsFor(result, 'a1')).toEqual(["replicas-on-same Aux/zone: value 'z1' differs from 'z2' of existing replica b0"]);
  });

  it('existing replicas that disagree make the rule undecidable for every node', () => {
    const c = zones().resource('r1', 'b1').resource('r1', 'c1');
    const result = autoplace(c.snapshot(), request({ placeCount: 3, replicasOnSame: ['Aux/zone'] }));
    expect(result.ok).toBe(false);
    expect(reasonsFor(result, 'b2')).toEqual(["replicas-on-same Aux/zone is undecidable: existing replicas disagree on Aux/zone: 'z2' (b1), 'z3' (c1)"]);
  });
});

describe('replicas-on-different', () => {
  const sites = () =>
    cluster()
      .storage('a1', { props: { 'Aux/site': 'a' } }, { free: 99n * GiB })
      .storage('a2', { props: { 'Aux/site': 'a' } }, { free: 98n * GiB })
      .storage('b1', { props: { 'Aux/site': 'b' } }, { free: 50n * GiB })
      .storage('c1', { props: { 'Aux/site': 'c' } }, { free: 40n * GiB });

  it('KEY=VALUE never uses VALUE (and spreads over the other values)', () => {
    const result = autoplace(sites().snapshot(), request({ placeCount: 2, replicasOnDifferent: ['Aux/site=a'] }));
    expect(placed(result)).toEqual(['b1:thin', 'c1:thin']);
    expect(reasonsFor(result, 'a1')).toEqual(["replicas-on-different Aux/site=a: node has Aux/site='a'"]);
  });

  it('values used by existing replicas are excluded', () => {
    const c = sites().resource('r1', 'b1');
    const result = autoplace(c.snapshot(), request({ placeCount: 3, replicasOnDifferent: ['Aux/site'] }));
    expect(placed(result)).toEqual(['a1:thin', 'c1:thin']);
    expect(reasonsFor(result, 'a2', 'thin')).toEqual(["replicas-on-different Aux/site: value 'a' already used by a1"]);
  });

  it('a node without the key is not constrained (LINSTOR semantics)', () => {
    const c = sites().storage('x', {}, { free: 97n * GiB }).storage('y', {}, { free: 96n * GiB });
    const result = autoplace(c.snapshot(), request({ placeCount: 3, replicasOnDifferent: ['Aux/site'] }));
    expect(placed(result)).toEqual(['a1:thin', 'x:thin', 'y:thin']);
  });

  it('x-replicas-on-different counts per value, existing replicas included', () => {
    const c = sites().storage('a3', { props: { 'Aux/site': 'a' } }, { free: 97n * GiB }).resource('r1', 'a3');
    // a may hold 2: a3 exists, so one more in a; then b (the best remaining)
    const result = autoplace(c.snapshot(), request({ placeCount: 3, xReplicasOnDifferent: { 'Aux/site': 2 } }));
    expect(placed(result)).toEqual(['a1:thin', 'b1:thin']);
    expect(reasonsFor(result, 'a2', 'thin')).toEqual(["x-replicas-on-different Aux/site (2 per value): value 'a' already used by a3, a1"]);
    const full = sites().storage('a3', { props: { 'Aux/site': 'a' } }).storage('a4', { props: { 'Aux/site': 'a' } }).resource('r1', 'a3').resource('r1', 'a4');
    const result2 = autoplace(full.snapshot(), request({ placeCount: 3, xReplicasOnDifferent: { 'Aux/site': 2 } }));
    expect(reasonsFor(result2, 'a1')).toEqual(["x-replicas-on-different Aux/site (2 per value): value 'a' already used by a3, a4"]);
    expect(placed(result2)).toEqual(['b1:thin']);
  });
});

describe('filterCandidates directly', () => {
  const input = (filter: PlacementFilter, c = cluster()): FilterInput => {
    const s = c.snapshot();
    return {
      ...s,
      definitionProps: {},
      resourceDefinition: 'r1',
      sizeKib: 10n * GiB,
      filter,
      rules: parseRules(filter, []),
      counter: { operations: 0 },
    };
  };

  it('reports every failing node rule, not only the first', () => {
    const c = cluster().storage('n1', { status: 'OFFLINE', props: { AutoplaceTarget: 'false', 'Aux/site': 'x' } }).resource('db', 'n1');
    const out = filterCandidates(input({ nodeNameList: ['n2'], doNotPlaceWithRsc: ['db'], replicasOnDifferent: ['Aux/site=x'] }, c));
    expect(out.nodes[0]!.reasons.map((r) => r.code)).toEqual(['OFFLINE', 'NODE_NAME_LIST', 'AUTOPLACE_TARGET', 'DO_NOT_PLACE_WITH', 'REPLICAS_ON_DIFFERENT']);
    expect(out.nodes[0]!.pools).toEqual([]);
  });

  it('keeps data rules out of the diskless verdict and the own diskless replica in it', () => {
    const c = cluster().storage('n1', { props: { 'Aux/site': 'x' } }).resource('r1', 'n1', { diskless: true });
    const out = filterCandidates(input({ replicasOnDifferent: ['Aux/site=x'] }, c));
    expect(out.nodes[0]!.reasons.map((r) => r.code)).toEqual(['REPLICAS_ON_DIFFERENT']);
    expect(out.nodes[0]!.disklessReasons.map((r) => r.message)).toEqual(['already holds a diskless replica of r1']);
    expect(out.nodes[0]!.holdsDiskless).toBe(true);
  });

  it('counts one step per node, pool and resource', () => {
    const c = cluster().storage('n1').storage('n2').resource('x', 'n1');
    const i = input({}, c);
    filterCandidates(i);
    expect(i.counter.operations).toBe(2 + 4 + 2); // nodes, pools (each node has a diskless one; judged once), resource seen twice
  });
});
