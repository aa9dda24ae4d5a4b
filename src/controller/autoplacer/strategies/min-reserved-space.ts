import type { PlacementStrategy } from './strategy.js';

/**
 * MinReservedSpace (LINSTOR MinimumReservedSpaceStrategy): prefers pools with less space already promised to
 * volumes; matters for thin pools, whose free space does not show what was promised. Default weight 0 (off).
 */
export const minReservedSpace: PlacementStrategy = {
  name: 'MinReservedSpace',
  direction: 'MINIMIZE',
  defaultWeight: 0,
  rawValue: (pool) => Number(pool.reservedKib),
};
