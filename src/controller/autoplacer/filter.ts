import { DEFAULT_DISKLESS_STORAGE_POOL, nameKey } from '../../common/names.js';
import type { Props } from '../../common/props/keys.js';
import { STORAGE_NODE_TYPES } from '../../common/vocabulary.js';
import { describeShortfall, estimateCapacity, isThin, minThinFreeSpace, type CapacityEstimate } from './capacity.js';
import { describeDifferent, type PlacementRules } from './constraints.js';
import { compareNames, humanKiB, nameList } from './format.js';
import type { PlacementFilter, RejectionCode, SnapshotNode, SnapshotPool, SnapshotResource } from './types.js';

/**
 * Step 1 of the autoplacer (linstor-facts 4.2, LINSTOR's StorPoolFilter): decides, for every node and pool of the
 * snapshot, whether it can take a new replica, and says why not. Node rules are checked once per node, pool rules
 * once per pool; nothing here depends on which other pools get chosen (that is select.ts).
 */

export const PROP_AUTOPLACE_TARGET = 'AutoplaceTarget';

/** One reason against a node or pool. */
export interface Reason {
  code: RejectionCode;
  message: string;
}

/** The verdict on one pool of a node that passed the node rules. */
export interface PoolVerdict {
  pool: SnapshotPool;
  /** Empty: the pool is a diskful candidate. */
  reasons: Reason[];
  /** The capacity estimate, when capacity is known and the ratios are valid. */
  estimate?: CapacityEstimate;
}

/** The verdict on one node. */
export interface NodeVerdict {
  node: SnapshotNode;
  /** Reasons against any diskful replica on this node; non-empty means its pools were not looked at. */
  reasons: Reason[];
  /** Reasons against a diskless replica (tie-breaker, diskless-on-remaining) on this node. */
  disklessReasons: Reason[];
  /** The node holds a non-deleting diskless replica of the definition (it may become diskful). */
  holdsDiskless: boolean;
  /** Every pool of the node, sorted by name; empty when the node itself is rejected. */
  pools: PoolVerdict[];
  /** The DISKLESS pool a diskless replica would use, when the node has an allowed one. */
  disklessPool: SnapshotPool | null;
}

/** A pool that passed every filter, with its score once rated (see rate.ts); the unit select.ts works on. */
export interface Candidate {
  node: string;
  pool: string;
  score: number;
  nodeProps: Props;
  verdict: NodeVerdict;
  poolVerdict: PoolVerdict;
  /** The node holds a diskless replica of the definition, which would become diskful. */
  wasDiskless: boolean;
  /** For rating: last reported free space, reserved space and resource count of the pool. */
  freeKib: bigint;
  reservedKib: bigint;
  resourceCount: number;
}

/** Input of {@link filterCandidates}. */
export interface FilterInput {
  nodes: readonly SnapshotNode[];
  pools: readonly SnapshotPool[];
  resources: readonly SnapshotResource[];
  controllerProps: Props;
  /** Effective properties of the resource definition (for Autoplacer/MinThinFreeSpace). */
  definitionProps: Props;
  resourceDefinition: string;
  sizeKib: bigint;
  filter: PlacementFilter;
  rules: PlacementRules;
  /** Work counter: one step per node, pool and resource looked at. */
  counter: { operations: number };
}

/** Result of {@link filterCandidates}. */
export interface FilterOutcome {
  /** Every node of the snapshot, sorted by name. */
  nodes: NodeVerdict[];
  /** Pools whose node is not in the snapshot. */
  orphanPools: SnapshotPool[];
}

function isFalse(value: string | undefined): boolean {
  return value !== undefined && value.trim().toLowerCase() === 'false';
}

function inList(list: readonly string[] | null | undefined, name: string): boolean {
  const key = nameKey(name);
  return (list ?? []).some((entry) => nameKey(entry) === key);
}

