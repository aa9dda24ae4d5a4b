import { nameKey } from '../../common/names.js';
import type { KiB } from '../../common/sizes.js';
import { describeDifferent, type ExistingReplicaNode, type PlacementRules } from './constraints.js';
import type { Candidate, FilterOutcome, NodeVerdict, Reason } from './filter.js';
import { compareNames, formatScore, humanKiB, nameList } from './format.js';
import { compareCandidates } from './select.js';
import type { DisklessPlacement, Rejection, RejectionCode } from './types.js';

/**
 * The autoplacer's account of itself: a rejection with reasons for every node and pool that did not get a diskful
 * replica, and one paragraph that says what was placed or why not enough could be.
 */

/** What the explanation needs to know about the run. */
export interface RunFacts {
  resourceDefinition: string;
  sizeKib: KiB;
  placeCount: number;
  needed: number;
  existing: readonly ExistingReplicaNode[];
  rules: PlacementRules;
  outcome: FilterOutcome;
  /** Every diskful candidate, rated. */
  candidates: readonly Candidate[];
  /** The diskful selection used (all needed, or the best partial one, or empty). */
  chosen: readonly Candidate[];
  ok: boolean;
  /** Most diskful replicas that fit together (equals `needed` when ok). */
  maxPlaceable: number;
  disklessPlacements: readonly DisklessPlacement[];
  tieBreakerMissing: boolean;
  truncated: boolean;
  searchSteps: number;
}

const EPSILON = 1e-9;

/**
 * Why `candidate`, which passed every filter, was not chosen: conflicts with the chosen pools (same node,
 * replicas-on-same value, replicas-on-different values already used by existing or chosen replicas), else its
 * score compared with the chosen ones, else "no valid combination".
 */
function selectionReasons(candidate: Candidate, facts: RunFacts, bestOnNode: Candidate): Reason[] {
  if (facts.needed === 0) {
    return [{ code: 'NOT_NEEDED', message: `no diskful replica needed: ${facts.resourceDefinition} has ${facts.existing.length} (place count ${facts.placeCount})` }];
  }
  const { chosen } = facts;
  const sameNode = chosen.find((c) => nameKey(c.node) === nameKey(candidate.node));
  if (sameNode) return [{ code: 'SAME_NODE', message: `node gets its replica in pool ${sameNode.pool} (one replica per node)` }];
  const reasons: Reason[] = [];
  const first = chosen[0];
  if (first) {
    for (const rule of facts.rules.same) {
      if (rule.fixed !== null || rule.conflict !== null) continue;
      const mine = candidate.nodeProps[rule.key];
      const theirs = first.nodeProps[rule.key];
      if (mine !== theirs) {
        reasons.push({ code: 'REPLICAS_ON_SAME', message: `replicas-on-same ${rule.key}: value '${mine}' differs from '${theirs}' of ${first.node}` });
      }
    }
    for (const rule of facts.rules.different) {
      const value = candidate.nodeProps[rule.key];
      if (value === undefined) continue;
      const users = [...(rule.existing.get(value) ?? []), ...chosen.filter((c) => c.nodeProps[rule.key] === value).map((c) => c.node)];
      if (users.length >= rule.max) {
        reasons.push({
          code: rule.label === 'x-replicas-on-different' ? 'X_REPLICAS_ON_DIFFERENT' : 'REPLICAS_ON_DIFFERENT',
          message: `${describeDifferent(rule)}: value '${value}' already used by ${nameList(users)}`,
        });
      }
    }
  }
  if (reasons.length > 0) return reasons;
  if (bestOnNode !== candidate) {
    return [{ code: 'LOWER_SCORE', message: `pool ${bestOnNode.pool} on the same node ranks higher (score ${formatScore(bestOnNode.score)} vs ${formatScore(candidate.score)})` }];
  }
  if (!facts.ok && chosen.length === 0) {
    return [{ code: 'NO_COMBINATION', message: `eligible, but no valid combination of ${facts.needed} replicas exists (see explanation)` }];
  }
  const lowest = chosen.reduce((min, c) => Math.min(min, c.score), Infinity);
  if (candidate.score < lowest - EPSILON * Math.max(1, Math.abs(lowest))) {
    return [{ code: 'LOWER_SCORE', message: `score ${formatScore(candidate.score)} below the chosen pools (lowest ${formatScore(lowest)})` }];
  }
  if (candidate.score <= lowest + EPSILON * Math.max(1, Math.abs(lowest))) {
    return [{ code: 'LOWER_SCORE', message: `score ${formatScore(candidate.score)} ties with the chosen pools; ties go to the node name that sorts first` }];
  }
  const partial = facts.rules.different.some((r) => r.max > 1) ? ' (at most one x-replicas-on-different group may be partially filled)' : '';
  return [{ code: 'NO_COMBINATION', message: `score ${formatScore(candidate.score)}, but not part of the best valid combination${partial}` }];
}

