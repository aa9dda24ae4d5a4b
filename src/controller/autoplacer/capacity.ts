import type { Props } from '../../common/props/keys.js';
import { parseKiB, type KiB } from '../../common/sizes.js';
import { THIN_PROVIDERS } from '../../common/storage.js';
import type { ProviderKind } from '../../common/vocabulary.js';
import { humanKiB } from './format.js';

/**
 * Capacity rules of the autoplacer (linstor-facts 1.3 "Oversubscription", 4.2): how much a pool can still take,
 * and the minimum free space a thin pool must keep. All arithmetic is exact (bigint KiB, ratios as fractions).
 */

/** LINSTOR's default oversubscription ratio of thin pools (`LinStor.OVERSUBSCRIPTION_RATIO_DEFAULT`). */
export const DEFAULT_THIN_OVERSUBSCRIPTION_RATIO = '20';
/** Default `Autoplacer/MinThinFreeSpace`: 10% of the pool's total capacity. */
export const DEFAULT_MIN_THIN_FREE_SPACE = '10%';

/** Property keys read here (pool, then controller; MinThinFreeSpace also definition and node). */
export const PROP_MAX_OVERSUBSCRIPTION_RATIO = 'MaxOversubscriptionRatio';
export const PROP_MAX_FREE_CAPACITY_OVERSUBSCRIPTION_RATIO = 'MaxFreeCapacityOversubscriptionRatio';
export const PROP_MAX_TOTAL_CAPACITY_OVERSUBSCRIPTION_RATIO = 'MaxTotalCapacityOversubscriptionRatio';
export const PROP_MIN_THIN_FREE_SPACE = 'Autoplacer/MinThinFreeSpace';

/** A non-negative decimal as an exact fraction. */
interface Ratio {
  text: string;
  num: bigint;
  den: bigint;
}

/** Parses "20", "1.5", "0.25" into an exact fraction; undefined for anything else (no exponents, no signs). */
function parseRatio(text: string): Ratio | undefined {
  const m = /^\s*(\d+)(?:\.(\d+))?\s*$/.exec(text);
  if (!m) return undefined;
  const decimals = m[2] ?? '';
  return { text: text.trim(), num: BigInt(`${m[1]}${decimals}`), den: 10n ** BigInt(decimals.length) };
}

function times(kib: KiB, ratio: Ratio): KiB {
  return (kib * ratio.num) / ratio.den;
}

/** Where a ratio came from, for messages. */
interface ResolvedRatio extends Ratio {
  source: string;
}

/** The usable space of a pool for a new diskful replica. */
export interface CapacityEstimate {
  thin: boolean;
  freeKib: KiB;
  totalKib: KiB;
  reservedKib: KiB;
  freeRatio: string;
  totalRatio: string;
  /** free x free ratio */
  freeBasedKib: KiB;
  /** total x total ratio - reserved */
  totalBasedKib: KiB;
  /** min(freeBased, totalBased): what a new replica may use. */
  usableKib: KiB;
}

/** A property value that cannot be used, reported as a rejection reason instead of being guessed around. */
export interface InvalidProp {
  invalid: string;
}

/** The pool fields capacity rules read. */
export interface CapacityPool {
  providerKind: ProviderKind;
  props: Props;
  totalKib: KiB;
  freeKib: KiB;
  reservedKib: KiB;
}

/** True for provider kinds that allocate on write and may be oversubscribed. */
export function isThin(kind: ProviderKind): boolean {
  return THIN_PROVIDERS.includes(kind);
}

function resolveRatio(specific: string, pool: Props, controller: Props): ResolvedRatio | InvalidProp {
  const candidates: [key: string, where: string, value: string | undefined][] = [
    [specific, 'pool', pool[specific]],
    [PROP_MAX_OVERSUBSCRIPTION_RATIO, 'pool', pool[PROP_MAX_OVERSUBSCRIPTION_RATIO]],
    [specific, 'controller', controller[specific]],
    [PROP_MAX_OVERSUBSCRIPTION_RATIO, 'controller', controller[PROP_MAX_OVERSUBSCRIPTION_RATIO]],
  ];
  for (const [key, where, value] of candidates) {
    if (value === undefined) continue;
    const ratio = parseRatio(value);
    if (!ratio || ratio.num === 0n) return { invalid: `${key}='${value}' on ${where} is not a positive number` };
    return { ...ratio, source: `${key} on ${where}` };
  }
  return { text: DEFAULT_THIN_OVERSUBSCRIPTION_RATIO, num: BigInt(DEFAULT_THIN_OVERSUBSCRIPTION_RATIO), den: 1n, source: 'default' };
}

/**
 * Estimates how much a new replica may use in `pool` (linstor-facts 1.3):
 * `freeBased = free x MaxFreeCapacityOversubscriptionRatio`, `totalBased = total x
 * MaxTotalCapacityOversubscriptionRatio - reserved`, usable = min of both. Each ratio is looked up on the pool
 * (specific key, then `MaxOversubscriptionRatio`), then on the controller the same way, then defaults to 20.
 * Thick pools cannot be oversubscribed (space is allocated at creation): both ratios are 1 whatever the properties
 * say, so usable = min(free, total - reserved).
 * @returns the estimate, or `{ invalid }` naming a ratio property that is not a positive decimal.
 */