/**
 * Applies every node and pool rule of the select filter (linstor-facts 4.2) and returns a verdict with reasons
 * for every node and pool. Node rules (all reported, not only the first): online; a storage node type; node name
 * list (case-insensitive); `AutoplaceTarget=false` on the node, or on the controller unless the node overrides it;
 * no replica of the definition yet (a diskless one may become diskful; a deleting one blocks until it is gone,
 * because a node holds one resource per definition); do-not-place-with names (case-insensitive) and regex
 * (case-insensitive, matched anywhere in the name) against the node's other non-deleting resources;
 * replicas-on-same (node must have the key, and the fixed value when there is one); replicas-on-different
 * (forbidden values, values whose count is used up by existing replicas; a node without the key is not
 * constrained, as in LINSTOR). Pool rules: not DISKLESS; storage pool list (case-insensitive); provider list;
 * `AutoplaceTarget=false` on the pool; no error reported; capacity reported; usable estimate (with thin
 * oversubscription) >= size; thin pools keep `Autoplacer/MinThinFreeSpace` of reported free space.
 * Pure: reads only its input.
 */
export function filterCandidates(input: FilterInput): FilterOutcome {
  const { filter, rules, counter } = input;
  const ownKey = nameKey(input.resourceDefinition);
  const resourcesByNode = new Map<string, SnapshotResource[]>();
  for (const rsc of input.resources) {
    counter.operations++;
    const key = nameKey(rsc.node);
    const list = resourcesByNode.get(key);
    if (list) list.push(rsc);
    else resourcesByNode.set(key, [rsc]);
  }
  const poolsByNode = new Map<string, SnapshotPool[]>();
  for (const pool of input.pools) {
    const key = nameKey(pool.node);
    const list = poolsByNode.get(key);
    if (list) list.push(pool);
    else poolsByNode.set(key, [pool]);
  }

  let regex: RegExp | null = null;
  let regexError: string | null = null;
  if (filter.doNotPlaceWithRscRegex) {
    try {
      regex = new RegExp(filter.doNotPlaceWithRscRegex, 'i');
    } catch (e) {
      regexError = `do-not-place-with regex ${filter.doNotPlaceWithRscRegex} is invalid: ${(e as Error).message}`;
    }
  }

  const nodes = [...input.nodes].sort((a, b) => compareNames(a.name, b.name));
  const verdicts: NodeVerdict[] = [];
  for (const node of nodes) {
    counter.operations++;
    const key = nameKey(node.name);
    /** Reasons against any replica, diskful or diskless. */
    const hard: Reason[] = [];
    /** Reasons that only concern diskful replicas (placement of data across failure domains). */
    const dataOnly: Reason[] = [];
    const disklessOnly: Reason[] = [];

    if (node.connectionStatus !== 'ONLINE') hard.push({ code: 'OFFLINE', message: `node offline (${node.connectionStatus})` });
    if (!STORAGE_NODE_TYPES.includes(node.type)) hard.push({ code: 'NODE_TYPE', message: `node type ${node.type} cannot hold replicas` });
    if ((filter.nodeNameList ?? []).length > 0 && !inList(filter.nodeNameList, node.name)) {
      hard.push({ code: 'NODE_NAME_LIST', message: `not in node name list (${nameList(filter.nodeNameList ?? [])})` });
    }
    const nodeTarget = node.props[PROP_AUTOPLACE_TARGET];
    if (isFalse(nodeTarget)) hard.push({ code: 'AUTOPLACE_TARGET', message: `${PROP_AUTOPLACE_TARGET}=false on node` });
    else if (nodeTarget === undefined && isFalse(input.controllerProps[PROP_AUTOPLACE_TARGET])) {
      hard.push({ code: 'AUTOPLACE_TARGET', message: `${PROP_AUTOPLACE_TARGET}=false on controller` });
    }

    let holdsDiskless = false;
    let holdsDiskful = false;
    const listed: string[] = [];
    const matched: string[] = [];
    for (const rsc of resourcesByNode.get(key) ?? []) {
      counter.operations++;
      if (nameKey(rsc.resourceDefinition) === ownKey) {
        if (rsc.deleting) {
          hard.push({ code: 'REPLICA_DELETING', message: `a replica of ${input.resourceDefinition} is still being deleted there` });
        } else if (rsc.diskless) {
          holdsDiskless = true;
          disklessOnly.push({ code: 'HAS_REPLICA', message: `already holds a diskless replica of ${input.resourceDefinition}` });
        } else {
          holdsDiskful = true;
          hard.push({ code: 'HAS_REPLICA', message: `already holds a replica of ${input.resourceDefinition}` });
        }
        continue;
      }
      if (rsc.deleting) continue;
      if (inList(filter.doNotPlaceWithRsc, rsc.resourceDefinition)) listed.push(rsc.resourceDefinition);
      if (regex?.test(rsc.resourceDefinition)) matched.push(rsc.resourceDefinition);
    }
    listed.sort(compareNames);
    matched.sort(compareNames);
    if (listed.length > 0) {
      hard.push({ code: 'DO_NOT_PLACE_WITH', message: `do-not-place-with ${nameList(listed)} (holds ${listed.length === 1 ? 'it' : 'them'})` });
    }
    if (matched.length > 0) {
      hard.push({ code: 'DO_NOT_PLACE_WITH_REGEX', message: `do-not-place-with regex ${filter.doNotPlaceWithRscRegex} matches ${nameList(matched)}` });
    }
    if (regexError) hard.push({ code: 'DO_NOT_PLACE_WITH_REGEX', message: regexError });

    // A node with a diskful replica is out anyway; judging it against the values its own replica fixed would only
    // add noise ("value 'a' already used by <itself>").
    for (const rule of holdsDiskful ? [] : rules.same) {
      const value = node.props[rule.key];
      if (rule.conflict) {
        dataOnly.push({ code: 'REPLICAS_ON_SAME', message: `replicas-on-same ${rule.key} is undecidable: ${rule.conflict}` });
      } else if (value === undefined) {
        dataOnly.push({ code: 'REPLICAS_ON_SAME', message: `replicas-on-same ${rule.key}: node has no ${rule.key}` });
      } else if (rule.fixed !== null && value !== rule.fixed) {
        dataOnly.push({
          code: 'REPLICAS_ON_SAME',
          message:
            rule.required !== null
              ? `replicas-on-same ${rule.key}=${rule.required}: node has ${rule.key}='${value}'`
              : `replicas-on-same ${rule.key}: value '${value}' differs from '${rule.fixed}' of ${rule.fixedBy}`,
        });
      }
    }
    for (const rule of holdsDiskful ? [] : rules.different) {
      const value = node.props[rule.key];
      if (value === undefined) continue;
      const code = rule.label === 'x-replicas-on-different' ? 'X_REPLICAS_ON_DIFFERENT' : 'REPLICAS_ON_DIFFERENT';
      if (rule.forbidden.includes(value)) {
        dataOnly.push({ code: 'REPLICAS_ON_DIFFERENT', message: `replicas-on-different ${rule.key}=${value}: node has ${rule.key}='${value}'` });
        continue;
      }
      const users = rule.existing.get(value) ?? [];
      if (users.length >= rule.max) {
        dataOnly.push({ code, message: `${describeDifferent(rule)}: value '${value}' already used by ${nameList(users)}` });
      }
    }

    const nodePools = [...(poolsByNode.get(key) ?? [])].sort((a, b) => compareNames(a.name, b.name));
    poolsByNode.delete(key);
    const reasons = [...hard, ...dataOnly];
    if (nodePools.length === 0 && reasons.length === 0) reasons.push({ code: 'NO_POOLS', message: 'node has no storage pools' });
    const pools = reasons.length > 0 ? [] : nodePools.map((pool) => judgePool(pool, node, input));

    verdicts.push({
      node,
      reasons,
      disklessReasons: [...hard, ...disklessOnly],
      holdsDiskless,
      pools,
      disklessPool: pickDisklessPool(nodePools, filter),
    });
  }
  const orphanPools = [...poolsByNode.values()].flat().sort((a, b) => compareNames(a.node, b.node) || compareNames(a.name, b.name));
  return { nodes: verdicts, orphanPools };
}