function rejection(node: string, pool: string | undefined, reasons: readonly Reason[]): Rejection {
  const r: Rejection = { node, reasons: reasons.map((x) => x.message), codes: reasons.map((x) => x.code) };
  if (pool !== undefined) r.pool = pool;
  return r;
}

/**
 * A rejection for every node and pool that gets no diskful replica, sorted by node then pool name, a node as a
 * whole (no `pool`) when a node rule rejected it. Excluded: the chosen pools and the DISKLESS pool a diskless
 * replica goes to. Rejections are about diskful replicas: a rejected node may still get a diskless one.
 */
export function buildRejections(facts: RunFacts): Rejection[] {
  const chosenKeys = new Set(facts.chosen.map((c) => `${nameKey(c.node)}\u0000${nameKey(c.pool)}`));
  const disklessKeys = new Set(facts.disklessPlacements.map((d) => `${nameKey(d.node)}\u0000${nameKey(d.pool)}`));
  const byPool = new Map(facts.candidates.map((c) => [`${nameKey(c.node)}\u0000${nameKey(c.pool)}`, c]));
  const bestOnNode = new Map<string, Candidate>();
  for (const c of facts.candidates) {
    const key = nameKey(c.node);
    const current = bestOnNode.get(key);
    if (!current || compareCandidates(c, current) < 0) bestOnNode.set(key, c);
  }
  const out: Rejection[] = [];
  for (const verdict of facts.outcome.nodes) {
    const name = verdict.node.name;
    if (verdict.reasons.length > 0) {
      out.push(rejection(name, undefined, verdict.reasons));
      continue;
    }
    for (const pv of verdict.pools) {
      const key = `${nameKey(name)}\u0000${nameKey(pv.pool.name)}`;
      if (chosenKeys.has(key) || disklessKeys.has(key)) continue;
      const candidate = byPool.get(key);
      const reasons = candidate ? selectionReasons(candidate, facts, bestOnNode.get(nameKey(name))!) : pv.reasons;
      out.push(rejection(name, pv.pool.name, reasons));
    }
  }
  for (const pool of facts.outcome.orphanPools) {
    out.push(rejection(pool.node, pool.name, [{ code: 'UNKNOWN_NODE', message: `node ${pool.node} is not in the snapshot` }]));
  }
  const comparePools = (a?: string, b?: string): number => (a === b ? 0 : a === undefined ? -1 : b === undefined ? 1 : compareNames(a, b));
  return out.sort((a, b) => compareNames(a.node, b.node) || comparePools(a.pool, b.pool));
}

/** How a reason code reads in the summary: "N nodes <label>" / "N pools <label>". */
const SUMMARY_LABELS: Partial<Record<RejectionCode, string>> = {
  UNKNOWN_NODE: 'on nodes missing from the snapshot',
  OFFLINE: 'offline',
  NODE_TYPE: 'of a type that cannot hold replicas',
  NODE_NAME_LIST: 'not in the node name list',
  AUTOPLACE_TARGET: 'with AutoplaceTarget=false',
  HAS_REPLICA: 'already holding a replica',
  REPLICA_DELETING: 'still deleting a replica',
  DO_NOT_PLACE_WITH: 'excluded by do-not-place-with',
  DO_NOT_PLACE_WITH_REGEX: 'excluded by the do-not-place-with regex',
  REPLICAS_ON_SAME: 'excluded by replicas-on-same',
  REPLICAS_ON_DIFFERENT: 'excluded by replicas-on-different',
  X_REPLICAS_ON_DIFFERENT: 'excluded by x-replicas-on-different',
  NO_POOLS: 'without storage pools',
  POOL_LIST: 'not in the storage pool list',
  PROVIDER_LIST: 'with a provider not in the provider list',
  POOL_ERROR: 'reporting an error',
  CAPACITY_UNKNOWN: 'with capacity never reported',
  NOT_ENOUGH_SPACE: 'without enough space',
  MIN_THIN_FREE_SPACE: 'below Autoplacer/MinThinFreeSpace',
  INVALID_PROPERTY: 'with an invalid property',
};

