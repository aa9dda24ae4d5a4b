import type { PlacementStrategy } from './strategy.js';

/**
 * MinRscCount (LINSTOR MinimumResourceCountStrategy): prefers pools used by fewer resources. Its default weight of
 * 0.00001 only breaks ties between pools that the other strategies rate (almost) equally.
 */
export const minRscCount: PlacementStrategy = {
  name: 'MinRscCount',
  direction: 'MINIMIZE',
  defaultWeight: 0.00001,
  rawValue: (pool) => pool.resourceCount,
};
