/**
 * Pure argv builders for the zfs(8) commands used by the ZFS and ZFS_THIN providers. Nothing here runs a process.
 */

/**
 * The ZFS user property that marks a zvol as created by blockplane (user properties need a `:` in their name,
 * zfsprops(7)). Set locally at create time; list and delete honour only the value {@link BLOCKPLANE_ZFS_VALUE}.
 */
export const BLOCKPLANE_ZFS_PROPERTY = 'blockplane:managed';
/**
 * The value of {@link BLOCKPLANE_ZFS_PROPERTY} on our zvols. Anything else (unset `-`, `no`, ...) is foreign. Caveat:
 * user properties are inherited, so someone setting it on the parent dataset would mark every child as ours; zfs list
 * cannot show the property's source, and we only ever set it locally with `zfs create -o`.
 */
export const BLOCKPLANE_ZFS_VALUE = 'yes';

/**
 * Columns of every zvol listing, in this order. `refreservation` tells thick zvols (a reservation of about volsize)
 * from sparse ones (`-s`, refreservation 0), so a ZFS and a ZFS_THIN pool on the same dataset keep apart.
 */
export const ZFS_VOLUME_COLUMNS = ['name', 'volsize', 'used', 'refer', 'refreservation', BLOCKPLANE_ZFS_PROPERTY] as const;

/** Columns of the pool dataset listing used for capacity and check. */
export const ZFS_POOL_COLUMNS = ['name', 'used', 'available'] as const;

/**
 * zvol sizes are rounded up to this many KiB. zfs refuses a volsize that is not a multiple of volblocksize
 * ("volume size must be a multiple of volume block size"); the default volblocksize is 8 KiB before OpenZFS 2.2 and
 * 16 KiB since, so a multiple of 16 KiB fits both. We never pass `-b`, so no other block size occurs.
 */
export const ZVOL_SIZE_GRANULARITY_KIB = 16n;

/** `sizeKib` rounded up to {@link ZVOL_SIZE_GRANULARITY_KIB}. */
export function zvolSizeKib(sizeKib: bigint): bigint {
  const rest = sizeKib % ZVOL_SIZE_GRANULARITY_KIB;
  return rest === 0n ? sizeKib : sizeKib + ZVOL_SIZE_GRANULARITY_KIB - rest;
}

/**
 * `zfs list -Hp -o name,used,available POOL`: the pool dataset's space (-H: tab-separated without header, -p: exact
 * bytes). `name` is listed too, beyond used/available, so the parser can confirm the line is the dataset asked for.
 * Exit code 1 with "dataset does not exist" on stderr when POOL is missing.
 */
export function zfsListPoolCommand(dataset: string): string[] {
  return ['zfs', 'list', '-Hp', '-o', ZFS_POOL_COLUMNS.join(','), dataset];
}

/**
 * `zfs list -Hp -o name,volsize,used,refer,refreservation,blockplane:managed -t volume -r POOL`: every zvol under
 * POOL (recursively: zfs has no depth-1 filter that fits all versions; the provider keeps direct children only).
 */
export function zfsListVolumesCommand(dataset: string): string[] {
  return ['zfs', 'list', '-Hp', '-o', ZFS_VOLUME_COLUMNS.join(','), '-t', 'volume', '-r', dataset];
}

/** A zvol to create: `POOL/NAME` of `sizeKib` (rounded up, see {@link zvolSizeKib}), sparse when `thin`. */
export interface ZvolCreateRequest {
  dataset: string;
  name: string;
  sizeKib: bigint;
  /** `-s`: no refreservation, space is taken on write (ZFS_THIN). */
  thin: boolean;
}

/** `zfs create -V <n>K [-s] -o blockplane:managed=yes POOL/NAME` (K is 1024 bytes in zfs(8) size suffixes). */
export function zfsCreateCommand(request: ZvolCreateRequest): string[] {
  return [
    'zfs',
    'create',
    '-V',
    `${zvolSizeKib(request.sizeKib)}K`,
    ...(request.thin ? ['-s'] : []),
    '-o',
    `${BLOCKPLANE_ZFS_PROPERTY}=${BLOCKPLANE_ZFS_VALUE}`,
    `${request.dataset}/${request.name}`,
  ];
}

/**
 * `zfs set volsize=<n>K POOL/NAME`. For a thick zvol zfs grows the refreservation along with volsize (it does so
 * while refreservation equals the old volsize's reservation), so the volume stays thick.
 */
export function zfsSetVolsizeCommand(dataset: string, name: string, sizeKib: bigint): string[] {
  return ['zfs', 'set', `volsize=${zvolSizeKib(sizeKib)}K`, `${dataset}/${name}`];
}

/**
 * `zfs destroy POOL/NAME`, deliberately without `-r`: a zvol that has snapshots is refused by zfs rather than having
 * the snapshots destroyed along with it.
 */
export function zfsDestroyCommand(dataset: string, name: string): string[] {
  return ['zfs', 'destroy', `${dataset}/${name}`];
}
