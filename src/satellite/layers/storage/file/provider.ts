import { constants as fsConstants } from 'node:fs';
import { access, lstat, open, readdir, readFile, realpath, stat, truncate, unlink } from 'node:fs/promises';
import path from 'node:path';
import { ApiError, ErrorCode, ImplementationError } from '../../../../common/api-rc.js';
import type { ProviderKind } from '../../../../common/vocabulary.js';
import { CommandError, type CommandRunner, type CommandSpec } from '../../../exec/command-runner.js';
import {
  parseBackingVolumeName,
  type ActualVolume,
  type Capacity,
  type PoolSpec,
  type ProviderOptions,
  type StorageProvider,
  type VolumeSpec,
} from '../provider.js';
import { dfSizeAvail, fallocate, losetupAttach, losetupDetach, losetupList, losetupSetCapacity } from './commands.js';
import { parseDfSizeAvail, parseLosetupAttach, parseLosetupList, parseSysfsSectors, type LoopDevice } from './parse.js';

/** The pool property naming the directory that holds the backing files. */
export const FILE_DIR_PROP = 'StorDriver/FileDir';

/** Suffix of every backing file blockplane creates; files without it (or without a LINSTOR volume name) are foreign. */
export const BACKING_FILE_SUFFIX = '.img';

/** Where the provider reads what the kernel exposes. Production uses the defaults; unit tests point it at a fake tree. */
export interface FileProviderEnvironment {
  /** Mount point of sysfs, read for the current size of a loop device (default `/sys`). */
  sysfsRoot?: string;
}

const LOSETUP_TIMEOUT_MS = 30_000;
// fallocate(2) only writes extent metadata on ext4/xfs/btrfs, but a multi-TiB file on a slow or busy disk can still
// take a while; far better to wait than to leave a half-allocated file behind a timeout.
const FALLOCATE_TIMEOUT_MS = 10 * 60_000;
// `losetup --detach` of a device that was detached in the meantime fails with "No such device or address" (ENXIO), and
// of a device node that is gone with "No such device" (ENODEV); either way the goal is reached, so it is not an error.
const ALREADY_DETACHED = /No such device/;

/**
 * Common implementation of the FILE and FILE_THIN providers: one regular file `<backing volume name>.img` per volume
 * in the pool directory (pool property `StorDriver/FileDir`), each attached to a loop device so that DRBD gets a
 * real block device (`/dev/loopN`).
 *
 * Ownership: only regular files whose name is a LINSTOR backing volume name plus `.img` are blockplane's; everything
 * else in the directory (other files, symlinks, subdirectories) is foreign, never listed and never deleted.
 *
 * Loop devices do not survive a reboot. `list()` then reports the volume with `devicePath: null`, and `create()`
 * attaches it again, so a reconciler that calls `create()` for every desired volume without a device converges.
 *
 * Calls for the same backing file are serialized within the process (across provider instances), so two concurrent
 * `create()`s cannot attach the file twice. Other processes are kept off by `losetup --nooverlap`.
 */
abstract class FileBackedProvider implements StorageProvider {
  abstract readonly kind: ProviderKind;
  private readonly runner: CommandRunner;
  private readonly sysfsRoot: string;

  protected constructor(
    readonly pool: PoolSpec,
    options: ProviderOptions,
    environment: FileProviderEnvironment,
    expectedKind: ProviderKind,
  ) {
    if (pool.providerKind !== expectedKind) {
      throw new ImplementationError(`${expectedKind} provider constructed for pool '${pool.name}' of kind ${pool.providerKind}`);
    }
    this.runner = options.runner;
    this.sysfsRoot = environment.sysfsRoot ?? '/sys';
  }

  /** Creates (or grows) `file`, which does not exist yet or is smaller than `bytes`, to exactly `bytes` bytes. */
  protected abstract allocate(file: string, bytes: bigint, name: string): Promise<void>;

  /** Space the file takes in the pool, given its size and its allocated 512-byte blocks. */
  protected abstract allocatedKib(sizeBytes: bigint, blocks512: bigint): bigint;