/** "2 nodes offline (n6, n7); 3 pools without enough space (n5:p1, ...)": filter reasons by frequency. */
function summarizeFilterReasons(outcome: FilterOutcome): string {
  const nodes = new Map<RejectionCode, string[]>();
  const pools = new Map<RejectionCode, string[]>();
  const add = (map: Map<RejectionCode, string[]>, code: RejectionCode, what: string): void => {
    if (!SUMMARY_LABELS[code]) return;
    const list = map.get(code) ?? [];
    if (!list.includes(what)) list.push(what);
    map.set(code, list);
  };
  for (const v of outcome.nodes) {
    for (const r of v.reasons) add(nodes, r.code, v.node.name);
    for (const pv of v.pools) for (const r of pv.reasons) add(pools, r.code, `${v.node.name}:${pv.pool.name}`);
  }
  for (const pool of outcome.orphanPools) add(pools, 'UNKNOWN_NODE', `${pool.node}:${pool.name}`);
  const codes = Object.keys(SUMMARY_LABELS) as RejectionCode[];
  const entries = [
    ...[...nodes].map(([code, names]) => ({ code, names, noun: names.length === 1 ? 'node' : 'nodes' })),
    ...[...pools].map(([code, names]) => ({ code, names, noun: names.length === 1 ? 'pool' : 'pools' })),
  ].sort((a, b) => b.names.length - a.names.length || codes.indexOf(a.code) - codes.indexOf(b.code));
  return entries.map((e) => `${e.names.length} ${e.noun} ${SUMMARY_LABELS[e.code]} (${nameList(e.names, 4)})`).join('; ');
}

/** Why a node is not a candidate, in one line: its node reasons, else its pools' reasons. */
function whyNot(verdict: NodeVerdict): string {
  if (verdict.reasons.length > 0) return verdict.reasons.map((r) => r.message).join('; ');
  const pools = verdict.pools.filter((pv) => pv.reasons.length > 0 && pv.pool.providerKind !== 'DISKLESS');
  if (pools.length === 0) return 'no diskful storage pool';
  return pools.map((pv) => `${pv.pool.name}: ${pv.reasons.map((r) => r.message).join('; ')}`).join('; ');
}

/** Sentences naming the node-property rules that keep the candidates below `needed`. */
function ruleSentences(facts: RunFacts, bestPerNode: readonly Candidate[]): string[] {
  const sentences: string[] = [];
  const { needed, rules } = facts;
  for (const rule of rules.same) {
    if (rule.conflict) continue; // said by explainRun in any case
    if (rule.fixed !== null) {
      if (bestPerNode.length < needed) {
        sentences.push(`replicas-on-same ${rule.key} requires '${rule.fixed}' (set by ${rule.fixedBy}), and only ${bestPerNode.length} usable node${bestPerNode.length === 1 ? ' has' : 's have'} it.`);
      }
      continue;
    }
    const byValue = new Map<string, string[]>();
    for (const c of bestPerNode) {
      const v = c.nodeProps[rule.key]!;
      byValue.set(v, [...(byValue.get(v) ?? []), c.node]);
    }
    const largest = [...byValue].sort((a, b) => b[1].length - a[1].length || compareNames(a[0], b[0]))[0];
    if (largest && largest[1].length < needed) {
      sentences.push(
        `replicas-on-same ${rule.key} needs all ${needed} replicas on nodes with one value, but at most ${largest[1].length} usable node${largest[1].length === 1 ? '' : 's'} share one ('${largest[0]}': ${nameList(largest[1])}).`,
      );
    }
  }
  for (const rule of rules.different) {
    const byValue = new Map<string, string[]>();
    let withoutKey = 0;
    for (const c of bestPerNode) {
      const v = c.nodeProps[rule.key];
      if (v === undefined) withoutKey++;
      else byValue.set(v, [...(byValue.get(v) ?? []), c.node]);
    }
    let admits = withoutKey;
    for (const [v, nodes] of byValue) admits += Math.max(0, Math.min(rule.max - (rule.existing.get(v)?.length ?? 0), nodes.length));
    if (admits >= needed) continue;
    const covered = [...byValue].sort((a, b) => compareNames(a[0], b[0])).map(([v, nodes]) => `'${v}' (${nameList(nodes)})`);
    const parts = [
      `${describeDifferent(rule)} admits at most ${admits} new replica${admits === 1 ? '' : 's'}: ${covered.length > 0 ? `usable nodes cover ${covered.join(', ')}` : 'no usable node has a value'}${withoutKey > 0 ? ` and ${withoutKey} usable node${withoutKey === 1 ? ' has' : 's have'} no ${rule.key}` : ''}`,
    ];
    const missing = new Map<string, NodeVerdict[]>();
    for (const v of facts.outcome.nodes) {
      const value = v.node.props[rule.key];
      if (value === undefined || byValue.has(value)) continue;
      missing.set(value, [...(missing.get(value) ?? []), v]);
    }
    for (const [value, verdicts] of [...missing].sort((a, b) => compareNames(a[0], b[0]))) {
      if (rule.forbidden.includes(value)) {
        parts.push(`'${value}' is excluded by replicas-on-different ${rule.key}=${value}`);
      } else if ((rule.existing.get(value)?.length ?? 0) >= rule.max) {
        parts.push(`'${value}' is used up by existing replica${rule.max === 1 ? '' : 's'} ${nameList(rule.existing.get(value)!)}`);
      } else {
        const shown = verdicts.slice(0, 5).map((v) => `${v.node.name} (${whyNot(v)})`);
        const more = verdicts.length > 5 ? ` and ${verdicts.length - 5} more` : '';
        parts.push(`'${value}' has no usable node: ${shown.join(', ')}${more}`);
      }
    }
    sentences.push(`${parts.join('; ')}.`);
  }
  return sentences;
}