export function estimateCapacity(pool: CapacityPool, controllerProps: Props): CapacityEstimate | InvalidProp {
  const thin = isThin(pool.providerKind);
  const one: ResolvedRatio = { text: '1', num: 1n, den: 1n, source: 'thick' };
  const freeRatio = thin ? resolveRatio(PROP_MAX_FREE_CAPACITY_OVERSUBSCRIPTION_RATIO, pool.props, controllerProps) : one;
  if ('invalid' in freeRatio) return freeRatio;
  const totalRatio = thin ? resolveRatio(PROP_MAX_TOTAL_CAPACITY_OVERSUBSCRIPTION_RATIO, pool.props, controllerProps) : one;
  if ('invalid' in totalRatio) return totalRatio;
  const freeBasedKib = times(pool.freeKib, freeRatio);
  const totalBasedKib = times(pool.totalKib, totalRatio) - pool.reservedKib;
  return {
    thin,
    freeKib: pool.freeKib,
    totalKib: pool.totalKib,
    reservedKib: pool.reservedKib,
    freeRatio: freeRatio.text,
    totalRatio: totalRatio.text,
    freeBasedKib,
    totalBasedKib,
    usableKib: freeBasedKib < totalBasedKib ? freeBasedKib : totalBasedKib,
  };
}

/**
 * Rejection text for a pool whose estimate is below `neededKib`, e.g.
 * "pool thin: 10 GiB free with oversubscription, 20 GiB needed (free 512 MiB x 20 = 10 GiB, total 100 GiB x 20 -
 * 1.95 TiB reserved = 50 GiB)".
 */
export function describeShortfall(estimate: CapacityEstimate, neededKib: KiB): string {
  const usable = humanKiB(estimate.usableKib < 0n ? 0n : estimate.usableKib);
  if (estimate.thin) {
    return (
      `pool thin: ${usable} free with oversubscription, ${humanKiB(neededKib)} needed ` +
      `(free ${humanKiB(estimate.freeKib)} × ${estimate.freeRatio} = ${humanKiB(estimate.freeBasedKib)}, ` +
      `total ${humanKiB(estimate.totalKib)} × ${estimate.totalRatio} − ${humanKiB(estimate.reservedKib)} reserved = ${humanKiB(estimate.totalBasedKib)})`
    );
  }
  return (
    `pool thick: ${usable} free, ${humanKiB(neededKib)} needed ` +
    `(free ${humanKiB(estimate.freeKib)}, total ${humanKiB(estimate.totalKib)} − ${humanKiB(estimate.reservedKib)} reserved = ${humanKiB(estimate.totalBasedKib)})`
  );
}

/** The minimum free space a thin pool must keep, and how it was derived (for messages). */
export interface MinFreeSpace {
  minKib: KiB;
  /** e.g. "10% of 100 GiB (default)" or "5 GiB (Autoplacer/MinThinFreeSpace on pool)". */
  describe: string;
}

/**
 * The `Autoplacer/MinThinFreeSpace` of a thin pool: a percentage of its total capacity ("10%", "2.5%") or an
 * absolute size ("5GiB", "1048576" KiB). `layers` are looked up in order (first hit wins), e.g. pool, resource
 * definition, node, controller; default 10%. Percentages round up to whole KiB.
 * @returns the minimum, or `{ invalid }` when the value is neither form.
 */
export function minThinFreeSpace(totalKib: KiB, layers: readonly { origin: string; props: Props }[]): MinFreeSpace | InvalidProp {
  let value = DEFAULT_MIN_THIN_FREE_SPACE;
  let origin = 'default';
  for (const layer of layers) {
    const v = layer.props[PROP_MIN_THIN_FREE_SPACE];
    if (v !== undefined) {
      value = v;
      origin = `${PROP_MIN_THIN_FREE_SPACE} on ${layer.origin}`;
      break;
    }
  }
  const percent = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value);
  if (percent) {
    const ratio = parseRatio(percent[1]!);
    if (!ratio) return { invalid: `${PROP_MIN_THIN_FREE_SPACE}='${value}' (${origin})` };
    const den = ratio.den * 100n;
    const minKib = (totalKib * ratio.num + den - 1n) / den;
    return { minKib, describe: `${ratio.text}% of ${humanKiB(totalKib)} (${origin})` };
  }
  try {
    const minKib = parseKiB(value, PROP_MIN_THIN_FREE_SPACE);
    return { minKib, describe: `${humanKiB(minKib)} (${origin})` };
  } catch {
    return { invalid: `${PROP_MIN_THIN_FREE_SPACE}='${value}' (${origin}) is neither a percentage like '10%' nor a size like '5GiB'` };
  }
}