  /**
   * Succeeds when the pool directory is configured as an absolute path, exists, is a directory and is writable;
   * otherwise throws an ApiError (INVALID_PROPERTY) naming the pool, the directory and how to fix it.
   */
  async check(): Promise<void> {
    const dir = await this.directory();
    try {
      await access(dir, fsConstants.W_OK);
    } catch (error) {
      throw this.directoryError(
        `directory '${this.configuredDirectory()}' (${FILE_DIR_PROP}) is not writable (${errorCode(error)})`,
        `Make it writable for the satellite (e.g. remount it read-write or fix its permissions), or set ${FILE_DIR_PROP} to a writable directory.`,
      );
    }
  }

  /**
   * Size and available space of the filesystem that holds the pool directory, as `df` shows them (free excludes the
   * blocks reserved for root). FILE and FILE_THIN share the filesystem with anything else on it, so free space can
   * shrink without blockplane doing anything; for FILE_THIN it is the space left for data still to be written.
   */
  async capacity(): Promise<Capacity> {
    const dir = await this.directory();
    const df = parseDfSizeAvail((await this.run(dfSizeAvail(dir), 'read filesystem capacity')).stdout);
    return { totalKib: df.totalBytes / 1024n, freeKib: df.availableBytes / 1024n };
  }

  /**
   * The pool's volumes, sorted by name: every regular file `<backing volume name>.img` in the directory, with the
   * whole-file loop device attached to it (or `devicePath: null` when none is). Runs losetup only when there is at
   * least one volume.
   */
  async list(): Promise<ActualVolume[]> {
    const dir = await this.directory();
    const names = (await readdir(dir, { withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => volumeNameOf(entry.name))
      .filter((name): name is string => name !== null)
      .sort();
    if (names.length === 0) return [];
    const devices = await this.loopDevices();
    const volumes: ActualVolume[] = [];
    for (const name of names) {
      const file = path.join(dir, name + BACKING_FILE_SUFFIX);
      // A concurrent delete may remove the file between readdir and stat; then it is simply no longer there.
      const volume = await this.describe(name, file, usableAttachment(devices, file)).catch((error: unknown) => {
        if (errorCode(error) === 'ENOENT') return null;
        throw error;
      });
      if (volume) volumes.push(volume);
    }
    return volumes;
  }

  /**
   * Makes sure the volume exists with at least `sizeKib` and is attached to a loop device, then describes it.
   * Idempotent: an existing file that is large enough is reused as it is (a smaller one, e.g. left by an interrupted
   * create or resize, is grown), an existing whole-file loop device is reused (its capacity refreshed when the file is
   * larger than the device), and a detached file (e.g. after a reboot) is attached again.
   * @throws ApiError for a name that is not a LINSTOR backing volume name or an invalid size.
   */
  async create(volume: VolumeSpec): Promise<ActualVolume> {
    const bytes = volumeBytes(volume);
    const file = await this.backingFile(volume.name, 'name');
    return serialized(file, async () => {
      const existing = await regularFileSize(file);
      if (existing === null || existing < bytes) await this.allocate(file, bytes, volume.name);
      const devices = await this.loopDevices();
      let device = usableAttachment(devices, file);
      if (device === null) {
        device = parseLosetupAttach(
          (await this.run(losetupAttach(file), `attach volume ${volume.name} to a loop device`)).stdout,
        );
      } else {
        await this.refreshCapacity(device, file, volume.name);
      }
      return this.describe(volume.name, file, device);
    });
  }

  /**
   * Grows the backing file to `sizeKib` (never shrinks it) and makes every whole-file loop device of it see the new
   * size. Also refreshes a device that lags behind its file (a resize interrupted between the two steps), so calling
   * it again always converges. Does not attach a detached volume; `create()` does that.
   * @throws ApiError NOT_FOUND when the volume does not exist.
   */
  async resize(volume: VolumeSpec): Promise<ActualVolume> {
    const bytes = volumeBytes(volume);
    const file = await this.backingFile(volume.name, 'name');
    return serialized(file, async () => {
      const existing = await regularFileSize(file);
      if (existing === null) {
        throw new ApiError({
          code: ErrorCode.NOT_FOUND,
          message: `Cannot resize volume '${volume.name}' in storage pool '${this.pool.name}': its backing file '${file}' does not exist.`,
          correction: 'Create the volume first.',
          details: { pool: this.pool.name, volume: volume.name, file },
        });
      }
      if (existing < bytes) await this.allocate(file, bytes, volume.name);
      const devices = wholeFileAttachments(await this.loopDevices(), file);
      for (const device of devices) await this.refreshCapacity(device, file, volume.name);
      return this.describe(volume.name, file, devices[0] ?? null);
    });
  }

  /**
   * Detaches every loop device backed by the volume's file (also ones whose file was already unlinked), then removes
   * the file. A no-op when neither exists. A device that is still open (e.g. by DRBD) is only marked for detaching by
   * the kernel and goes away when its last user closes it; the file's space is freed then too.
   * @throws ApiError NOT_ALLOWED for a name blockplane would not have created, or a path that is not a regular file.
   */
  async delete(name: string): Promise<void> {
    if (parseBackingVolumeName(name) === null) {
      throw new ApiError({
        code: ErrorCode.NOT_ALLOWED,
        message: `Refusing to delete '${name}' from storage pool '${this.pool.name}': it is not a backing volume name blockplane creates, so the file is not ours.`,
        correction: 'Remove foreign files by hand; blockplane only deletes <resource>_<5-digit volume number>.img files.',
        details: { pool: this.pool.name, name },
      });
    }
    const file = await this.backingFile(name, 'name', { mayBeMissing: true });
    await serialized(file, async () => {
      // Only for its refusal of non-regular files: with the file already gone, orphaned devices are still detached.
      await regularFileSize(file);
      for (const device of (await this.loopDevices()).filter((d) => d.backFile === file)) {
        try {
          await this.run(losetupDetach(device.device), `detach ${device.device} from volume ${name}`);
        } catch (error) {
          if (!(error instanceof CommandError && ALREADY_DETACHED.test(error.stderr))) throw error;
        }
      }
      await unlink(file).catch((error: unknown) => {
        if (errorCode(error) !== 'ENOENT') throw error;
      });
    });
  }

  /** Runs a host command through the runner, with the provider's timeouts and a failure message naming the pool. */
  protected async run(argv: string[], purpose: string, timeoutMs = LOSETUP_TIMEOUT_MS): Promise<{ stdout: string }> {
    const spec: CommandSpec = { argv, timeoutMs, purpose: `storage pool ${this.pool.name}: ${purpose}` };
    return this.runner.run(spec);
  }

  /** Creates `file` owner-only, so volume contents are not readable through the pool directory by other users. */
  protected async createEmpty(file: string): Promise<boolean> {
    try {
      await (await open(file, 'wx', 0o600)).close();
      return true;
    } catch (error) {
      if (errorCode(error) === 'EEXIST') return false;
      throw error;
    }
  }

  /** Runs `fn` on a file this call created, removing the file again if `fn` fails, so no half-made volume is left. */
  protected async undoOnFailure(file: string, created: boolean, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      if (created) await unlink(file).catch(() => undefined);
      throw error;
    }
  }

  private async loopDevices(): Promise<LoopDevice[]> {
    return parseLosetupList((await this.run(losetupList(), 'list loop devices')).stdout);
  }

  private async refreshCapacity(device: string, file: string, name: string): Promise<void> {
    const deviceBytes = await this.deviceBytes(device);
    const fileBytes = (await stat(file, { bigint: true })).size;
    // Without a readable size (no sysfs, e.g. in some containers) refresh anyway: set-capacity on an up-to-date device
    // changes nothing, while skipping it could leave DRBD on a device smaller than the volume.
    if (deviceBytes === null || deviceBytes < fileBytes) {
      await this.run(losetupSetCapacity(device), `refresh the size of ${device} (volume ${name})`);
    }
  }

  /** Current size of a block device from sysfs; null when sysfs has no entry for it. */
  private async deviceBytes(device: string): Promise<bigint | null> {
    try {
      return parseSysfsSectors(await readFile(path.join(this.sysfsRoot, 'class', 'block', path.basename(device), 'size'), 'utf8'));
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return null;
      throw error;
    }
  }

  private async describe(name: string, file: string, device: string | null): Promise<ActualVolume> {
    const st = await stat(file, { bigint: true });
    // The device is what DRBD sees, so its size wins; it only differs from the file's while a resize is unfinished.
    const usableBytes = (device === null ? null : await this.deviceBytes(device)) ?? st.size;
    return { name, sizeKib: usableBytes / 1024n, allocatedKib: this.allocatedKib(st.size, st.blocks), devicePath: device };
  }

  /** Absolute path of the volume's backing file in the (symlink-resolved) pool directory. */
  private async backingFile(name: string, field: string, opts: { mayBeMissing?: boolean } = {}): Promise<string> {
    if (parseBackingVolumeName(name) === null) {
      throw ApiError.invalid(
        ErrorCode.INVALID_NAME,
        field,
        `'${name}' is not a backing volume name (<resource>_<5-digit volume number>).`,
        'Use backingVolumeName(resource, volumeNumber) to name backing volumes.',
      );
    }
    // losetup reports the kernel's canonical path of the backing file, so the directory must be resolved the same way
    // for the back-file comparison to find our devices when StorDriver/FileDir goes through a symlink.
    const dir = opts.mayBeMissing
      ? await realpath(this.configuredDirectory()).catch(() => path.resolve(this.configuredDirectory()))
      : await this.directory();
    return path.join(dir, name + BACKING_FILE_SUFFIX);
  }

  /** The pool directory, symlinks resolved; throws the readable configuration error when it is unusable. */
  private async directory(): Promise<string> {
    const configured = this.configuredDirectory();
    if (!path.isAbsolute(configured)) {
      throw this.directoryError(
        `${FILE_DIR_PROP} '${configured}' is not an absolute path`,
        `Set ${FILE_DIR_PROP} to an absolute path, e.g. '/var/lib/blockplane/${this.pool.name}'.`,
      );
    }
    let resolved: string;
    try {
      resolved = await realpath(configured);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw this.directoryError(
          `directory '${configured}' (${FILE_DIR_PROP}) does not exist`,
          `Create it on this node (mkdir -p '${configured}'), or set ${FILE_DIR_PROP} to an existing directory.`,
        );
      }
      throw error;
    }
    if (!(await stat(resolved)).isDirectory()) {
      throw this.directoryError(
        `'${configured}' (${FILE_DIR_PROP}) is not a directory`,
        `Set ${FILE_DIR_PROP} to a directory, or move the file away and create the directory (mkdir -p '${configured}').`,
      );
    }
    return resolved;
  }

