import { describe, expect, it } from '@jest/globals';
import { ApiError, ErrorCode } from '../../../src/common/api-rc.js';
import { formatKiB, MAX_KIB, parseKiB } from '../../../src/common/sizes.js';

/** Runs `fn` and returns the ApiError it throws; fails when it throws nothing or something else. */
function apiError(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('expected an ApiError, but nothing was thrown');
}

const MiB = 1024n;
const GiB = 1024n ** 2n;
const TiB = 1024n ** 3n;
const PiB = 1024n ** 4n;

describe('parseKiB', () => {
  describe('plain KiB', () => {
    it.each([
      ['0', 0n],
      ['1', 1n],
      ['1048576', 1048576n],
      ['007', 7n],
      ['  4096  ', 4096n],
    ])('parses the string %j as %p KiB', (input, kib) => {
      expect(parseKiB(input, 'input.size')).toBe(kib);
    });

    it.each([
      [0, 0n],
      [1, 1n],
      [1048576, 1048576n],
      [Number.MAX_SAFE_INTEGER, 9007199254740991n],
    ])('parses the number %p as %p KiB', (input, kib) => {
      expect(parseKiB(input, 'input.size')).toBe(kib);
    });

    it('passes a bigint through', () => {
      expect(parseKiB(10737418240n, 'input.size')).toBe(10737418240n);
    });

    it('always returns a bigint', () => {
      expect(typeof parseKiB('1', 'f')).toBe('bigint');
      expect(typeof parseKiB(1, 'f')).toBe('bigint');
    });
  });

  describe('binary units', () => {
    it.each([
      ['1K', 1n],
      ['1KiB', 1n],
      ['512MiB', 512n * MiB],
      ['512 MiB', 512n * MiB],
      ['512M', 512n * MiB],
      ['10GiB', 10n * GiB],
      ['10G', 10n * GiB],
      ['2TiB', 2n * TiB],
      ['2T', 2n * TiB],
      ['3PiB', 3n * PiB],
      ['3P', 3n * PiB],
      [' 1 GiB ', GiB],
    ])('parses %j', (input, kib) => {
      expect(parseKiB(input, 'input.size')).toBe(kib);
    });

    it.each([
      ['10gib', 10n * GiB],
      ['10GIB', 10n * GiB],
      ['10gIb', 10n * GiB],
      ['10g', 10n * GiB],
      ['4kib', 4n],
      ['4k', 4n],
      ['5mib', 5n * MiB],
      ['5m', 5n * MiB],
      ['6tib', 6n * TiB],
      ['6t', 6n * TiB],
      ['7pib', 7n * PiB],
      ['7p', 7n * PiB],
    ])('reads units case-insensitively: %j', (input, kib) => {
      expect(parseKiB(input, 'input.size')).toBe(kib);
    });
  });

  describe('large values stay exact', () => {
    it('above 2^31 KiB', () => {
      expect(parseKiB('2147483649', 'f')).toBe(2n ** 31n + 1n);
      expect(parseKiB('4TiB', 'f')).toBe(4n * 2n ** 30n);
      expect(parseKiB('4TiB', 'f') > 2n ** 31n).toBe(true);
    });

    it('above 2^53 KiB, where a number would round', () => {
      expect(parseKiB('9007199254740993', 'f')).toBe(2n ** 53n + 1n);
      expect(parseKiB('18014398509481985', 'f')).toBe(2n ** 54n + 1n);
      expect(parseKiB('8193PiB', 'f')).toBe(8193n * 2n ** 40n);
      expect(parseKiB('8193PiB', 'f') > 2n ** 53n).toBe(true);
    });

    it('up to the PostgreSQL bigint maximum, and not beyond', () => {
      expect(MAX_KIB).toBe(9223372036854775807n);
      expect(parseKiB('9223372036854775807', 'f')).toBe(MAX_KIB);
      expect(parseKiB(MAX_KIB, 'f')).toBe(MAX_KIB);
      expect(parseKiB('8388607PiB', 'f')).toBe(8388607n * PiB);
      for (const input of ['9223372036854775808', '8388608PiB', MAX_KIB + 1n, '99999999999999999999999999']) {
        const error = apiError(() => parseKiB(input, 'input.size'));
        expect(error).toMatchObject({ code: ErrorCode.INVALID_SIZE, field: 'input.size' });
        expect(error.message).toContain('larger than the maximum of 9223372036854775807 KiB');
      }
    });
  });

  describe('refusals', () => {
    it.each(['10GB', '10MB', '10KB', '10TB', '10PB', '10gb', '1B', '10GiBs', '10Ki', '10X'])(
      'refuses the decimal or unknown unit in %j with INVALID_SIZE',
      (input) => {
        const error = apiError(() => parseKiB(input, 'input.volumeDefinitions[0].size'));
        expect(error).toMatchObject({ code: ErrorCode.INVALID_SIZE, field: 'input.volumeDefinitions[0].size' });
        expect(error.message).toMatch(new RegExp(`^'${input}' is not a valid size: unknown unit`));
        expect(error.correction).toContain('binary unit');
      },
    );

    it('names the allowed units when it refuses a decimal unit', () => {
      expect(apiError(() => parseKiB('10GB', 'f')).message).toBe(
        "'10GB' is not a valid size: unknown unit 'GB' (use KiB, MiB, GiB, TiB or PiB).",
      );
    });

    it.each(['-1', '-10GiB', '1.5GiB', '1.5', '1,5', '1e6', '0x10', '', '   ', 'GiB', 'ten', '10 G iB', '1 000', '+5'])(
      'refuses the string %j with INVALID_SIZE',
      (input) => {
        expect(apiError(() => parseKiB(input, 'input.size'))).toMatchObject({ code: ErrorCode.INVALID_SIZE, field: 'input.size' });
      },
    );

    it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1, 2 ** 60])(
      'refuses the number %p with INVALID_SIZE',
      (input) => {
        expect(apiError(() => parseKiB(input, 'input.size'))).toMatchObject({ code: ErrorCode.INVALID_SIZE, field: 'input.size' });
      },
    );

    it('refuses negative sizes, whatever their type', () => {
      for (const input of [-1, -1n, '-1']) {
        expect(apiError(() => parseKiB(input, 'f')).code).toBe(ErrorCode.INVALID_SIZE);
      }
      expect(apiError(() => parseKiB(-5n, 'f')).message).toBe("'-5' is not a valid size: sizes cannot be negative.");
    });

    it('tells the user to pass sizes beyond 2^53 as strings', () => {
      expect(apiError(() => parseKiB(2 ** 53, 'f')).message).toContain('pass larger sizes as strings');
    });

    it('gives a correction with examples', () => {
      expect(apiError(() => parseKiB('abc', 'f')).correction).toBe(
        'Give a whole number of KiB (e.g. "1048576") or a whole number with a binary unit (e.g. "1GiB", "512MiB", "2TiB").',
      );
    });
  });
});

describe('formatKiB', () => {
  it.each([
    [0n, '0 KiB'],
    [1n, '1 KiB'],
    [1023n, '1023 KiB'],
    [1536n, '1536 KiB'],
    [1024n, '1 MiB'],
    [512n * MiB, '512 MiB'],
    [1025n * MiB, '1025 MiB'],
    [GiB, '1 GiB'],
    [10n * GiB, '10 GiB'],
    [GiB + MiB, '1025 MiB'],
    [10737418240n, '10 TiB'],
    [PiB, '1 PiB'],
    [2048n * PiB, '2048 PiB'],
    [PiB + 1n, '1099511627777 KiB'],
    [MAX_KIB, '9223372036854775807 KiB'],
  ])('formats %p as %j', (kib, text) => {
    expect(formatKiB(kib)).toBe(text);
  });

  it.each([0n, 1n, 1536n, 512n * MiB, 10n * GiB, 3n * TiB, 7n * PiB, 2n ** 53n + 1n, MAX_KIB])(
    'formats %p so that parseKiB reads it back exactly',
    (kib) => {
      expect(parseKiB(formatKiB(kib), 'f')).toBe(kib);
    },
  );
});
