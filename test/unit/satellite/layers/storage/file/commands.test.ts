import { describe, expect, it } from '@jest/globals';
import { ImplementationError } from '../../../../../../src/common/api-rc.js';
import {
  dfSizeAvail,
  fallocate,
  losetupAttach,
  losetupDetach,
  losetupList,
  losetupSetCapacity,
} from '../../../../../../src/satellite/layers/storage/file/commands.js';

describe('file provider commands', () => {
  it('build the exact argv', () => {
    expect(losetupList()).toEqual(['losetup', '--json', '--list', '--output', 'NAME,BACK-FILE,OFFSET,SIZELIMIT']);
    expect(losetupAttach('/pool/r 1_00000.img')).toEqual(['losetup', '--find', '--show', '--nooverlap', '/pool/r 1_00000.img']);
    expect(losetupDetach('/dev/loop12')).toEqual(['losetup', '--detach', '/dev/loop12']);
    expect(losetupSetCapacity('/dev/loop0')).toEqual(['losetup', '--set-capacity', '/dev/loop0']);
    expect(dfSizeAvail('/var/lib/blockplane/p1')).toEqual(['df', '--output=size,avail', '--block-size=1', '/var/lib/blockplane/p1']);
    expect(fallocate('/pool/r1_00000.img', 10n * 1024n ** 4n)).toEqual(['fallocate', '--length', '10995116277760', '/pool/r1_00000.img']);
  });

  it('refuse relative paths, which a tool could read as an option or resolve against the wrong directory', () => {
    expect(() => losetupAttach('-d')).toThrow(ImplementationError);
    expect(() => losetupAttach('pool/r1_00000.img')).toThrow(/expected an absolute path/);
    expect(() => fallocate('r1_00000.img', 1024n)).toThrow(ImplementationError);
    expect(() => dfSizeAvail('--total')).toThrow(ImplementationError);
  });

  it('refuse anything but a loop device for detach and set-capacity', () => {
    expect(() => losetupDetach('/dev/sda')).toThrow(/expected a loop device path/);
    expect(() => losetupDetach('--all')).toThrow(ImplementationError);
    expect(() => losetupSetCapacity('/dev/loop0p1')).toThrow(ImplementationError);
  });

  it('refuse a non-positive fallocate length', () => {
    expect(() => fallocate('/pool/r1_00000.img', 0n)).toThrow(/length must be positive/);
  });
});
