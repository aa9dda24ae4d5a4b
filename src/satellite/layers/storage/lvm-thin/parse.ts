/**
 * Pure interpretation of `lvs` rows for thin provisioning (rows parsed by ../lvm/parse.ts). lvm2's `lv_attr` starts
 * with the volume type: `t` thin pool, `V` thin volume (lvs(8), "lv_attr bits").
 */
import type { Capacity } from '../provider.js';
import { bytesToKib, percentOfBytesInKib, type LvRecord } from '../lvm/parse.js';

/** True for a thin pool LV (`lv_attr` type `t`). */
export function isThinPool(lv: LvRecord): boolean {
  return lv.attr.startsWith('t');
}

/** True for a thin volume (`lv_attr` type `V`, `pool_lv` naming its thin pool). */
export function isThinVolume(lv: LvRecord): boolean {
  return lv.attr.startsWith('V') && lv.poolLv !== '';
}

/**
 * Capacity of a thin pool as LINSTOR reports it: total = the pool's data size (lv_size), free = lv_size x (100 -
 * data_percent) / 100, in KiB rounded down. Oversubscription is the controller's business, not this figure's.
 * @throws Error when the LV is not a thin pool, or lvm2 left data_percent empty (inactive pool: lvm2 reads usage from
 *   the kernel), since a made-up free figure would mislead the autoplacer.
 */
export function thinPoolCapacity(pool: LvRecord): Capacity {
  if (!isThinPool(pool)) {
    throw new Error(`${pool.vg}/${pool.name} is not a thin pool (lv_attr '${pool.attr}')`);
  }
  if (pool.dataPercent === null) {
    throw new Error(
      `lvm2 reports no data usage for thin pool ${pool.vg}/${pool.name} (lv_attr '${pool.attr}'); activate it with lvchange -ay ${pool.vg}/${pool.name}`,
    );
  }
  const { numerator, denominator } = pool.dataPercent;
  // The unused share as its own fraction, rather than total - used: each figure is rounded down on its own, and
  // free space must never be overstated. A percentage above 100 cannot happen; clamp instead of going negative.
  const unusedNumerator = denominator * 100n - numerator;
  const freeKib = unusedNumerator <= 0n ? 0n : percentOfBytesInKib(pool.sizeBytes, { numerator: unusedNumerator, denominator });
  return { totalKib: bytesToKib(pool.sizeBytes), freeKib };
}

/**
 * Space a thin volume takes in its pool: lv_size x data_percent / 100, in KiB rounded down. An inactive thin volume
 * has no data_percent (lvm2 leaves it empty); it counts as 0 because nothing better is known without activating it.
 */
export function thinVolumeAllocatedKib(lv: LvRecord): bigint {
  return lv.dataPercent === null ? 0n : percentOfBytesInKib(lv.sizeBytes, lv.dataPercent);
}
