import type { ProviderKind } from '../../../common/vocabulary.js';
import type { CommandRunner } from '../../exec/command-runner.js';

/**
 * The storage provider interface: one implementation per provider kind (LVM, LVM_THIN, ZFS, ZFS_THIN, FILE,
 * FILE_THIN, DISKLESS), each in its own folder with commands.ts (pure argv builders), parse.ts (pure parsers of real
 * tool output) and provider.ts. Every operation is idempotent where the reconcile loop needs it to be.
 */

/** A storage pool as the satellite receives it from the controller. */
export interface PoolSpec {
  name: string;
  providerKind: ProviderKind;
  /** The pool's properties, e.g. StorDriver/LvmVg. */
  props: Readonly<Record<string, string>>;
}

/** A backing volume the satellite must have: LINSTOR's naming `<resource>_<5-digit volume number>`. */
export interface VolumeSpec {
  /** Backing volume name, see {@link backingVolumeName}. */
  name: string;
  sizeKib: bigint;
}

/** A backing volume as found on the host. */
export interface ActualVolume {
  name: string;
  /** Usable size in KiB (what the device offers). */
  sizeKib: bigint;
  /** Space actually used in the pool (thin: data written; thick: the full size). */
  allocatedKib: bigint;
  /** Block device path, or null when none exists (e.g. metadata-only LVM without device-mapper). */
  devicePath: string | null;
}

/** Capacity of a pool in KiB. Thin pools report the thin pool's data space. */
export interface Capacity {
  totalKib: bigint;
  freeKib: bigint;
}

export interface StorageProvider {
  readonly kind: ProviderKind;
  readonly pool: PoolSpec;
  /** Checks that the backing storage exists and is usable; throws a readable error naming what is missing. */
  check(): Promise<void>;
  capacity(): Promise<Capacity>;
  /** Backing volumes of this pool that blockplane created (tagged/named as ours); never foreign ones. */
  list(): Promise<ActualVolume[]>;
  /** Creates the volume; when it already exists with at least this size, returns it unchanged. */
  create(volume: VolumeSpec): Promise<ActualVolume>;
  /** Grows the volume to the given size (never shrinks); no-op when already that large. */
  resize(volume: VolumeSpec): Promise<ActualVolume>;
  /** Deletes the volume; no-op when it does not exist. Refuses volumes blockplane did not create. */
  delete(name: string): Promise<void>;
}

export interface ProviderOptions {
  runner: CommandRunner;
  /**
   * Run LVM commands with `--driverloaded n` (metadata only, no device nodes). Only for tests on hosts without
   * device-mapper; production never sets it.
   */
  lvmMetadataOnly?: boolean;
}

/** LINSTOR's backing volume name: `<resource>_<volume number as 5 digits>`, e.g. `pvc-1_00000`. */
export function backingVolumeName(resource: string, volumeNumber: number): string {
  return `${resource}_${String(volumeNumber).padStart(5, '0')}`;
}

/** Parses a backing volume name back into resource and volume number, or null for names that are not ours. */
export function parseBackingVolumeName(name: string): { resource: string; volumeNumber: number } | null {
  const m = /^([A-Za-z_][A-Za-z0-9_-]{0,46}[A-Za-z0-9_])_(\d{5})$/.exec(name);
  return m ? { resource: m[1]!, volumeNumber: Number(m[2]) } : null;
}
