/**
 * Pure parsers of `zfs list -Hp` output: one line per dataset, fields separated by a single tab, no header (-H),
 * exact numbers in bytes (-p), unset user properties printed as `-` (zfs-list(8), zfsprops(7)). Malformed output
 * throws {@link ZfsOutputError} naming the command and the line.
 */
import { ZFS_POOL_COLUMNS, ZFS_VOLUME_COLUMNS } from './commands.js';

/** zfs printed something the parser cannot read; the message names the listing, the line and what was wrong. */
export class ZfsOutputError extends Error {
  constructor(listing: string, problem: string, line?: string) {
    super(`Cannot read the output of zfs list (${listing}): ${problem}${line === undefined ? '' : ` in line '${line}'`}`);
    this.name = 'ZfsOutputError';
  }
}

/** One line of {@link parseZfsVolumeList}. */
export interface ZvolRecord {
  /** Full dataset name, e.g. `tank/pvc-1_00000`. */
  name: string;
  volsizeBytes: bigint;
  /** Space the zvol takes in the pool, reservation and snapshots included. */
  usedBytes: bigint;
  /** Data the zvol references (written blocks). */
  referBytes: bigint;
  /** 0 for a sparse zvol (`zfs create -s`), about volsize for a thick one. */
  refreservationBytes: bigint;
  /** Value of the `blockplane:managed` user property; null when unset (`-`). */
  managed: string | null;
}

/** One line of {@link parseZfsPoolList}. */
export interface ZfsPoolRecord {
  name: string;
  usedBytes: bigint;
  availableBytes: bigint;
}

/** Parses `zfs list -Hp -o name,volsize,used,refer,refreservation,blockplane:managed -t volume -r POOL`. */
export function parseZfsVolumeList(stdout: string): ZvolRecord[] {
  return lines(stdout).map((line) => {
    const field = columns('volumes', line, ZFS_VOLUME_COLUMNS);
    const managed = field('blockplane:managed');
    return {
      name: field('name'),
      volsizeBytes: bytes('volumes', 'volsize', field('volsize'), line),
      usedBytes: bytes('volumes', 'used', field('used'), line),
      referBytes: bytes('volumes', 'refer', field('refer'), line),
      refreservationBytes: bytes('volumes', 'refreservation', field('refreservation'), line, { noneIsZero: true }),
      managed: managed === '-' ? null : managed,
    };
  });
}

/** Parses `zfs list -Hp -o name,used,available POOL`. */
export function parseZfsPoolList(stdout: string): ZfsPoolRecord[] {
  return lines(stdout).map((line) => {
    const field = columns('pool', line, ZFS_POOL_COLUMNS);
    return {
      name: field('name'),
      usedBytes: bytes('pool', 'used', field('used'), line),
      availableBytes: bytes('pool', 'available', field('available'), line),
    };
  });
}

/**
 * True for a sparse zvol (`zfs create -s`, ZFS_THIN): no refreservation. A thick zvol reserves about its volsize.
 */
export function isSparseZvol(zvol: ZvolRecord): boolean {
  return zvol.refreservationBytes === 0n;
}

/**
 * True when zfs's stderr says the dataset does not exist (libzfs: "cannot open 'tank': dataset does not exist",
 * exit code 1), matched on the dataset's name so that other failures are not taken for a missing pool.
 */
export function isDatasetMissing(stderr: string, dataset: string): boolean {
  return stderr.includes(`cannot open '${dataset}': dataset does not exist`);
}

function lines(stdout: string): string[] {
  return stdout.split('\n').filter((line) => line.trim() !== '');
}

/**
 * Splits a line into the named columns. Splits on tabs only: with -H the separator is exactly one tab, and values
 * (user properties in particular) may contain spaces.
 */
function columns<Name extends string>(listing: string, line: string, names: readonly Name[]): (name: Name) => string {
  const fields = line.split('\t');
  if (fields.length !== names.length) {
    throw new ZfsOutputError(listing, `expected ${names.length} tab-separated columns, found ${fields.length} (were -H and -o given?)`, line);
  }
  if (fields[0] === '') throw new ZfsOutputError(listing, 'empty dataset name', line);
  return (name) => fields[names.indexOf(name)] ?? '';
}

function bytes(listing: string, column: string, value: string, line: string, options: { noneIsZero?: boolean } = {}): bigint {
  // zfs -p prints exact integers; "none"/"-" can only appear for a reservation that is not set.
  if (options.noneIsZero && (value === 'none' || value === '-')) return 0n;
  if (!/^\d+$/.test(value)) {
    throw new ZfsOutputError(listing, `${column} is '${value}', not a byte count (was -p given?)`, line);
  }
  return BigInt(value);
}
