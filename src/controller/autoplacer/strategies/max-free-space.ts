import type { PlacementStrategy } from './strategy.js';

/**
 * MaxFreeSpace (LINSTOR MaximumFreeSpaceStrategy): prefers pools with more free capacity as last reported by the
 * satellite (physical free space, not the oversubscribed estimate, so thin and thick pools compare fairly).
 * Default weight 1.
 */
export const maxFreeSpace: PlacementStrategy = {
  name: 'MaxFreeSpace',
  direction: 'MAXIMIZE',
  defaultWeight: 1,
  rawValue: (pool) => Number(pool.freeKib),
};
