import { describe, expect, it } from '@jest/globals';
import { LvmOutputError, parseLvsReport, type LvRecord } from '../../../../../../src/satellite/layers/storage/lvm/parse.js';
import {
  isThinPool,
  isThinVolume,
  thinPoolCapacity,
  thinVolumeAllocatedKib,
} from '../../../../../../src/satellite/layers/storage/lvm-thin/parse.js';
import { fixture, lvmJson, reportRows } from '../lvm/lvm-report.js';

/*
 * lvs-thin-pool.json is HAND-ASSEMBLED, not captured: lvm2 cannot create thin pools on this machine (no
 * device-mapper: "Can't create thin-pool without using device-mapper kernel driver"). It follows exactly the lvm2
 * 2.03.16 JSON report format of the captured lvs-thick.json (same fields, layout and string values; the renderer test
 * below proves the layout), with realistic values; see test/fixtures/commands/lvm-fixtures.md.
 */

const rows = parseLvsReport(fixture('lvs-thin-pool.json'));
const lv = (name: string): LvRecord => {
  const found = rows.find((r) => r.name === name);
  if (!found) throw new Error(`fixture has no LV ${name}`);
  return found;
};
const GiB = 1024n * 1024n;

describe('thin pool fixture', () => {
  it('is in lvm2\'s exact JSON layout', () => {
    const text = fixture('lvs-thin-pool.json');
    expect(lvmJson('lv', reportRows(text, 'lv'))).toBe(text);
  });

  it('parses thin pools and thin volumes with their percentages', () => {
    expect(lv('thinpool')).toEqual({
      name: 'thinpool',
      vg: 'vgthin',
      sizeBytes: 10n * GiB * 1024n,
      tags: [],
      attr: 'twi-aotz--',
      poolLv: '',
      dataPercent: { numerator: 2554n, denominator: 100n },
      metadataPercent: { numerator: 1182n, denominator: 100n },
    });
    expect(lv('pvc-9_00000').dataPercent).toBeNull();
  });
});

describe('thin LV types from lv_attr', () => {
  it('tells thin pools, thin volumes and thick LVs apart', () => {
    expect(rows.filter(isThinPool).map((r) => r.name)).toEqual(['otherpool', 'thinpool']);
    expect(rows.filter(isThinVolume).map((r) => r.name)).toEqual(['pvc-7_00000', 'pvc-8_00000', 'pvc-9_00000', 'pvc-5_00000', 'scratch']);
  });
});

describe('thinPoolCapacity: total = lv_size, free = lv_size x (100 - data_percent) / 100', () => {
  it('computes the 10 GiB pool at 25.54 % used', () => {
    // 10737418240 B x 74.46 % = 7995081621.504 B = 7807696.896 KiB, rounded down.
    expect(thinPoolCapacity(lv('thinpool'))).toEqual({ totalKib: 10n * GiB, freeKib: 7807696n });
  });

  it('computes the 1 GiB pool at 5 % used', () => {
    // 1048576 KiB x 95 % = 996147.2 KiB
    expect(thinPoolCapacity(lv('otherpool'))).toEqual({ totalKib: GiB, freeKib: 996147n });
  });

  it('rounds free space down, never up, and reports 0 free for a full pool', () => {
    const pool = lv('thinpool');
    expect(thinPoolCapacity({ ...pool, sizeBytes: 1025n, dataPercent: { numerator: 0n, denominator: 100n } })).toEqual({ totalKib: 1n, freeKib: 1n });
    expect(thinPoolCapacity({ ...pool, sizeBytes: 2047n, dataPercent: { numerator: 5001n, denominator: 100n } }).freeKib).toBe(0n);
    expect(thinPoolCapacity({ ...pool, dataPercent: { numerator: 10000n, denominator: 100n } }).freeKib).toBe(0n);
  });

  it('refuses an inactive pool, whose data_percent lvm2 leaves empty, with the command that fixes it', () => {
    const inactive = parseLvsReport(fixture('lvs-thin-pool-inactive.json'))[0]!;
    expect(() => thinPoolCapacity(inactive)).toThrow(
      "lvm2 reports no data usage for thin pool vgthin/thinpool (lv_attr 'twi---tz--'); activate it with lvchange -ay vgthin/thinpool",
    );
  });

  it('refuses an LV that is not a thin pool', () => {
    expect(() => thinPoolCapacity(lv('pvc-6_00000'))).toThrow("vgthin/pvc-6_00000 is not a thin pool (lv_attr '-wi-a-----')");
  });
});

describe('thinVolumeAllocatedKib: lv_size x data_percent / 100', () => {
  it('measures written data of thin volumes', () => {
    // 4194304 KiB x 52.18 % = 2188587.8272 KiB
    expect(thinVolumeAllocatedKib(lv('pvc-7_00000'))).toBe(2188587n);
    expect(thinVolumeAllocatedKib(lv('pvc-8_00000'))).toBe(0n);
  });

  it('counts an inactive thin volume (empty data_percent) as 0', () => {
    expect(thinVolumeAllocatedKib(lv('pvc-9_00000'))).toBe(0n);
  });
});

describe('malformed thin output', () => {
  it('a data_percent in another locale is refused with a clear error', () => {
    const row = reportRows(fixture('lvs-thin-pool.json'), 'lv').find((r) => r.lv_name === 'thinpool')!;
    expect(() => parseLvsReport(lvmJson('lv', [{ ...row, data_percent: '25,54' }]))).toThrow(LvmOutputError);
    expect(() => parseLvsReport(lvmJson('lv', [{ ...row, data_percent: '25,54' }]))).toThrow("data_percent '25,54' is not a percentage");
  });
});
