import { describe, expect, it } from '@jest/globals';
import {
  isDatasetMissing,
  isSparseZvol,
  parseZfsPoolList,
  parseZfsVolumeList,
  ZfsOutputError,
} from '../../../../../../src/satellite/layers/storage/zfs/parse.js';
import { fixture, zfsLines } from './zfs-output.js';

/*
 * The zfs-*.txt fixtures are DOCUMENTATION-FORMAT SAMPLES, not captured output: this machine has no ZFS module and
 * zfsutils-linux cannot be installed here. They follow zfs-list(8): -H prints no header and separates fields by one
 * tab, -p prints exact byte counts, an unset user property prints "-" (see test/fixtures/commands/zfs-fixtures.md).
 */

describe('parseZfsVolumeList on documentation-format samples', () => {
  it('reads every zvol line with exact sizes and the marker property', () => {
    const zvols = parseZfsVolumeList(fixture('zfs-list-volumes.txt'));
    expect(zvols[0]).toEqual({
      name: 'tank/pvc-1_00000',
      volsizeBytes: 1073741824n,
      usedBytes: 1107820544n,
      referBytes: 57344n,
      refreservationBytes: 1107820544n,
      managed: 'yes',
    });
    expect(zvols.map((z) => [z.name, z.managed, isSparseZvol(z)])).toEqual([
      ['tank/pvc-1_00000', 'yes', false],
      ['tank/pvc-2_00000', 'yes', true],
      ['tank/pvc-3_00000', 'yes', true],
      ['tank/legacy-vm', null, false],
      ['tank/scratch', 'no', true],
      ['tank/nested/pvc-4_00000', 'yes', false],
    ]);
  });

  it('reads empty output (no zvols) as an empty list', () => {
    expect(parseZfsVolumeList('')).toEqual([]);
  });

  it('keeps spaces inside a value, since only tabs separate columns', () => {
    const [zvol] = parseZfsVolumeList(zfsLines(['tank/a_00000', 16384n, 16384n, 16384n, 0n, 'yes please']));
    expect(zvol?.managed).toBe('yes please');
  });

  it('accepts "none" for an unset refreservation', () => {
    expect(parseZfsVolumeList(zfsLines(['tank/a_00000', 16384n, 16384n, 16384n, 'none', 'yes']))[0]?.refreservationBytes).toBe(0n);
  });
});

describe('parseZfsPoolList on a documentation-format sample', () => {
  it('reads used and available bytes', () => {
    expect(parseZfsPoolList(fixture('zfs-list-pool.txt'))).toEqual([{ name: 'tank', usedBytes: 3299172352n, availableBytes: 100318183424n }]);
  });
});

describe('isDatasetMissing', () => {
  it("recognises libzfs' message for exactly that dataset", () => {
    const stderr = fixture('zfs-missing-pool.stderr.txt');
    expect(isDatasetMissing(stderr, 'tank')).toBe(true);
    expect(isDatasetMissing(stderr, 'tank2')).toBe(false);
    expect(isDatasetMissing("cannot open 'tank': permission denied\n", 'tank')).toBe(false);
  });
});

describe('malformed zfs output gives a clear ZfsOutputError, not a crash', () => {
  it('refuses the human-readable table (no -H: header, spaces, rounded sizes)', () => {
    const table = 'NAME                USED  AVAIL     REFER  MOUNTPOINT\ntank/pvc-1_00000   1.03G  93.4G     56K  -\n';
    expect(() => parseZfsVolumeList(table)).toThrow(ZfsOutputError);
    expect(() => parseZfsVolumeList(table)).toThrow(
      "Cannot read the output of zfs list (volumes): expected 6 tab-separated columns, found 1 (were -H and -o given?) in line 'NAME                USED  AVAIL     REFER  MOUNTPOINT'",
    );
  });

  it('refuses rounded numbers (no -p), naming the column', () => {
    expect(() => parseZfsPoolList('tank\t3.07G\t93.4G\n')).toThrow(
      "Cannot read the output of zfs list (pool): used is '3.07G', not a byte count (was -p given?) in line 'tank\t3.07G\t93.4G'",
    );
    expect(() => parseZfsVolumeList(zfsLines(['tank/a_00000', '1G', 1n, 1n, 0n, 'yes']))).toThrow("volsize is '1G'");
  });

  it('refuses an empty dataset name and a missing column', () => {
    expect(() => parseZfsPoolList('\t1\t2\n')).toThrow('empty dataset name');
    expect(() => parseZfsPoolList('tank\t1\n')).toThrow('expected 3 tab-separated columns, found 2');
  });
});