  private configuredDirectory(): string {
    const dir = this.pool.props[FILE_DIR_PROP];
    if (dir === undefined || dir.trim() === '') {
      throw this.directoryError(
        `the property ${FILE_DIR_PROP} is not set`,
        `Set ${FILE_DIR_PROP} on the storage pool to the directory for its backing files, e.g. '/var/lib/blockplane/${this.pool.name}'.`,
      );
    }
    return dir;
  }

  private directoryError(problem: string, correction: string): ApiError {
    return new ApiError({
      code: ErrorCode.INVALID_PROPERTY,
      field: `props["${FILE_DIR_PROP}"]`,
      // The satellite may only log or report the message, so it carries the fix as well.
      message: `Storage pool '${this.pool.name}' (${this.kind}): ${problem}. ${correction}`,
      correction,
      details: { pool: this.pool.name, providerKind: this.kind, property: FILE_DIR_PROP, value: this.pool.props[FILE_DIR_PROP] },
    });
  }
}

/**
 * FILE: thick volumes. Every backing file is fully allocated with fallocate(2), so the pool's free space shrinks by
 * the full size at create time and writes through the loop device do not run out of space later (copy-on-write
 * filesystems with snapshots, e.g. btrfs, excepted). Needs a filesystem that supports
 * fallocate (ext4, xfs, btrfs, tmpfs; not NFSv3); use FILE_THIN elsewhere. `allocatedKib` is the file size.
 */
