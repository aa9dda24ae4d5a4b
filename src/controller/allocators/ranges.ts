import { ApiError, ErrorCode } from '../../common/api-rc.js';
import type { Props } from '../../common/props/keys.js';

/** An inclusive number range, e.g. DRBD TCP ports 7000-7999. */
export interface NumberRange {
  low: number;
  high: number;
  /** The property that set it, or 'default'. */
  source: string;
}

export const DEFAULT_TCP_PORT_RANGE = { low: 7000, high: 7999 };
export const DEFAULT_MINOR_RANGE = { low: 1000, high: 49999 };
/** DRBD 9 node ids of one resource: 0-31. */
export const NODE_ID_RANGE = { low: 0, high: 31 };

/**
 * Reads a range property (`TcpPortAutoRange`, `MinorNrAutoRange`) from the first layer that sets it (e.g. node, then
 * controller), else the default. The value was validated when it was set.
 */
export function rangeFrom(key: string, layers: readonly { name: string; props: Props }[], fallback: { low: number; high: number }): NumberRange {
  for (const layer of layers) {
    const m = /^(\d+)-(\d+)$/.exec(layer.props[key] ?? '');
    if (m) return { low: Number(m[1]), high: Number(m[2]), source: `${key} on ${layer.name}` };
  }
  return { ...fallback, source: 'default' };
}

/** Smallest number of `range` not in `used`. Pure. */
export function lowestFree(range: { low: number; high: number }, used: Iterable<number>): number | null {
  const taken = used instanceof Set ? (used as ReadonlySet<number>) : new Set(used);
  for (let n = range.low; n <= range.high; n++) if (!taken.has(n)) return n;
  return null;
}

/**
 * The free numbers of a range as ascending, disjoint intervals, handed out lowest first: the same numbers as
 * `lowestFree` over the used ones, without a set of every used number nor a walk over it per number (a cluster with
 * 20,000 volumes uses 20,000 minors). Built from the gaps between used numbers (freeIntervals in drbd.ts).
 */
export class FreeNumbers {
  private readonly intervals: { lo: number; hi: number }[];
  private next = 0;

  /** `gaps`: free intervals, ascending and disjoint, in any bounds; only their parts inside `range` count. */
  constructor(range: { low: number; high: number }, gaps: readonly { lo: number; hi: number }[]) {
    this.intervals = gaps
      .map((g) => ({ lo: Math.max(g.lo, range.low), hi: Math.min(g.hi, range.high) }))
      .filter((g) => g.lo <= g.hi);
  }

  /** How many numbers are left. */
  get available(): number {
    let n = 0;
    for (let i = this.next; i < this.intervals.length; i++) n += this.intervals[i]!.hi - this.intervals[i]!.lo + 1;
    return n;
  }

  /** The lowest free number (now taken), or null when none is left. */
  take(): number | null {
    const interval = this.intervals[this.next];
    if (!interval) return null;
    const n = interval.lo++;
    if (interval.lo > interval.hi) this.next++;
    return n;
  }
}

/**
 * Refusal for a range with no free number: names the range, what exhausted it, and the setting that widens it.
 */
export function exhausted(what: string, range: NumberRange, widenWith: string): ApiError {
  return new ApiError({
    code: ErrorCode.RANGE_EXHAUSTED,
    message: `No free ${what} is left in ${range.low}-${range.high} (${range.source}).`,
    correction: widenWith,
    details: { low: range.low, high: range.high, source: range.source },
  });
}
