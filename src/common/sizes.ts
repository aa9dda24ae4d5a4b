import { ApiError, ErrorCode } from './api-rc.js';

/**
 * Sizes are whole KiB held as `bigint`: volumes of many TiB exceed 2^31 KiB and, in bytes, 2^53.
 */
export type KiB = bigint;

/** Largest size a column can hold (PostgreSQL bigint). */
export const MAX_KIB: KiB = 2n ** 63n - 1n;

const UNITS: Record<string, bigint> = {
  '': 1n,
  K: 1n,
  KIB: 1n,
  M: 1024n,
  MIB: 1024n,
  G: 1024n ** 2n,
  GIB: 1024n ** 2n,
  T: 1024n ** 3n,
  TIB: 1024n ** 3n,
  P: 1024n ** 4n,
  PIB: 1024n ** 4n,
};

/**
 * Parses a size given in KiB (`10485760`) or with a binary unit (`10GiB`, `10G`, `512 MiB`) into KiB.
 * Decimal units (MB, GB) are refused rather than rounded: a size must never silently change.
 * @throws ApiError INVALID_SIZE naming `field`.
 */
export function parseKiB(input: string | number | bigint, field: string): KiB {
  const fail = (why: string): never => {
    throw ApiError.invalid(
      ErrorCode.INVALID_SIZE,
      field,
      `'${String(input)}' is not a valid size: ${why}.`,
      "Give a whole number of KiB (e.g. \"1048576\") or a whole number with a binary unit (e.g. \"1GiB\", \"512MiB\", \"2TiB\").",
    );
  };
  let kib: bigint;
  if (typeof input === 'bigint') {
    kib = input;
  } else if (typeof input === 'number') {
    if (!Number.isSafeInteger(input)) fail('not a whole number within 2^53 (pass larger sizes as strings)');
    kib = BigInt(input);
  } else {
    const m = /^\s*(\d+)\s*([A-Za-z]*)\s*$/.exec(input);
    if (!m) return fail('expected digits, optionally followed by a unit');
    const unit = UNITS[m[2]!.toUpperCase()];
    if (unit === undefined) return fail(`unknown unit '${m[2]}' (use KiB, MiB, GiB, TiB or PiB)`);
    kib = BigInt(m[1]!) * unit;
  }
  if (kib < 0n) fail('sizes cannot be negative');
  if (kib > MAX_KIB) fail(`larger than the maximum of ${MAX_KIB} KiB`);
  return kib;
}

/** Formats KiB for humans, e.g. 10737418240n -> "10 TiB". Exact units only; otherwise plain KiB. */
export function formatKiB(kib: KiB): string {
  for (const [unit, factor] of [
    ['PiB', 1024n ** 4n],
    ['TiB', 1024n ** 3n],
    ['GiB', 1024n ** 2n],
    ['MiB', 1024n],
  ] as const) {
    if (kib >= factor && kib % factor === 0n) return `${kib / factor} ${unit}`;
  }
  return `${kib} KiB`;
}