export class FileProvider extends FileBackedProvider {
  readonly kind = 'FILE' as const;

  /** @param environment where kernel state is read; only tests pass it. */
  constructor(pool: PoolSpec, options: ProviderOptions, environment: FileProviderEnvironment = {}) {
    super(pool, options, environment, 'FILE');
  }

  protected async allocate(file: string, bytes: bigint, name: string): Promise<void> {
    const created = await this.createEmpty(file);
    await this.undoOnFailure(file, created, async () => {
      await this.run(
        fallocate(file, bytes),
        `allocate ${bytes} bytes for volume ${name} (FILE needs a filesystem with fallocate support; use FILE_THIN otherwise)`,
        FALLOCATE_TIMEOUT_MS,
      );
    });
  }

  protected allocatedKib(sizeBytes: bigint): bigint {
    return sizeBytes / 1024n;
  }
}

/**
 * FILE_THIN: sparse backing files. Creating or growing a volume only sets the file size, so space is taken as data is
 * written and the pool can be oversubscribed; `allocatedKib` is what the file really occupies (st_blocks * 512),
 * and a write fails with an I/O error on the loop device when the filesystem runs full.
 */
export class FileThinProvider extends FileBackedProvider {
  readonly kind = 'FILE_THIN' as const;

  /** @param environment where kernel state is read; only tests pass it. */
  constructor(pool: PoolSpec, options: ProviderOptions, environment: FileProviderEnvironment = {}) {
    super(pool, options, environment, 'FILE_THIN');
  }

