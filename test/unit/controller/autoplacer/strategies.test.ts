import { describe, expect, it } from '@jest/globals';
import { autoplace } from '../../../../src/controller/autoplacer/autoplace.js';
import { ratePools, resolveWeights, STRATEGIES } from '../../../../src/controller/autoplacer/rate.js';
import { maxFreeSpace } from '../../../../src/controller/autoplacer/strategies/max-free-space.js';
import { minReservedSpace } from '../../../../src/controller/autoplacer/strategies/min-reserved-space.js';
import { minRscCount } from '../../../../src/controller/autoplacer/strategies/min-rsc-count.js';
import type { RatedPool } from '../../../../src/controller/autoplacer/strategies/strategy.js';
import { cluster, GiB, placed, request } from './cluster.js';

const pool = (freeGiB: number, reservedGiB = 0, resourceCount = 0): RatedPool => ({
  freeKib: BigInt(freeGiB) * GiB,
  reservedKib: BigInt(reservedGiB) * GiB,
  resourceCount,
});

describe('strategies (linstor-facts 4.3)', () => {
  it('MaxFreeSpace maximizes the reported free space, default weight 1', () => {
    expect(maxFreeSpace).toMatchObject({ name: 'MaxFreeSpace', direction: 'MAXIMIZE', defaultWeight: 1 });
    expect(maxFreeSpace.rawValue(pool(3, 50, 9))).toBe(3 * 1024 * 1024);
  });

  it('MinReservedSpace minimizes the space promised to volumes, default weight 0', () => {
    expect(minReservedSpace).toMatchObject({ name: 'MinReservedSpace', direction: 'MINIMIZE', defaultWeight: 0 });
    expect(minReservedSpace.rawValue(pool(3, 50, 9))).toBe(50 * 1024 * 1024);
  });

  it('MinRscCount minimizes the number of resources, default weight 0.00001', () => {
    expect(minRscCount).toMatchObject({ name: 'MinRscCount', direction: 'MINIMIZE', defaultWeight: 0.00001 });
    expect(minRscCount.rawValue(pool(3, 50, 9))).toBe(9);
  });

  it('are the three strategies LINSTOR wires into its StrategyHandler', () => {
    expect(STRATEGIES.map((s) => s.name)).toEqual(['MaxFreeSpace', 'MinReservedSpace', 'MinRscCount']);
  });
});

describe('ratePools', () => {
  const counter = () => ({ operations: 0 });

  it('normalizes by the highest raw value and weights each strategy', () => {
    const weights = new Map([
      ['MaxFreeSpace', 2],
      ['MinReservedSpace', 1],
      ['MinRscCount', 0.5],
    ]);
    const scores = ratePools([pool(100, 0, 4), pool(50, 30, 2), pool(25, 60, 0)], STRATEGIES, weights, counter());
    // free: 1, 0.5, 0.25 (x2); reserved: 0, 0.5, 1 (x-1); count: 1, 0.5, 0 (x-0.5)
    expect(scores[0]).toBeCloseTo(2 - 0 - 0.5, 12);
    expect(scores[1]).toBeCloseTo(1 - 0.5 - 0.25, 12);
    expect(scores[2]).toBeCloseTo(0.5 - 1 - 0, 12);
  });

  it('gives 0 for a strategy whose raw values are all 0, and skips weight 0', () => {
    const c = counter();
    const scores = ratePools([pool(0), pool(0)], STRATEGIES, resolveWeights(STRATEGIES, []), c);
    expect(scores).toEqual([0, 0]);
    expect(c.operations).toBe(4); // MaxFreeSpace and MinRscCount looked at 2 pools; MinReservedSpace (weight 0) not
  });
});

describe('resolveWeights', () => {
  it('uses the first layer that sets a valid weight, else the default', () => {
    const weights = resolveWeights(STRATEGIES, [
      { 'Autoplacer/Weights/MaxFreeSpace': 'x', 'Autoplacer/Weights/MinReservedSpace': '3' },
      { 'Autoplacer/Weights/MaxFreeSpace': '0.5', 'Autoplacer/Weights/MinReservedSpace': '7', 'Autoplacer/Weights/MinRscCount': '-1' },
    ]);
    expect([...weights]).toEqual([
      ['MaxFreeSpace', 0.5], // 'x' on the first layer falls through
      ['MinReservedSpace', 3],
      ['MinRscCount', 0.00001], // negative: default
    ]);
  });
});

describe('weights change the choice', () => {
  // "busy" has the most free space but the most reserved space and resources; "quiet" has less free space and nothing
  // placed; "mid" is in between. Names are ordered so that alphabetical order picks neither expected answer.
  const c = () =>
    cluster()
      .storage('busy', {}, { free: 90n * GiB, reserved: 80n * GiB, count: 40 })
      .storage('mid', {}, { free: 70n * GiB, reserved: 10n * GiB, count: 30 })
      .storage('quiet', {}, { free: 40n * GiB, reserved: 0n, count: 1 });

  it('defaults pick the most free space', () => {
    expect(placed(autoplace(c().snapshot(), request({ placeCount: 1 })))).toEqual(['busy:thin']);
  });

  it('MinReservedSpace on the controller moves it to the least reserved pool', () => {
    const snapshot = c().controller({ 'Autoplacer/Weights/MinReservedSpace': '1' }).snapshot();
    // busy 1 - 1 = 0; mid 0.78 - 0.125 = 0.65; quiet 0.44 - 0 = 0.44
    expect(placed(autoplace(snapshot, request({ placeCount: 1 })))).toEqual(['mid:thin']);
    const heavier = c().controller({ 'Autoplacer/Weights/MinReservedSpace': '4' }).snapshot();
    expect(placed(autoplace(heavier, request({ placeCount: 1 })))).toEqual(['quiet:thin']);
  });

  it('definition properties override the controller', () => {
    const snapshot = c().controller({ 'Autoplacer/Weights/MinReservedSpace': '4' }).snapshot();
    const result = autoplace(snapshot, request({ placeCount: 1 }, { props: { 'Autoplacer/Weights/MinReservedSpace': '0' } }));
    expect(placed(result)).toEqual(['busy:thin']);
  });

  it('MinRscCount alone picks the pool with the fewest resources', () => {
    const snapshot = c().controller({ 'Autoplacer/Weights/MaxFreeSpace': '0', 'Autoplacer/Weights/MinRscCount': '1' }).snapshot();
    expect(placed(autoplace(snapshot, request({ placeCount: 2 })))).toEqual(['quiet:thin', 'mid:thin']);
  });

  it('the default MinRscCount weight breaks a tie in free space against the alphabet', () => {
    const snapshot = cluster()
      .storage('a', {}, { free: 50n * GiB, count: 5 })
      .storage('b', {}, { free: 50n * GiB, count: 4 })
      .storage('c', {}, { free: 50n * GiB, count: 6 })
      .snapshot();
    expect(placed(autoplace(snapshot, request({ placeCount: 2 })))).toEqual(['b:thin', 'a:thin']);
  });
});
