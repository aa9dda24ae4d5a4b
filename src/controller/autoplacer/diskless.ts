import { nameKey } from '../../common/names.js';
import type { Props } from '../../common/props/keys.js';
import type { PlacementRules } from './constraints.js';
import type { NodeVerdict } from './filter.js';
import { compareNames } from './format.js';
import type { DisklessPlacement } from './types.js';

/**
 * Diskless replicas the autoplacer adds next to the diskful ones (linstor-facts 4.1 step 6 and 4.5 TieBreaker):
 * a quorum tie-breaker for an even number of diskful replicas, and DRBD clients on every remaining node when the
 * filter asks for diskless-on-remaining.
 */

export const PROP_AUTO_ADD_QUORUM_TIEBREAKER = 'DrbdOptions/auto-add-quorum-tiebreaker';
export const PROP_QUORUM = 'DrbdOptions/Resource/quorum';

/** Input of {@link needsTieBreaker}. */
export interface TieBreakerNeed {
  /** Diskful, non-deleting replicas after this placement. */
  diskfulCount: number;
  /** Non-deleting diskless replicas that vote (not DRBD clients): an existing tie-breaker or a user's diskless. */
  votingDisklessCount: number;
  /** Property layers, highest priority first (definition, controller). */
  props: readonly Props[];
}

function lookup(layers: readonly Props[], key: string): string | undefined {
  for (const props of layers) {
    const value = props[key];
    if (value !== undefined) return value;
  }
  return undefined;
}

/**
 * True when a tie-breaker should be added (LINSTOR CtrlRscAutoTieBreakerHelper): the diskful count is even and at
 * least 2, no voting diskless replica exists, `DrbdOptions/auto-add-quorum-tiebreaker` is not 'false' (LINSTOR
 * sets it to true on fresh controllers) and `DrbdOptions/Resource/quorum` is not 'off'.
 */
export function needsTieBreaker(need: TieBreakerNeed): boolean {
  if (need.diskfulCount < 2 || need.diskfulCount % 2 !== 0 || need.votingDisklessCount > 0) return false;
  if (lookup(need.props, PROP_AUTO_ADD_QUORUM_TIEBREAKER)?.trim().toLowerCase() === 'false') return false;
  return lookup(need.props, PROP_QUORUM)?.trim().toLowerCase() !== 'off';
}

/** Input of {@link placeDiskless}. */
export interface DisklessInput {
  verdicts: readonly NodeVerdict[];
  /** Nodes (names) that get a new diskful replica. */
  chosen: readonly string[];
  /** Node properties of every diskful replica after this placement (existing and new). */
  diskfulNodeProps: readonly Props[];
  rules: PlacementRules;
  tieBreaker: boolean;
  disklessOnRemaining: boolean;
}

/** Result of {@link placeDiskless}. */
export interface DisklessOutcome {
  placements: DisklessPlacement[];
  /** Set when a tie-breaker was needed but no node could take it. */
  tieBreakerMissing: boolean;
}

/**
 * Places diskless replicas. Eligible nodes pass every node rule that is not about where data lives (online,
 * storage node type, node name list, AutoplaceTarget, do-not-place-with, no replica of the definition at all),
 * have an allowed DISKLESS pool (storage-pool-diskless-list) and get no new diskful replica. replicas-on-same and
 * replicas-on-different do not apply: a diskless replica holds no data, and a tie-breaker is most useful outside
 * the diskful replicas' failure domains. So the tie-breaker goes to the eligible node sharing the fewest
 * replicas-on-different values with the diskful replicas, ties by node name; diskless-on-remaining then covers
 * every other eligible node, by name.
 */
export function placeDiskless(input: DisklessInput): DisklessOutcome {
  const chosen = new Set(input.chosen.map(nameKey));
  const eligible = input.verdicts.filter(
    (v) => v.disklessReasons.length === 0 && v.disklessPool !== null && !chosen.has(nameKey(v.node.name)),
  );
  const placements: DisklessPlacement[] = [];
  let tieBreakerNode: string | null = null;
  if (input.tieBreaker && eligible.length > 0) {
    const overlap = (props: Props): number =>
      input.rules.different.reduce((n, rule) => {
        const value = props[rule.key];
        return value === undefined ? n : n + input.diskfulNodeProps.filter((p) => p[rule.key] === value).length;
      }, 0);
    const ranked = eligible
      .map((v) => ({ v, overlap: overlap(v.node.props) }))
      .sort((a, b) => a.overlap - b.overlap || compareNames(a.v.node.name, b.v.node.name));
    const pick = ranked[0]!.v;
    tieBreakerNode = pick.node.name;
    placements.push({ node: pick.node.name, pool: pick.disklessPool!.name, tieBreaker: true });
  }
  if (input.disklessOnRemaining) {
    for (const v of eligible) {
      if (v.node.name === tieBreakerNode) continue;
      placements.push({ node: v.node.name, pool: v.disklessPool!.name, tieBreaker: false });
    }
  }
  return { placements, tieBreakerMissing: input.tieBreaker && tieBreakerNode === null };
}
