import type { KiB } from '../../common/sizes.js';

/** Text helpers for the autoplacer's reasons and explanations. */

const UNITS: readonly (readonly [string, bigint])[] = [
  ['PiB', 1024n ** 4n],
  ['TiB', 1024n ** 3n],
  ['GiB', 1024n ** 2n],
  ['MiB', 1024n],
];

/**
 * A size for humans in the largest binary unit it reaches, with up to two decimals, truncated toward zero:
 * 10485760n -> "10 GiB", 10240000n -> "9.76 GiB", 512n -> "512 KiB", -1048576n -> "-1 GiB".
 */
export function humanKiB(kib: KiB): string {
  const sign = kib < 0n ? '-' : '';
  const abs = kib < 0n ? -kib : kib;
  for (const [unit, factor] of UNITS) {
    if (abs >= factor) {
      const hundredths = (abs * 100n) / factor;
      const whole = hundredths / 100n;
      const frac = (hundredths % 100n).toString().padStart(2, '0').replace(/0+$/, '');
      return `${sign}${whole}${frac ? `.${frac}` : ''} ${unit}`;
    }
  }
  return `${sign}${abs} KiB`;
}

/** A score with up to six decimals and no trailing zeros: 1 -> "1", 0.4999995 -> "0.5", -0.00001 -> "-0.00001". */
export function formatScore(score: number): string {
  const text = score.toFixed(6).replace(/\.?0+$/, '');
  return text === '-0' ? '0' : text;
}

/** Up to `max` names joined by ", ", then "and N more". */
export function nameList(names: readonly string[], max = 5): string {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/** Deterministic, locale-independent string order (names are compared upper-cased first, as LINSTOR does). */
export function compareNames(a: string, b: string): number {
  const ka = a.toUpperCase();
  const kb = b.toUpperCase();
  if (ka !== kb) return ka < kb ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
