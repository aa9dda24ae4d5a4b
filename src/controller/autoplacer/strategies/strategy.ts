import type { KiB } from '../../../common/sizes.js';

/**
 * A rating strategy of the autoplacer (linstor-facts 4.3, LINSTOR's AutoplaceStrategy): one raw number per
 * candidate pool. The rater normalizes it by the highest non-zero raw value among the candidates, multiplies it by
 * the strategy's weight (controller or definition property `Autoplacer/Weights/<name>`) and negates it for
 * MINIMIZE strategies.
 */
export interface PlacementStrategy {
  /** LINSTOR's strategy name, also the last part of its weight property. */
  readonly name: string;
  readonly direction: 'MAXIMIZE' | 'MINIMIZE';
  /** Weight when no property sets one. */
  readonly defaultWeight: number;
  /** The raw value for one pool; must be >= 0. */
  rawValue(pool: RatedPool): number;
}

/** What strategies may read about a candidate pool. */
export interface RatedPool {
  /** Last reported free capacity. */
  freeKib: KiB;
  /** Sum of the sizes of volumes already placed in the pool. */
  reservedKib: KiB;
  /** Distinct resources using the pool. */
  resourceCount: number;
}
