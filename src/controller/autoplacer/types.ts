import type { Props } from '../../common/props/keys.js';
import type { KiB } from '../../common/sizes.js';
import type { ConnectionStatus, NodeType, ProviderKind } from '../../common/vocabulary.js';

/**
 * Input and output types of the autoplacer. The autoplacer works on a {@link PlacementSnapshot}: plain data the
 * caller reads from the database first, so placement itself is pure, deterministic and testable without one.
 */

/** A node as the autoplacer sees it. */
export interface SnapshotNode {
  name: string;
  type: NodeType;
  /** Only ONLINE nodes are candidates. */
  connectionStatus: ConnectionStatus;
  /** The node's own properties: `Aux/...` labels for replicas-on-same/different, `AutoplaceTarget`. */
  props: Props;
}

/** A storage pool as the autoplacer sees it. */
export interface SnapshotPool {
  /** Name of the node the pool is on. */
  node: string;
  name: string;
  providerKind: ProviderKind;
  /**
   * The pool's properties: `AutoplaceTarget`, `MaxOversubscriptionRatio`, `MaxFreeCapacityOversubscriptionRatio`,
   * `MaxTotalCapacityOversubscriptionRatio`, `Autoplacer/MinThinFreeSpace`.
   */
  props: Props;
  /** Last reported capacity; null until the satellite reported it (such a pool cannot take a diskful replica). */
  totalKib: KiB | null;
  freeKib: KiB | null;
  /** Sum of the sizes of the volumes already placed in this pool (created or pending). */
  reservedKib: KiB;
  /** Number of distinct resources with a volume in this pool. */
  resourceCount: number;
  /** The satellite's last error for this pool; a pool with an error is not a candidate. */
  lastError?: string | null;
}

/** An existing resource (replica) of any resource definition. */
export interface SnapshotResource {
  resourceDefinition: string;
  node: string;
  diskless: boolean;
  /** Flagged DELETE: ignored by every filter, but its node cannot get a new replica of the same definition yet. */
  deleting: boolean;
  /** A diskless replica added as quorum tie-breaker. */
  tieBreaker?: boolean;
  /** A diskless replica in DRBD client mode (diskless-on-remaining): it has no quorum vote. */
  client?: boolean;
}

/** Everything the autoplacer may look at. */
export interface PlacementSnapshot {
  nodes: readonly SnapshotNode[];
  pools: readonly SnapshotPool[];
  resources: readonly SnapshotResource[];
  /**
   * Controller properties: `Autoplacer/Weights/*`, oversubscription ratios, `AutoplaceTarget`,
   * `Autoplacer/MinThinFreeSpace`, `DrbdOptions/auto-add-quorum-tiebreaker`.
   */
  controllerProps: Props;
}

/**
 * The select filter after merging the request over the resource group's stored filter (same fields as the
 * resource group columns). `replicasOnSame`/`replicasOnDifferent` entries are node property keys with their
 * namespace (`Aux/site`), optionally `=VALUE`; `xReplicasOnDifferent` maps such a key to a count.
 */
export interface PlacementFilter {
  placeCount?: number | null;
  storagePoolList?: readonly string[] | null;
  storagePoolDisklessList?: readonly string[] | null;
  doNotPlaceWithRsc?: readonly string[] | null;
  doNotPlaceWithRscRegex?: string | null;
  replicasOnSame?: readonly string[] | null;
  replicasOnDifferent?: readonly string[] | null;
  xReplicasOnDifferent?: Readonly<Record<string, number>> | null;
  providerList?: readonly ProviderKind[] | null;
  nodeNameList?: readonly string[] | null;
  disklessOnRemaining?: boolean | null;
}

/** What to place. */
export interface PlacementRequest {
  /** The resource definition that gets the replicas. */
  resourceDefinition: string;
  /** Space one diskful replica needs: the plain sum of the definition's volume sizes. */
  sizeKib: KiB;
  filter: PlacementFilter;
  /**
   * Diskful replicas to add. When absent (or not > 0): `placeCount` (default 2) minus the existing diskful,
   * non-deleting replicas.
   */
  additionalReplicas?: number | null;
  /**
   * Effective properties of the resource definition (inherited from its group); they override the controller's
   * for `Autoplacer/Weights/*`, `Autoplacer/MinThinFreeSpace`, `DrbdOptions/auto-add-quorum-tiebreaker` and
   * `DrbdOptions/Resource/quorum`.
   */
  props?: Props | null;
  /**
   * When not every needed replica can be placed, return the best placement of as many as possible instead of
   * none (`ok` stays false).
   */
  allowPartial?: boolean | null;
}

/** A diskful replica to create. */
export interface Placement {
  node: string;
  pool: string;
  /** The pool's score (sum of weighted, normalized strategy values). */
  score: number;
  /** The node already holds a diskless replica of the definition, which becomes diskful. */
  wasDiskless: boolean;
}

/** A diskless replica to create. */
export interface DisklessPlacement {
  node: string;
  pool: string;
  /** Quorum tie-breaker (votes); otherwise a diskless-on-remaining replica in DRBD client mode (no vote). */
  tieBreaker: boolean;
}

/** Stable classification of a rejection reason. */
export type RejectionCode =
  | 'UNKNOWN_NODE'
  | 'OFFLINE'
  | 'NODE_TYPE'
  | 'NODE_NAME_LIST'
  | 'AUTOPLACE_TARGET'
  | 'HAS_REPLICA'
  | 'REPLICA_DELETING'
  | 'DO_NOT_PLACE_WITH'
  | 'DO_NOT_PLACE_WITH_REGEX'
  | 'REPLICAS_ON_SAME'
  | 'REPLICAS_ON_DIFFERENT'
  | 'X_REPLICAS_ON_DIFFERENT'
  | 'NO_POOLS'
  | 'DISKLESS_POOL'
  | 'POOL_LIST'
  | 'PROVIDER_LIST'
  | 'POOL_ERROR'
  | 'CAPACITY_UNKNOWN'
  | 'NOT_ENOUGH_SPACE'
  | 'MIN_THIN_FREE_SPACE'
  | 'INVALID_PROPERTY'
  | 'SAME_NODE'
  | 'LOWER_SCORE'
  | 'NO_COMBINATION'
  | 'NOT_NEEDED';

/**
 * Why a node (without `pool`: the node as a whole, all its pools included) or one pool was not chosen.
 * `codes[i]` classifies `reasons[i]`.
 */
export interface Rejection {
  node: string;
  pool?: string;
  reasons: string[];
  codes: RejectionCode[];
}

/** The autoplacer's answer. */
export interface PlacementResult {
  /** Every needed diskful replica was placed. */
  ok: boolean;
  /** Diskful replicas that were to be added. */
  needed: number;
  /** Existing diskful, non-deleting replicas of the definition. */
  existingDiskful: number;
  /** Diskful replicas to create, in selection order (best score first). */
  placements: Placement[];
  /** Diskless replicas to create: the tie-breaker (if any) first, then diskless-on-remaining by node name. */
  disklessPlacements: DisklessPlacement[];
  /**
   * Every node or pool that gets no diskful replica (except the DISKLESS pool a diskless replica goes to), sorted by
   * node then pool name; a node rejected as a whole has one entry without `pool`. A node listed here may still get a
   * diskless replica (see `disklessPlacements`).
   */
  rejections: Rejection[];
  /** One paragraph for humans: what was placed, or why not enough could be. */
  explanation: string;
  /** Work done, for tests and diagnostics: `operations` grows linearly with the number of pools. */
  stats: { operations: number; searchSteps: number; searchTruncated: boolean };
}
