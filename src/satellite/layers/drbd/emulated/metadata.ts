import { randomBytes } from 'node:crypto';
import { mkdir, readFile, realpath, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

/**
 * The emulated counterpart of DRBD's on-disk metadata of one volume (what `drbdadm create-md` writes at the end of
 * the backing device). Real DRBD keeps generation identifiers (UUIDs) and flags there; the emulation reduces them to
 * what its sync decisions need.
 */
export interface EmulatedMetadata {
  /**
   * Data generation: 0 = the volume never held data (fresh create-md, DRBD's "just created" UUID). A higher number is
   * newer data; the peer with the higher generation is the sync source. Bumped by forceInitialSync, copied from the
   * source when a resync completes.
   */
  generation: number;
  /** Identifier of the data generation (a random hex string; DRBD's current UUID). */
  uuid: string;
  /**
   * The data is not usable (a resync into this volume started and has not finished). Survives a restart, like
   * DRBD's MDF_CONSISTENT flag being cleared while a sync runs.
   */
  inconsistent: boolean;
  /**
   * The resync this volume is the target of, so an interrupted sync resumes where it stopped (DRBD's bitmap) instead
   * of starting over: the generation being received and how much of it arrived.
   */
  resync: { generation: number; uuid: string; doneKib: number } | null;
  /** `--max-peers` given to create-md. */
  peerSlots: number;
  /** Path of the backing device the metadata "lives on" (as hasMetadata saw it). */
  backingDevice: string | null;
  /**
   * Identity of that backing device when it existed (see {@link backingIdentity}): a deleted and re-created backing
   * device has no metadata, as with real DRBD, whose metadata disappears with the device.
   */
  backingId: string | null;
}

/** The UUID DRBD writes with create-md (UUID_JUST_CREATED). */
export const JUST_CREATED_UUID = '0000000000000004';

/** A fresh random data generation identifier. */
export function newUuid(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

/**
 * Identity of a backing device, or null when it does not exist (emulated hosts may use made-up device paths):
 * - a loop device (FILE/FILE_THIN pools) is identified by the file behind it (`/sys/class/block/loopN/loop/
 *   backing_file`), because loop device nodes outlive their files and get reused for others, while the same file may
 *   come back on another loop device after a reboot;
 * - any other device by its node (symlinks such as /dev/vg/lv resolved), which udev re-creates with the device.
 * Device number, inode and birth time (not ctime: writing data to a file-backed device changes ctime).
 */
export async function backingIdentity(device: string, sysfsRoot = '/sys'): Promise<string | null> {
  try {
    const resolved = await realpath(device);
    const loop = /^loop\d+$/.exec(path.basename(resolved))?.[0];
    if (loop !== undefined) {
      const file = await readFile(path.join(sysfsRoot, 'class', 'block', loop, 'loop', 'backing_file'), 'utf8').catch(() => null);
      if (file !== null) {
        const st = await stat(file.trim());
        return `file:${st.dev}:${st.ino}:${st.birthtimeMs}`;
      }
    }
    const st = await stat(resolved);
    return `${st.dev}:${st.rdev}:${st.ino}:${st.birthtimeMs}`;
  } catch {
    return null;
  }
}

/**
 * Where emulated metadata lives: in memory (default), or as one small JSON file per (resource, volume) in a
 * directory, so a restarted satellite finds its volumes' metadata again like DRBD finds it on the backing device.
 *
 * Reads go through a cache; writes update the cache at once and reach the file asynchronously (coalesced: one write
 * in flight per volume, the latest content wins). {@link flush} waits for all of them.
 */
export class MetadataStore {
  private readonly cache = new Map<string, EmulatedMetadata | null>();
  private readonly writing = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();

  constructor(
    private readonly dir: string | null,
    private readonly log: Logger,
  ) {}

  /** The metadata of a volume, or null when create-md never ran for it. */
  async get(resource: string, volume: number): Promise<EmulatedMetadata | null> {
    const key = this.key(resource, volume);
    if (this.cache.has(key)) return this.cache.get(key) ?? null;
    let loaded: EmulatedMetadata | null = null;
    if (this.dir !== null) {
      try {
        loaded = JSON.parse(await readFile(this.file(key), 'utf8')) as EmulatedMetadata;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.log.warn({ err: error, resource, volume }, 'emulated DRBD: unreadable metadata file, treated as absent');
        }
      }
    }
    // A set() that raced with the read wins: it is newer than the file.
    if (!this.cache.has(key)) this.cache.set(key, loaded);
    return this.cache.get(key) ?? null;
  }

  /** Replaces the metadata of a volume (the object is kept by reference; call again after mutating it). */
  set(resource: string, volume: number, metadata: EmulatedMetadata): void {
    const key = this.key(resource, volume);
    this.cache.set(key, metadata);
    if (this.dir === null) return;
    this.dirty.add(key);
    if (!this.writing.has(key)) this.writing.set(key, this.writeLoop(key));
  }

  /** Resolves once every set() so far reached its file. */
  async flush(): Promise<void> {
    while (this.writing.size > 0) await Promise.all([...this.writing.values()]);
  }

  private async writeLoop(key: string): Promise<void> {
    const dir = this.dir;
    if (dir === null) return;
    try {
      while (this.dirty.delete(key)) {
        const content = JSON.stringify(this.cache.get(key) ?? null);
        const file = this.file(key);
        try {
          await mkdir(dir, { recursive: true });
          await writeFile(`${file}.tmp`, content);
          await rename(`${file}.tmp`, file);
        } catch (error) {
          this.log.error({ err: error, file }, 'emulated DRBD: cannot write metadata file');
        }
      }
    } finally {
      this.writing.delete(key);
    }
  }

  private key(resource: string, volume: number): string {
    return `${encodeURIComponent(resource)}.${volume}`;
  }

  private file(key: string): string {
    return path.join(this.dir ?? '', `${key}.json`);
  }
}
