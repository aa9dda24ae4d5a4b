/**
 * Pure parsers of the host output the FILE and FILE_THIN providers read. Each throws an Error that quotes the
 * unexpected input, so a changed tool shows up as a readable failure rather than as a wrong size or a missed device.
 */

/** One attached loop device, from `losetup --json --list`. */
export interface LoopDevice {
  /** Device path, e.g. `/dev/loop0`. */
  device: string;
  /** Absolute path of the backing file as the kernel reports it, without the ` (deleted)` marker; null if unknown. */
  backFile: string | null;
  /** The backing file was unlinked while attached: the device still holds the old inode, not the file at that path. */
  backFileDeleted: boolean;
  /** Byte offset into the backing file; 0 for a whole-file attachment. */
  offset: bigint;
  /** Size limit in bytes; 0 means "to the end of the file". */
  sizeLimit: bigint;
}

const DELETED_SUFFIX = ' (deleted)';

/**
 * Parses `losetup --json --list [--output ...]` into loop devices, in the order losetup printed them.
 *
 * Accepts empty output as "no loop devices" (some util-linux versions print nothing at all then), numbers given as
 * JSON numbers (util-linux >= 2.34) or as strings (older releases), and missing OFFSET/SIZELIMIT columns (as 0).
 * @throws Error when the output is not the JSON losetup prints.
 */
export function parseLosetupList(stdout: string): LoopDevice[] {
  if (stdout.trim() === '') return [];
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch (error) {
    throw malformed('losetup --json --list', stdout, `not JSON (${(error as Error).message})`);
  }
  const list = isRecord(doc) ? doc.loopdevices : undefined;
  if (!Array.isArray(list)) throw malformed('losetup --json --list', stdout, 'no "loopdevices" array');
  return list.map((entry, index) => {
    const where = `loopdevices[${index}]`;
    if (!isRecord(entry)) throw malformed('losetup --json --list', stdout, `${where} is not an object`);
    const device = entry.name;
    if (typeof device !== 'string' || !/^\/dev\/loop\d+$/.test(device)) {
      throw malformed('losetup --json --list', stdout, `${where}.name is not a loop device path`);
    }
    const rawBackFile = entry['back-file'];
    if (rawBackFile !== undefined && rawBackFile !== null && typeof rawBackFile !== 'string') {
      throw malformed('losetup --json --list', stdout, `${where}.back-file is not a string`);
    }
    const backFile = typeof rawBackFile === 'string' && rawBackFile !== '' ? rawBackFile : null;
    const backFileDeleted = backFile?.endsWith(DELETED_SUFFIX) ?? false;
    return {
      device,
      backFile: backFile && backFileDeleted ? backFile.slice(0, -DELETED_SUFFIX.length) : backFile,
      backFileDeleted,
      offset: byteCount(entry.offset, `${where}.offset`, stdout),
      sizeLimit: byteCount(entry.sizelimit, `${where}.sizelimit`, stdout),
    };
  });
}

/**
 * Parses the output of `losetup --find --show FILE`: the one device it attached (or, with --nooverlap, reused).
 * @throws Error when the output is not exactly one loop device path.
 */
export function parseLosetupAttach(stdout: string): string {
  const device = stdout.trim();
  if (!/^\/dev\/loop\d+$/.test(device)) throw malformed('losetup --find --show', stdout, 'expected one /dev/loopN path');
  return device;
}

/**
 * Parses a block device's `/sys/class/block/<dev>/size` (always in 512-byte sectors, whatever the device's logical
 * block size) into bytes.
 * @throws Error when the text is not a whole number.
 */
export function parseSysfsSectors(text: string): bigint {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) throw malformed('sysfs block size', text, 'expected a whole number of sectors');
  return BigInt(trimmed) * 512n;
}

/** Filesystem capacity in bytes, from `df --output=size,avail --block-size=1 DIR`. */
export interface DfSizeAvail {
  totalBytes: bigint;
  /** Space unprivileged writers can still use (reserved blocks excluded), never negative. */
  availableBytes: bigint;
}

/**
 * Parses `df --output=size,avail --block-size=1 DIR`: a header line and one line with two byte counts. A negative
 * Avail (GNU df prints one when root's reserved blocks are in use) is read as 0.
 * @throws Error when the output has another shape, e.g. several filesystems or other columns.
 */
export function parseDfSizeAvail(stdout: string): DfSizeAvail {
  const lines = stdout.split('\n').filter((line) => line.trim() !== '');
  if (lines.length !== 2 || !/^\s*1B-blocks\s+Avail\s*$/.test(lines[0]!)) {
    throw malformed('df --output=size,avail --block-size=1', stdout, 'expected the header "1B-blocks Avail" and one line of values');
  }
  const m = /^\s*(\d+)\s+(-?\d+)\s*$/.exec(lines[1]!);
  if (!m) throw malformed('df --output=size,avail --block-size=1', stdout, 'expected two byte counts');
  const available = BigInt(m[2]!);
  return { totalBytes: BigInt(m[1]!), availableBytes: available < 0n ? 0n : available };
}

function byteCount(value: unknown, where: string, stdout: string): bigint {
  if (value === undefined || value === null) return 0n;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === 'string' && /^\s*\d+\s*$/.test(value)) return BigInt(value.trim());
  throw malformed('losetup --json --list', stdout, `${where} is not a byte count`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function malformed(source: string, input: string, why: string): Error {
  const shown = input.length > 300 ? `${input.slice(0, 300)}...` : input;
  return new Error(`Unexpected output from ${source}: ${why}. Output was: ${JSON.stringify(shown)}`);
}