  protected async allocate(file: string, bytes: bigint): Promise<void> {
    const created = await this.createEmpty(file);
    await this.undoOnFailure(file, created, () => truncate(file, Number(bytes)));
  }

  protected allocatedKib(_sizeBytes: bigint, blocks512: bigint): bigint {
    return (blocks512 * 512n + 1023n) / 1024n;
  }
}

/** The volume name of a directory entry, or null when the entry is not one of our backing files. */
function volumeNameOf(fileName: string): string | null {
  if (!fileName.endsWith(BACKING_FILE_SUFFIX)) return null;
  const name = fileName.slice(0, -BACKING_FILE_SUFFIX.length);
  return parseBackingVolumeName(name) === null ? null : name;
}

/**
 * Loop devices that show the whole current file: an attachment with an offset or size limit is someone else's
 * partial view, and one whose file was unlinked holds an old inode. Lowest device number first, for determinism.
 */
function wholeFileAttachments(devices: readonly LoopDevice[], file: string): string[] {
  return devices
    .filter((d) => d.backFile === file && !d.backFileDeleted && d.offset === 0n && d.sizeLimit === 0n)
    .map((d) => d.device)
    .sort((a, b) => loopNumber(a) - loopNumber(b));
}

function usableAttachment(devices: readonly LoopDevice[], file: string): string | null {
  return wholeFileAttachments(devices, file)[0] ?? null;
}

function loopNumber(device: string): number {
  return Number(/(\d+)$/.exec(device)?.[1] ?? Number.MAX_SAFE_INTEGER);
}

/**
 * Size in bytes of `file` when it is a regular file; null when nothing is there.
 * @throws ApiError NOT_ALLOWED when something else (a symlink, a directory) has the backing file's name.
 */
async function regularFileSize(file: string): Promise<bigint | null> {
  let st;
  try {
    st = await lstat(file, { bigint: true });
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null;
    throw error;
  }
  if (!st.isFile()) {
    throw new ApiError({
      code: ErrorCode.NOT_ALLOWED,
      message: `'${file}' exists but is not a regular file, so it is not a backing file blockplane created; refusing to use or remove it.`,
      correction: `Move '${file}' out of the storage pool directory.`,
      details: { file },
    });
  }
  return st.size;
}

/** Validated size of a volume in bytes. */
function volumeBytes(volume: VolumeSpec): bigint {
  // fs.truncate takes a JS number; 2^53 bytes (8 PiB) is far beyond any file a loop device should be backed by.
  if (volume.sizeKib < 1n || volume.sizeKib * 1024n > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw ApiError.invalid(
      ErrorCode.INVALID_SIZE,
      'sizeKib',
      `${volume.sizeKib} KiB is not a valid size for file volume '${volume.name}'.`,
      'Give a size between 1 KiB and 8 PiB.',
    );
  }
  return volume.sizeKib * 1024n;
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : undefined;
}

// Per backing file, the tail of the chain of operations on it. Module-level on purpose: the reconcile loop may build a
// new provider per pass, and serialization must hold across those instances.
const pending = new Map<string, Promise<void>>();

async function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = pending.get(key) ?? Promise.resolve();
  const result = previous.then(fn);
  const tail = result.then(
    () => undefined,
    () => undefined,
  );
  pending.set(key, tail);
  try {
    return await result;
  } finally {
    if (pending.get(key) === tail) pending.delete(key);
  }
}
