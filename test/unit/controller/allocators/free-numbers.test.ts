import { describe, expect, it } from '@jest/globals';
import { FreeNumbers, lowestFree } from '../../../../src/controller/allocators/ranges.js';

/** The gaps between used numbers as the allocators' SQL computes them: from `floor` (a sentinel below everything) up to `ceiling`. */
function gapsOf(used: readonly number[], floor: number, ceiling: number): { lo: number; hi: number }[] {
  const sorted = [floor, ...[...new Set(used)].sort((a, b) => a - b)];
  return sorted.map((m, i) => ({ lo: m + 1, hi: i + 1 < sorted.length ? sorted[i + 1]! - 1 : ceiling })).filter((g) => g.lo <= g.hi);
}

describe('FreeNumbers', () => {
  it('hands out exactly what lowestFree would, number after number, for random used sets and ranges', () => {
    let seed = 7;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let round = 0; round < 200; round++) {
      const range = { low: 100 + random(50), high: 200 + random(100) };
      const used = Array.from({ length: random(150) }, () => 50 + random(300));
      const free = new FreeNumbers(range, gapsOf(used, 0, 65535));
      const taken = new Set(used);
      for (;;) {
        const expected = lowestFree(range, taken);
        const got = free.take();
        expect(got).toBe(expected);
        if (got === null) break;
        taken.add(got);
      }
      expect(free.available).toBe(0);
    }
  });

  it('counts what is left, clips gaps to the range, and says null once the range is used up', () => {
    const free = new FreeNumbers({ low: 10, high: 15 }, [
      { lo: 1, hi: 11 },
      { lo: 13, hi: 13 },
      { lo: 15, hi: 99 },
    ]);
    expect(free.available).toBe(4);
    expect([free.take(), free.take(), free.take()]).toEqual([10, 11, 13]);
    expect(free.available).toBe(1);
    expect(free.take()).toBe(15);
    expect(free.take()).toBeNull();
    expect(new FreeNumbers({ low: 1, high: 5 }, []).take()).toBeNull();
  });
});
