import { describe, expect, it } from '@jest/globals';
import {
  bytesToKib,
  isVolumeGroupNotFound,
  LvmOutputError,
  parseLvsReport,
  parsePercent,
  parseVgsReport,
  percentOfBytesInKib,
} from '../../../../../../src/satellite/layers/storage/lvm/parse.js';
import { fixture, lvmJson, reportRows } from './lvm-report.js';

/*
 * lvs-*.json / vgs-*.json are real lvm2 2.03.16 output captured on this project's machine by
 * test/fixtures/commands/lvm-capture.sh (see lvm-fixtures.md there). The host has no device-mapper: lvm2 printed
 * device-mapper warnings on stderr (lvs-thick.stderr.txt) and still exited 0, which the parser must not mind since
 * it only reads stdout.
 */

function outputError(fn: () => unknown): LvmOutputError {
  try {
    fn();
  } catch (error) {
    if (error instanceof LvmOutputError) return error;
    throw error;
  }
  throw new Error('expected an LvmOutputError, but nothing was thrown');
}

describe('parseLvsReport on captured lvm2 output', () => {
  it('reads every LV with exact byte sizes, tag lists and empty percentages of thick LVs', () => {
    expect(parseLvsReport(fixture('lvs-thick.json'))).toEqual([
      { name: 'home', vg: 'bpfixture', sizeBytes: 8388608n, tags: [], attr: '-wi-XX----', poolLv: '', dataPercent: null, metadataPercent: null },
      {
        name: 'pvc-1_00000',
        vg: 'bpfixture',
        sizeBytes: 104857600n,
        tags: ['blockplane'],
        attr: '-wi-XX----',
        poolLv: '',
        dataPercent: null,
        metadataPercent: null,
      },
      {
        name: 'pvc-1_00001',
        vg: 'bpfixture',
        sizeBytes: 12582912n,
        tags: ['backup', 'blockplane'],
        attr: '-wi-XX----',
        poolLv: '',
        dataPercent: null,
        metadataPercent: null,
      },
    ]);
  });

  it('reads the report of an empty VG as no LVs', () => {
    expect(parseLvsReport(fixture('lvs-empty.json'))).toEqual([]);
  });

  it('the tests\' lvm2 JSON renderer reproduces the captured fixtures byte for byte', () => {
    for (const name of ['lvs-thick.json', 'lvs-empty.json']) {
      const text = fixture(name);
      expect(lvmJson('lv', reportRows(text, 'lv'))).toBe(text);
    }
    expect(lvmJson('vg', reportRows(fixture('vgs-thick.json'), 'vg'))).toBe(fixture('vgs-thick.json'));
  });

  it('concatenates several report objects and ignores keys beside "report" (lvm2 log reporting)', () => {
    const stdout = JSON.stringify({
      report: [{ lv: [{ ...reportRows(fixture('lvs-thick.json'), 'lv')[0] }] }, { lv: [] }],
      log: [{ log_seq_num: '1', log_type: 'status', log_context: 'processing' }],
    });
    expect(parseLvsReport(stdout).map((lv) => lv.name)).toEqual(['home']);
  });
});

describe('parseVgsReport on captured lvm2 output', () => {
  it('reads size and free space in bytes', () => {
    expect(parseVgsReport(fixture('vgs-thick.json'))).toEqual([{ name: 'bpfixture', sizeBytes: 310378496n, freeBytes: 184549376n }]);
  });

  it('reads the empty report lvm2 prints for a missing VG', () => {
    expect(parseVgsReport(fixture('vgs-missing.json'))).toEqual([]);
  });
});

describe('isVolumeGroupNotFound', () => {
  const stderr = fixture('vgs-missing.stderr.txt');

  it('recognises the captured message for exactly that VG', () => {
    expect(isVolumeGroupNotFound(stderr, 'bpfixture_missing')).toBe(true);
    expect(isVolumeGroupNotFound(stderr, 'bpfixture')).toBe(false);
  });

  it('does not take the device-mapper warnings of a host without device-mapper for a missing VG', () => {
    expect(isVolumeGroupNotFound(fixture('lvs-thick.stderr.txt'), 'bpfixture')).toBe(false);
  });
});

describe('percentages and sizes', () => {
  it('parses lvm2 percentages exactly', () => {
    expect(parsePercent('25.54')).toEqual({ numerator: 2554n, denominator: 100n });
    expect(parsePercent('0.00')).toEqual({ numerator: 0n, denominator: 100n });
    expect(parsePercent('100')).toEqual({ numerator: 100n, denominator: 1n });
    expect(parsePercent('')).toBeNull();
    expect(() => parsePercent('12%')).toThrow("'12%' is not a percentage");
  });

  it('converts bytes to KiB rounding down, and percentages of bytes in one exact division', () => {
    expect(bytesToKib(1023n)).toBe(0n);
    expect(bytesToKib(104857600n)).toBe(102400n);
    // 25.54 % of 10 GiB = 2678063.104 KiB
    expect(percentOfBytesInKib(10737418240n, { numerator: 2554n, denominator: 100n })).toBe(2678063n);
    expect(percentOfBytesInKib(2n ** 60n, { numerator: 1n, denominator: 1n })).toBe(2n ** 60n / 100n / 1024n);
  });
});

describe('malformed lvm2 output gives a clear LvmOutputError, not a crash', () => {
  const row = reportRows(fixture('lvs-thick.json'), 'lv')[1]!;

  it('refuses output that is not JSON (e.g. the default column format)', () => {
    const error = outputError(() => parseLvsReport('  LV   VG   Attr\n  home bpfixture -wi-XX----\n'));
    expect(error.message).toMatch(/^Cannot read the output of lvs: not a JSON report .*was --reportformat json given\?/);
    expect(error.message).toContain("output: 'LV VG Attr home bpfixture -wi-XX----'");
  });

  it('refuses JSON without the report structure', () => {
    expect(outputError(() => parseLvsReport('{}')).message).toContain('no "report" array');
    expect(outputError(() => parseVgsReport('{"report":[{"lv":[]}]}')).message).toContain('a report without a "vg" array');
    expect(outputError(() => parseLvsReport('{"report":[{"lv":["x"]}]}')).message).toContain('not an object');
    expect(outputError(() => parseLvsReport('')).message).toContain('output: empty');
  });

  it('refuses sizes that are not byte counts, naming the field and the options', () => {
    const error = outputError(() => parseLvsReport(lvmJson('lv', [{ ...row, lv_size: '<100.00m' }])));
    expect(error.message).toContain(`row 0: "lv_size" is '<100.00m', not a byte count (were --units b --nosuffix given?)`);
  });

  it('refuses a missing column and an empty name', () => {
    const { lv_tags: _dropped, ...withoutTags } = row;
    expect(outputError(() => parseLvsReport(lvmJson('lv', [withoutTags]))).message).toContain('row 0 has no string field "lv_tags"');
    expect(outputError(() => parseLvsReport(lvmJson('lv', [{ ...row, lv_name: '' }]))).message).toContain('row 0 has an empty "lv_name"');
    expect(outputError(() => parseVgsReport('{"report":[{"vg":[{"vg_name":"x","vg_size":"1"}]}]}')).message).toContain(
      'no string field "vg_free"',
    );
  });

  it('refuses a percentage lvm2 would never print', () => {
    const error = outputError(() => parseLvsReport(lvmJson('lv', [{ ...row, data_percent: '12,5' }])));
    expect(error.message).toContain("row 0: data_percent '12,5' is not a percentage");
  });
});
