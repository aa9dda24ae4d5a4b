import type { DesiredVolume } from '../../common/protocol/satellite.js';
import type { ProviderKind } from '../../common/vocabulary.js';
import { backingVolumeName, parseBackingVolumeName, type ActualVolume } from '../layers/storage/provider.js';

/**
 * What the reconciler must do for one volume of one pool: the pure result of comparing the pool's desired volumes
 * with what its provider listed (STYLE rule 7). Applying an action is idempotent, so a pass interrupted anywhere
 * (crash, kill -9) is finished by the next one.
 */
export type VolumeAction =
  /** Missing: create it. */
  | { kind: 'create'; name: string; desired: DesiredVolume; sizeKib: bigint }
  /**
   * Present but its device is gone (loop devices do not survive a reboot): `create()` attaches it again and grows
   * it if it is also too small.
   */
  | { kind: 'attach'; name: string; desired: DesiredVolume; sizeKib: bigint; actual: ActualVolume }
  /** Present but smaller than desired: grow it (providers never shrink). */
  | { kind: 'resize'; name: string; desired: DesiredVolume; sizeKib: bigint; actual: ActualVolume }
  /** Present and large enough: nothing to do, report it as it is. */
  | { kind: 'keep'; name: string; desired: DesiredVolume; actual: ActualVolume }
  /** Ours (listed by the provider) but no longer desired: delete it. */
  | { kind: 'delete'; name: string; resource: string; volumeNumber: number; actual: ActualVolume }
  /** The desired volume cannot be realized as given (e.g. a malformed size); reported FAILED, nothing is run. */
  | { kind: 'invalid'; name: string; desired: DesiredVolume; error: string };

/**
 * Provider kinds whose volumes can exist without a device: FILE and FILE_THIN keep the backing file across a reboot
 * but lose its loop device, and `list()` then reports `devicePath: null`. For the other kinds a null device path is
 * normal (LVM metadata-only mode in tests) and must not cause a create on every pass.
 */
const DEVICE_MAY_DETACH: ReadonlySet<ProviderKind> = new Set<ProviderKind>(['FILE', 'FILE_THIN']);

/** A desired size: a decimal string of KiB, at least 1. */
export function parseSizeKib(sizeKib: string): bigint | null {
  if (!/^[0-9]{1,20}$/.test(sizeKib)) return null;
  const value = BigInt(sizeKib);
  return value >= 1n ? value : null;
}

/**
 * The actions that make one pool's actual volumes match its desired ones. Deletions come first (they free space the
 * creations may need), then everything else in backing-name order, so the plan is deterministic.
 *
 * Only volumes the provider listed are ever deleted, and providers list only what blockplane created (tagged or named
 * as ours); a listed name that is not a LINSTOR backing volume name is left alone, because it cannot have come from a
 * desired volume.
 *
 * @param desired the pool's desired volumes (all with `pool` equal to this pool)
 * @param actual what `provider.list()` returned for the pool
 * @param kind the pool's provider kind (decides whether a missing device means "attach again")
 */
export function diffPoolVolumes(
  desired: readonly DesiredVolume[],
  actual: readonly ActualVolume[],
  kind: ProviderKind,
  /** Names desired anywhere on the node: never deleted from this pool (see reconcile()). */
  protectedNames: { has(name: string): boolean } = new Set<string>(),
): VolumeAction[] {
  const actualByName = new Map(actual.map((a) => [a.name, a]));
  const desiredNames = new Set<string>();
  const upserts: VolumeAction[] = [];
  for (const d of desired) {
    const name = backingVolumeName(d.resource, d.volumeNumber);
    desiredNames.add(name);
    const sizeKib = parseSizeKib(d.sizeKib);
    const existing = actualByName.get(name);
    if (sizeKib === null) {
      upserts.push({ kind: 'invalid', name, desired: d, error: `invalid size '${d.sizeKib}' KiB (expected a whole number of KiB, at least 1)` });
    } else if (!existing) {
      upserts.push({ kind: 'create', name, desired: d, sizeKib });
    } else if (existing.devicePath === null && DEVICE_MAY_DETACH.has(kind)) {
      upserts.push({ kind: 'attach', name, desired: d, sizeKib, actual: existing });
    } else if (existing.sizeKib < sizeKib) {
      upserts.push({ kind: 'resize', name, desired: d, sizeKib, actual: existing });
    } else {
      upserts.push({ kind: 'keep', name, desired: d, actual: existing });
    }
  }
  const deletes: VolumeAction[] = [];
  for (const a of actual) {
    if (desiredNames.has(a.name) || protectedNames.has(a.name)) continue;
    const parsed = parseBackingVolumeName(a.name);
    if (parsed) deletes.push({ kind: 'delete', name: a.name, resource: parsed.resource, volumeNumber: parsed.volumeNumber, actual: a });
  }
  const byName = (x: VolumeAction, y: VolumeAction) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0);
  return [...deletes.sort(byName), ...upserts.sort(byName)];
}