/** The diskful candidates of a filter outcome (pools without reasons on nodes without reasons), score 0. */
export function collectCandidates(outcome: FilterOutcome): Candidate[] {
  const candidates: Candidate[] = [];
  for (const verdict of outcome.nodes) {
    for (const poolVerdict of verdict.pools) {
      const { pool } = poolVerdict;
      if (poolVerdict.reasons.length > 0 || pool.freeKib === null) continue;
      candidates.push({
        node: verdict.node.name,
        pool: pool.name,
        score: 0,
        nodeProps: verdict.node.props,
        verdict,
        poolVerdict,
        wasDiskless: verdict.holdsDiskless,
        freeKib: pool.freeKib,
        reservedKib: pool.reservedKib,
        resourceCount: pool.resourceCount,
      });
    }
  }
  return candidates;
}

function judgePool(pool: SnapshotPool, node: SnapshotNode, input: FilterInput): PoolVerdict {
  const { filter } = input;
  input.counter.operations++;
  if (pool.providerKind === 'DISKLESS') {
    return { pool, reasons: [{ code: 'DISKLESS_POOL', message: 'diskless pool: a diskful replica needs storage' }] };
  }
  const reasons: Reason[] = [];
  if ((filter.storagePoolList ?? []).length > 0 && !inList(filter.storagePoolList, pool.name)) {
    reasons.push({ code: 'POOL_LIST', message: `not in storage pool list (${nameList(filter.storagePoolList ?? [])})` });
  }
  if ((filter.providerList ?? []).length > 0 && !(filter.providerList ?? []).includes(pool.providerKind)) {
    reasons.push({ code: 'PROVIDER_LIST', message: `provider ${pool.providerKind} not in provider list (${(filter.providerList ?? []).join(', ')})` });
  }
  if (isFalse(pool.props[PROP_AUTOPLACE_TARGET])) reasons.push({ code: 'AUTOPLACE_TARGET', message: `${PROP_AUTOPLACE_TARGET}=false on pool` });
  if (pool.lastError) reasons.push({ code: 'POOL_ERROR', message: `pool reports an error: ${pool.lastError}` });
  if (pool.totalKib === null || pool.freeKib === null) {
    reasons.push({ code: 'CAPACITY_UNKNOWN', message: 'capacity never reported by the satellite' });
    return { pool, reasons };
  }
  const estimate = estimateCapacity({ ...pool, totalKib: pool.totalKib, freeKib: pool.freeKib }, input.controllerProps);
  if ('invalid' in estimate) {
    reasons.push({ code: 'INVALID_PROPERTY', message: `invalid oversubscription ratio: ${estimate.invalid}` });
    return { pool, reasons };
  }
  if (estimate.usableKib < input.sizeKib) reasons.push({ code: 'NOT_ENOUGH_SPACE', message: describeShortfall(estimate, input.sizeKib) });
  if (isThin(pool.providerKind)) {
    const min = minThinFreeSpace(pool.totalKib, [
      { origin: 'pool', props: pool.props },
      { origin: 'resource definition', props: input.definitionProps },
      { origin: 'node', props: node.props },
      { origin: 'controller', props: input.controllerProps },
    ]);
    if ('invalid' in min) {
      reasons.push({ code: 'INVALID_PROPERTY', message: `invalid ${min.invalid}` });
    } else if (pool.freeKib < min.minKib) {
      reasons.push({ code: 'MIN_THIN_FREE_SPACE', message: `pool thin: ${humanKiB(pool.freeKib)} free, below the minimum of ${min.describe}` });
    }
  }
  return { pool, reasons, estimate };
}

/**
 * The DISKLESS pool a diskless replica on this node would use: the first of `storagePoolDisklessList` (in list
 * order) the node has, or without a list DfltDisklessStorPool, else the first by name; pools with
 * `AutoplaceTarget=false` are skipped.
 */
function pickDisklessPool(pools: readonly SnapshotPool[], filter: PlacementFilter): SnapshotPool | null {
  const usable = pools.filter((p) => p.providerKind === 'DISKLESS' && !isFalse(p.props[PROP_AUTOPLACE_TARGET]));
  const list = filter.storagePoolDisklessList ?? [];
  if (list.length > 0) {
    for (const name of list) {
      const found = usable.find((p) => nameKey(p.name) === nameKey(name));
      if (found) return found;
    }
    return null;
  }
  return usable.find((p) => nameKey(p.name) === nameKey(DEFAULT_DISKLESS_STORAGE_POOL)) ?? usable[0] ?? null;
}
