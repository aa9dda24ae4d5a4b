import path from 'node:path';
import { ImplementationError } from '../../../../common/api-rc.js';

/**
 * Pure argv builders for the FILE and FILE_THIN providers. Only what needs a host tool is here: loop devices
 * (losetup), preallocation (fallocate, which node cannot do) and filesystem capacity (df). Creating, growing and
 * measuring files are plain fs calls in provider.ts.
 */

/**
 * The columns the provider reads from `losetup --list`. Named explicitly because losetup's default column set has
 * changed between util-linux releases, and the parser should depend on the columns it asked for.
 */
export const LOSETUP_LIST_COLUMNS = ['NAME', 'BACK-FILE', 'OFFSET', 'SIZELIMIT'] as const;

/** Every loop device in use, as JSON (see `parseLosetupList`). */
export function losetupList(): string[] {
  return ['losetup', '--json', '--list', '--output', LOSETUP_LIST_COLUMNS.join(',')];
}

/**
 * Attaches `file` to the first free loop device and prints that device.
 *
 * `--nooverlap` makes losetup hand back an existing whole-file attachment of the same file instead of creating a
 * second one; the provider looks for one first, so this only matters when another process attached the file in
 * between, and it keeps two devices from ever writing the same backing file.
 */
export function losetupAttach(file: string): string[] {
  return ['losetup', '--find', '--show', '--nooverlap', absolute(file)];
}

/** Detaches a loop device (the kernel defers it until the last opener closes the device). */
export function losetupDetach(device: string): string[] {
  return ['losetup', '--detach', loopDevice(device)];
}

/** Makes a loop device re-read the size of its backing file after the file grew. */
export function losetupSetCapacity(device: string): string[] {
  return ['losetup', '--set-capacity', loopDevice(device)];
}

/**
 * Allocates the first `bytes` bytes of `file` (creating blocks, extending the size when smaller). Used for FILE
 * (thick) volumes so that writes through the loop device can never fail with ENOSPC later.
 */
export function fallocate(file: string, bytes: bigint): string[] {
  if (bytes <= 0n) throw new ImplementationError(`fallocate: length must be positive, got ${bytes}`);
  return ['fallocate', '--length', String(bytes), absolute(file)];
}

/**
 * Size and available space of the filesystem holding `dir`, in bytes (see `parseDfSizeAvail`).
 *
 * df rather than node's fs.statfs: statfs exposes only f_bsize, while the block counts are in units of f_frsize, which
 * a filesystem may set differently (FUSE filesystems can); df uses f_frsize. Bytes rather than KiB because df rounds
 * sizes up to its block size, and free space must not be overstated.
 */
export function dfSizeAvail(dir: string): string[] {
  return ['df', '--output=size,avail', '--block-size=1', absolute(dir)];
}

// A relative path would depend on the satellite's working directory, and one starting with '-' would be read as an
// option by the tool; absolute paths rule out both.
function absolute(file: string): string {
  if (!path.isAbsolute(file)) throw new ImplementationError(`expected an absolute path, got '${file}'`);
  return file;
}

function loopDevice(device: string): string {
  if (!/^\/dev\/loop\d+$/.test(device)) throw new ImplementationError(`expected a loop device path, got '${device}'`);
  return device;
}
