import { describe, expect, it } from '@jest/globals';
import { compareNames, formatScore, humanKiB, nameList } from '../../../../src/controller/autoplacer/format.js';
import { GiB, MiB, TiB } from './cluster.js';

describe('autoplacer text helpers', () => {
  it.each([
    [0n, '0 KiB'],
    [512n, '512 KiB'],
    [1n * MiB, '1 MiB'],
    [10n * GiB, '10 GiB'],
    [10_240_000n, '9.76 GiB'],
    [1n * TiB + 512n * GiB, '1.5 TiB'],
    [-20n * GiB, '-20 GiB'],
  ])('humanKiB(%p) = %p', (kib, text) => {
    expect(humanKiB(kib)).toBe(text);
  });

  it.each([
    [1, '1'],
    [0.7777777, '0.777778'],
    [-0.00001, '-0.00001'],
    [-0.0000001, '0'],
    [100, '100'],
  ])('formatScore(%p) = %p', (score, text) => {
    expect(formatScore(score)).toBe(text);
  });

  it('lists names with a limit', () => {
    expect(nameList(['a', 'b'])).toBe('a, b');
    expect(nameList(['a', 'b', 'c', 'd'], 2)).toBe('a, b and 2 more');
  });

  it('orders names case-insensitively and locale-independently', () => {
    expect(['b', 'A', 'a', 'C', '_x'].sort(compareNames)).toEqual(['A', 'a', 'b', 'C', '_x']);
  });
});
