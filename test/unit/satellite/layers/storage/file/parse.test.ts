import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDfSizeAvail, parseLosetupAttach, parseLosetupList, parseSysfsSectors } from '../../../../../../src/satellite/layers/storage/file/parse.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../../fixtures/commands');
const fixture = (name: string): string => readFileSync(path.join(FIXTURES, name), 'utf8');

describe('parseLosetupList', () => {
  it('reads real `losetup --json --list --output NAME,BACK-FILE,OFFSET,SIZELIMIT` output (util-linux 2.38.1)', () => {
    // Captured with: a file with a space in its name, a path longer than the 64 characters of lo_file_name, a file
    // unlinked while attached, the same file attached twice (once with offset/sizelimit), and another user's device.
    expect(parseLosetupList(fixture('losetup-list.json'))).toEqual([
      { device: '/dev/loop1', backFile: '/tmp/lt/b c.img', backFileDeleted: false, offset: 0n, sizeLimit: 0n },
      {
        device: '/dev/loop4',
        backFile: '/tmp/lt/a-very-long-directory-name-to-exceed-sixty-four-characters-of-lo_file_name/pvc-1_00000.img',
        backFileDeleted: false,
        offset: 0n,
        sizeLimit: 0n,
      },
      { device: '/dev/loop2', backFile: '/tmp/lt/gone.img', backFileDeleted: true, offset: 0n, sizeLimit: 0n },
      { device: '/dev/loop0', backFile: '/tmp/lt/a.img', backFileDeleted: false, offset: 0n, sizeLimit: 0n },
      { device: '/dev/loop5', backFile: '/tmp/lt/a.img', backFileDeleted: false, offset: 4096n, sizeLimit: 8192n },
      { device: '/dev/loop3', backFile: '/tmp/lvmexp/pv.img', backFileDeleted: false, offset: 0n, sizeLimit: 0n },
    ]);
  });

  it("reads losetup's default column set the same way (captured at the same moment; extra columns are ignored)", () => {
    expect(parseLosetupList(fixture('losetup-list-default-columns.json'))).toEqual(parseLosetupList(fixture('losetup-list.json')));
  });

  it('reads the real empty list, and empty output (printed by some util-linux versions) as no devices', () => {
    expect(parseLosetupList(fixture('losetup-list-empty.json'))).toEqual([]);
    expect(parseLosetupList('')).toEqual([]);
    expect(parseLosetupList('\n')).toEqual([]);
  });

  it('accepts numbers written as strings (util-linux before 2.34) and missing offset/sizelimit columns', () => {
    const older = '{"loopdevices": [{"name": "/dev/loop9", "sizelimit": "0", "offset": "512", "back-file": "/x/r_00000.img"}]}';
    expect(parseLosetupList(older)).toEqual([{ device: '/dev/loop9', backFile: '/x/r_00000.img', backFileDeleted: false, offset: 512n, sizeLimit: 0n }]);
    expect(parseLosetupList('{"loopdevices": [{"name": "/dev/loop9", "back-file": "/x/a.img"}]}')[0]).toMatchObject({ offset: 0n, sizeLimit: 0n });
  });

  it('keeps a device without a backing file name, so it can never match a volume', () => {
    expect(parseLosetupList('{"loopdevices": [{"name": "/dev/loop9", "back-file": null}]}')).toEqual([
      { device: '/dev/loop9', backFile: null, backFileDeleted: false, offset: 0n, sizeLimit: 0n },
    ]);
  });

  it.each([
    ['truncated JSON', fixture('losetup-list.json').slice(0, 200), /not JSON/],
    ['the plain table instead of JSON', 'NAME       SIZELIMIT OFFSET AUTOCLEAR RO BACK-FILE\n/dev/loop0 0 0 0 0 /tmp/a.img\n', /not JSON/],
    ['another top-level key', '{"blockdevices": []}', /no "loopdevices" array/],
    ['a JSON array', '[]', /no "loopdevices" array/],
    ['an entry that is not an object', '{"loopdevices": ["/dev/loop0"]}', /loopdevices\[0\] is not an object/],
    ['a device that is not a loop device', '{"loopdevices": [{"name": "/dev/sda"}]}', /loopdevices\[0\]\.name is not a loop device path/],
    ['a numeric back-file', '{"loopdevices": [{"name": "/dev/loop0", "back-file": 7}]}', /back-file is not a string/],
    ['a negative offset', '{"loopdevices": [{"name": "/dev/loop0", "offset": -1}]}', /offset is not a byte count/],
    ['a fractional sizelimit', '{"loopdevices": [{"name": "/dev/loop0", "sizelimit": "1.5"}]}', /sizelimit is not a byte count/],
  ])('refuses %s with a message quoting the output', (_case, input, why) => {
    expect(() => parseLosetupList(input)).toThrow(why);
    expect(() => parseLosetupList(input)).toThrow(/^Unexpected output from losetup --json --list: .*Output was: "/);
  });
});

describe('parseLosetupAttach', () => {
  it('reads the device losetup --find --show printed', () => {
    expect(parseLosetupAttach('/dev/loop0\n')).toBe('/dev/loop0');
    expect(parseLosetupAttach('/dev/loop123')).toBe('/dev/loop123');
  });

  it.each([[''], ['\n'], ['/dev/loop0\n/dev/loop1\n'], ['loop0'], ['/dev/sda\n']])('refuses %j', (input) => {
    expect(() => parseLosetupAttach(input)).toThrow(/losetup --find --show: expected one \/dev\/loopN path/);
  });
});

describe('parseSysfsSectors', () => {
  it('converts 512-byte sectors to bytes, as /sys/class/block/loopN/size reports them', () => {
    // 20480 is what this machine reported for a 10 MiB file attached to /dev/loop0 (blockdev --getsize64: 10485760).
    expect(parseSysfsSectors('20480\n')).toBe(10485760n);
    expect(parseSysfsSectors('0\n')).toBe(0n);
  });

  it.each([[''], ['-1'], ['10M'], ['1.5']])('refuses %j', (input) => {
    expect(() => parseSysfsSectors(input)).toThrow(/expected a whole number of sectors/);
  });
});

describe('parseDfSizeAvail', () => {
  it('reads real `df --output=size,avail --block-size=1 DIR` output (coreutils 9.1): ext4 and a 10 MiB tmpfs', () => {
    expect(parseDfSizeAvail(fixture('df-size-avail.txt'))).toEqual({ totalBytes: 270553174016n, availableBytes: 81195114496n });
    expect(parseDfSizeAvail(fixture('df-size-avail-tmpfs.txt'))).toEqual({ totalBytes: 10485760n, availableBytes: 10485760n });
  });

  it('reads a negative Avail (reserved blocks in use) as 0', () => {
    expect(parseDfSizeAvail('   1B-blocks       Avail\n270553174016 -4096\n')).toEqual({ totalBytes: 270553174016n, availableBytes: 0n });
  });

  it.each([
    ['empty output', '', /header "1B-blocks Avail"/],
    ['two filesystems', '   1B-blocks       Avail\n1 1\n2 2\n', /one line of values/],
    ['other columns', 'Filesystem 1B-blocks Avail\n/dev/vda 1 1\n', /header/],
    ['KiB blocks', '1K-blocks Avail\n1 1\n', /header/],
    ['a human-readable size', '   1B-blocks       Avail\n252G 76G\n', /expected two byte counts/],
  ])('refuses %s', (_case, input, why) => {
    expect(() => parseDfSizeAvail(input)).toThrow(why);
    expect(() => parseDfSizeAvail(input)).toThrow(/^Unexpected output from df --output=size,avail --block-size=1: /);
  });
});
