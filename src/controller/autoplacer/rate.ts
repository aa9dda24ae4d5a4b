import type { Props } from '../../common/props/keys.js';
import { maxFreeSpace } from './strategies/max-free-space.js';
import { minReservedSpace } from './strategies/min-reserved-space.js';
import { minRscCount } from './strategies/min-rsc-count.js';
import type { PlacementStrategy, RatedPool } from './strategies/strategy.js';

/**
 * Step 2 of the autoplacer (linstor-facts 4.3, LINSTOR's StrategyHandler): a score per candidate pool from weighted
 * strategies.
 */

/** The strategies LINSTOR wires into its StrategyHandler, in a fixed order (the sum does not depend on it). */
export const STRATEGIES: readonly PlacementStrategy[] = [maxFreeSpace, minReservedSpace, minRscCount];

/** Weight properties are `Autoplacer/Weights/<strategy name>`. */
export const WEIGHT_PROP_PREFIX = 'Autoplacer/Weights/';

/**
 * The weight of every strategy: the first of `layers` (highest priority first, e.g. definition then controller)
 * that sets `Autoplacer/Weights/<name>` to a finite number >= 0, else the strategy's default. A malformed value
 * falls through to the next layer rather than silently becoming 0.
 */
export function resolveWeights(strategies: readonly PlacementStrategy[], layers: readonly Props[]): Map<string, number> {
  const weights = new Map<string, number>();
  for (const strategy of strategies) {
    let weight = strategy.defaultWeight;
    for (const props of layers) {
      const text = props[`${WEIGHT_PROP_PREFIX}${strategy.name}`];
      if (text === undefined || text.trim() === '') continue;
      const value = Number(text);
      if (Number.isFinite(value) && value >= 0) {
        weight = value;
        break;
      }
    }
    weights.set(strategy.name, weight);
  }
  return weights;
}

/**
 * Scores `pools`: for each strategy, raw value / highest raw value among `pools` (0 when all are 0), times its
 * weight, negated for MINIMIZE; summed per pool. Scores of a MAXIMIZE strategy are in [0, weight], of a MINIMIZE
 * one in [-weight, 0]. Returns the scores in the order of `pools`. One counter step per pool and strategy.
 */
export function ratePools(
  pools: readonly RatedPool[],
  strategies: readonly PlacementStrategy[],
  weights: ReadonlyMap<string, number>,
  counter: { operations: number },
): number[] {
  const scores = new Array<number>(pools.length).fill(0);
  for (const strategy of strategies) {
    const weight = weights.get(strategy.name) ?? strategy.defaultWeight;
    if (weight === 0) continue;
    const raw = pools.map((pool) => {
      counter.operations++;
      return strategy.rawValue(pool);
    });
    const highest = raw.reduce((max, v) => (Math.abs(v) > max ? Math.abs(v) : max), 0);
    if (highest === 0) continue;
    const sign = strategy.direction === 'MINIMIZE' ? -1 : 1;
    raw.forEach((v, i) => {
      scores[i] = scores[i]! + (sign * weight * v) / highest;
    });
  }
  return scores;
}
