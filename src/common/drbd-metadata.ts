/**
 * Size arithmetic of DRBD's internal metadata, which lives at the end of the backing device: a 4 KiB superblock,
 * a 32 KiB activity log (DRBD's default: one 4 KiB-aligned stripe of 32 KiB) and a bitmap with one bit per 4 KiB of
 * data for every peer slot. The storage layer must allocate the net size plus this, or the DRBD device would offer
 * less than the volume definition promises (LINSTOR does the same conversion between net and gross sizes).
 */

/** Peer slots written by create-md when nothing else is configured (LINSTOR's default `PeerSlotsNewResource`). */
export const DEFAULT_PEER_SLOTS = 7;

const SUPERBLOCK_KIB = 4n;
const ACTIVITY_LOG_KIB = 32n;

function alignUp(value: bigint, to: bigint): bigint {
  return ((value + to - 1n) / to) * to;
}

/**
 * KiB of internal metadata for a device of `netKib` with `peerSlots` bitmap slots. Conservative: every per-peer
 * bitmap is rounded up to 64-bit words and the total to 4 KiB, which is never less than what drbdmeta reserves.
 */
export function drbdMetadataKib(netKib: bigint, peerSlots: number): bigint {
  if (netKib < 0n) throw new RangeError('netKib must not be negative');
  if (!Number.isInteger(peerSlots) || peerSlots < 1 || peerSlots > 31) throw new RangeError('peerSlots must be an integer from 1 to 31');
  const bitsPerPeer = alignUp((netKib + 3n) / 4n, 64n);
  const bitmapBytes = (bitsPerPeer / 8n) * BigInt(peerSlots);
  const bitmapKib = alignUp((bitmapBytes + 1023n) / 1024n, 4n);
  return SUPERBLOCK_KIB + ACTIVITY_LOG_KIB + bitmapKib;
}

/** The backing device size needed so that DRBD offers `netKib`. */
export function drbdGrossSizeKib(netKib: bigint, peerSlots: number = DEFAULT_PEER_SLOTS): bigint {
  return netKib + drbdMetadataKib(netKib, peerSlots);
}

/** What DRBD offers on a backing device of `grossKib` (the inverse of {@link drbdGrossSizeKib}, rounded down). */
export function drbdNetSizeKib(grossKib: bigint, peerSlots: number = DEFAULT_PEER_SLOTS): bigint {
  // The metadata grows with the net size, so search the largest net size that still fits.
  let lo = 0n;
  let hi = grossKib;
  while (lo < hi) {
    const mid = (lo + hi + 1n) / 2n;
    if (drbdGrossSizeKib(mid, peerSlots) <= grossKib) lo = mid;
    else hi = mid - 1n;
  }
  return lo;
}