/** The one-paragraph explanation of a placement run. */
export function explainRun(facts: RunFacts): string {
  const rd = facts.resourceDefinition;
  const existingNote =
    facts.existing.length > 0 ? ` next to ${facts.existing.length} existing (${nameList(facts.existing.map((e) => e.name))})` : '';
  const describeChosen = (list: readonly Candidate[]): string => list.map((c) => `${c.node} (${c.pool}${c.wasDiskless ? ', was diskless' : ''})`).join(', ');
  const diskless = (): string[] => {
    const out: string[] = [];
    const tie = facts.disklessPlacements.find((d) => d.tieBreaker);
    if (tie) out.push(`Added a diskless tie-breaker on ${tie.node} (${tie.pool}) for the even number of diskful replicas.`);
    const clients = facts.disklessPlacements.filter((d) => !d.tieBreaker).map((d) => d.node);
    if (clients.length > 0) out.push(`Added diskless replicas on the remaining nodes: ${nameList(clients, 10)}.`);
    if (facts.tieBreakerMissing) out.push('An even number of diskful replicas wants a diskless tie-breaker, but no node can take one.');
    return out;
  };

  if (facts.ok) {
    const head =
      facts.needed === 0
        ? `${rd} already has ${facts.existing.length} diskful replica${facts.existing.length === 1 ? '' : 's'} (place count ${facts.placeCount}); no diskful replica added.`
        : `Placed ${facts.needed} diskful replica${facts.needed === 1 ? '' : 's'} of ${rd} (${humanKiB(facts.sizeKib)} each)${existingNote}: ${describeChosen(facts.chosen)}.`;
    return [head, ...diskless()].join(' ');
  }

  const bestPerNode = new Map<string, Candidate>();
  for (const c of facts.candidates) {
    const key = nameKey(c.node);
    const current = bestPerNode.get(key);
    if (!current || compareCandidates(c, current) < 0) bestPerNode.set(key, c);
  }
  const usable = [...bestPerNode.values()];
  const sentences: string[] = [];
  const verdictNodes = facts.outcome.nodes.length;
  sentences.push(
    `Cannot place ${facts.needed} diskful replica${facts.needed === 1 ? '' : 's'} of ${rd} (${humanKiB(facts.sizeKib)} each)${existingNote}: ` +
      (facts.maxPlaceable === 0 ? 'none can be placed.' : `at most ${facts.maxPlaceable} can be placed together.`),
  );
  sentences.push(`${usable.length} of ${verdictNodes} node${verdictNodes === 1 ? '' : 's'} ${usable.length === 1 || verdictNodes === 1 ? 'has' : 'have'} a usable storage pool${usable.length > 0 ? ` (${nameList(usable.map((c) => c.node).sort(compareNames), 8)})` : ''}.`);
  // With fewer usable nodes than replicas the filters are the story (summarized below); only when there are enough
  // do the replicas-on-same/different rules explain the shortfall.
  for (const rule of facts.rules.same) {
    if (rule.conflict) sentences.push(`replicas-on-same ${rule.key} is undecidable: ${rule.conflict}.`);
  }
  const rules = usable.length >= facts.needed ? ruleSentences(facts, usable) : [];
  sentences.push(...rules);
  if (rules.length === 0 && usable.length >= facts.needed) {
    const x = facts.rules.different.some((r) => r.max > 1) ? ' (at most one x-replicas-on-different group may be partially filled)' : '';
    sentences.push(`No combination of ${facts.needed} usable nodes satisfies the replicas-on-same/different rules together${x}.`);
  }
  const summary = summarizeFilterReasons(facts.outcome);
  if (summary) sentences.push(`Rejected: ${summary}.`);
  if (facts.truncated) {
    sentences.push(`The search stopped after ${facts.searchSteps} steps, so a valid combination may have been missed; narrow the filter (node or storage pool list) and retry.`);
  }
  if (facts.chosen.length > 0) {
    sentences.push(`Partial placement: ${facts.chosen.length} diskful replica${facts.chosen.length === 1 ? '' : 's'} on ${describeChosen(facts.chosen)}.`);
    sentences.push(...diskless());
  }
  return sentences.join(' ');
}
