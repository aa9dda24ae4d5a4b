import { nameKey } from '../../common/names.js';
import type { Props } from '../../common/props/keys.js';
import type { PlacementRules } from './constraints.js';
import { compareNames } from './format.js';

/**
 * Step 3 of the autoplacer (linstor-facts 4.4, LINSTOR's Selector/SelectionManager): picks `count` candidate pools,
 * at most one per node, that obey replicas-on-same, replicas-on-different and x-replicas-on-different, with the
 * highest summed score.
 *
 * How it stays cheap. All rules look only at node properties, so nodes with equal values for the rule keys are
 * interchangeable: they form a class, and from a class the best members are always the ones to take. The search
 * therefore runs over classes, not pools:
 * 1. one pass keeps each node's best pool and files it under its group (values of the replicas-on-same keys that
 *    no existing replica fixes) and class (values of the replicas-on-different keys), keeping only the best
 *    `count` members per class;
 * 2. per group, a depth-first search decides how many members to take from each class (largest first), with
 *    backtracking, pruned by (a) the best score still reachable (top remaining members, ignoring rules) and
 *    (b) the replicas each replicas-on-different key can still admit (per value: min(remaining count, members
 *    left)). Recursion depth is at most `count`.
 * Without same/different rules there is one class: cost is one pass over the pools plus O(count^2) search steps.
 * A step budget guards pathological rule combinations; when it runs out the best valid selection found so far is
 * kept and the result says the search was truncated.
 */

/** A candidate pool with its score and its node's properties. */
export interface SelectCandidate {
  node: string;
  pool: string;
  score: number;
  nodeProps: Props;
}

/** Work counters shared with the caller. */
export interface SelectCounter {
  operations: number;
  searchSteps: number;
}

export interface SelectInput<C extends SelectCandidate> {
  /** Candidate pools, any number per node, any order. */
  candidates: readonly C[];
  /** Pools to select (new replicas). */
  count: number;
  rules: PlacementRules;
  counter: SelectCounter;
  /**
   * Maximum of `counter.searchSteps` (default {@link DEFAULT_SEARCH_BUDGET}). The counter may carry steps of
   * earlier calls, so callers that share one counter share one budget.
   */
  budget?: number;
}

export interface SelectOutcome<C extends SelectCandidate> {
  /** The chosen pools ordered by score desc, node, pool; null when no valid selection of `count` exists. */
  selected: C[] | null;
  /** The step budget ran out: a better selection (or, when `selected` is null, any) may exist. */
  truncated: boolean;
}

export const DEFAULT_SEARCH_BUDGET = 1_000_000;

/** The autoplacer's order: score descending, then node name, then pool name. */
export function compareCandidates(a: SelectCandidate, b: SelectCandidate): number {
  if (a.score !== b.score) return b.score - a.score;
  return compareNames(a.node, b.node) || compareNames(a.pool, b.pool);
}

interface Class<C> {
  /** Per replicas-on-different rule: value id, or -1 when the node has no value for that key. */
  valueIds: number[];
  /** Best members, sorted, at most `count`. */
  members: C[];
  /** prefix[m] = summed score of the best m members. */
  prefix: number[];
}

interface Group<C> {
  classes: Map<string, Class<C>>;
  best: C;
}

/**
 * Selects `count` pools obeying the rules with the highest summed score; among equal sums the search keeps the
 * first it finds, which prefers higher-scored and then alphabetically earlier nodes. Deterministic: the result
 * depends only on the input values, never on input order. Candidates that break a rule on their own (missing a
 * replicas-on-same key, a fixed or forbidden value, a value already used up by existing replicas) are ignored.
 */
export function selectPools<C extends SelectCandidate>(input: SelectInput<C>): SelectOutcome<C> {
  const { count, rules, counter } = input;
  if (count <= 0) return { selected: [], truncated: false };
  const budget = input.budget ?? DEFAULT_SEARCH_BUDGET;
  const compare = (a: C, b: C): number => {
    counter.operations++;
    return compareCandidates(a, b);
  };

  // 1. Best pool per node.
  const bestPerNode = new Map<string, C>();
  for (const candidate of input.candidates) {
    counter.operations++;
    const key = nameKey(candidate.node);
    const current = bestPerNode.get(key);
    if (!current || compare(candidate, current) < 0) bestPerNode.set(key, candidate);
  }

  // Value ids per different-rule, existing usage per value id.
  const different = rules.different;
  const ids = different.map(() => new Map<string, number>());
  const idOf = (j: number, value: string): number => {
    const map = ids[j]!;
    let id = map.get(value);
    if (id === undefined) {
      id = map.size;
      map.set(value, id);
    }
    return id;
  };
  const existingUse = different.map((rule, j) => {
    const used: number[] = [];
    for (const [value, nodes] of rule.existing) used[idOf(j, value)] = nodes.length;
    return used;
  });
  const unfixedSame = rules.same.filter((r) => r.fixed === null && r.conflict === null);
  // An undecidable replicas-on-same rule (existing replicas disagree) admits no candidate at all.
  const sameBlocked = rules.same.some((r) => r.conflict !== null);

  // 2. Groups and classes, keeping the best `count` members of each class.
  const groups = new Map<string, Group<C>>();
  for (const candidate of sameBlocked ? [] : bestPerNode.values()) {
    counter.operations++;
    const props = candidate.nodeProps;
    let fits = true;
    for (const rule of rules.same) {
      const value = props[rule.key];
      if (value === undefined || (rule.fixed !== null && value !== rule.fixed)) fits = false;
    }
    const valueIds: number[] = [];
    different.forEach((rule, j) => {
      const value = props[rule.key];
      if (value === undefined) {
        valueIds.push(-1);
        return;
      }
      const id = idOf(j, value);
      if (rule.forbidden.includes(value) || (existingUse[j]![id] ?? 0) >= rule.max) fits = false;
      valueIds.push(id);
    });
    if (!fits) continue;
    const groupKey = JSON.stringify(unfixedSame.map((r) => props[r.key]));
    const classKey = valueIds.join(',');
    let group = groups.get(groupKey);
    if (!group) {
      group = { classes: new Map(), best: candidate };
      groups.set(groupKey, group);
    } else if (compare(candidate, group.best) < 0) {
      group.best = candidate;
    }
    let cls = group.classes.get(classKey);
    if (!cls) {
      cls = { valueIds, members: [], prefix: [] };
      group.classes.set(classKey, cls);
    }
    insertBounded(cls.members, candidate, count, compare, counter);
  }

  // 3. Search each group, best group first; the best sum found so far prunes the later groups too.
  const state: SearchState<C> = { bestSum: -Infinity, best: null, truncated: false, budget, counter };
  const orderedGroups = [...groups.values()].sort((a, b) => compare(a.best, b.best));
  for (const group of orderedGroups) {
    if (state.truncated) break;
    searchGroup(group, count, rules, existingUse, ids, state, compare);
  }
  const selected = state.best ? [...state.best].sort(compareCandidates) : null;
  return { selected, truncated: state.truncated };
}

/** Inserts `item` into the sorted `list`, keeping at most `limit` items. */
function insertBounded<C>(list: C[], item: C, limit: number, compare: (a: C, b: C) => number, counter: SelectCounter): void {
  if (list.length >= limit && compare(item, list[list.length - 1]!) >= 0) return;
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compare(item, list[mid]!) < 0) hi = mid;
    else lo = mid + 1;
  }
  list.splice(lo, 0, item);
  counter.operations += list.length - lo;
  if (list.length > limit) list.pop();
}

interface SearchState<C> {
  bestSum: number;
  best: C[] | null;
  truncated: boolean;
  budget: number;
  counter: SelectCounter;
}

function searchGroup<C extends SelectCandidate>(
  group: Group<C>,
  count: number,
  rules: PlacementRules,
  existingUse: readonly number[][],
  ids: readonly Map<string, number>[],
  state: SearchState<C>,
  compare: (a: C, b: C) => number,
): void {
  const { counter } = state;
  const classes = [...group.classes.values()].sort((a, b) => compare(a.members[0]!, b.members[0]!));
  for (const cls of classes) {
    cls.prefix = [0];
    for (const member of cls.members) cls.prefix.push(cls.prefix[cls.prefix.length - 1]! + member.score);
  }
  const C = classes.length;

  // suffixTop[c][r]: summed score of the best r members of classes c..C-1, ignoring the rules (an upper bound).
  const suffixTop: number[][] = new Array<number[]>(C + 1);
  suffixTop[C] = [0];
  let scores: number[] = [];
  for (let c = C - 1; c >= 0; c--) {
    scores = mergeDesc(classes[c]!.members.map((m) => m.score), scores, count);
    counter.operations += scores.length;
    const prefix = [0];
    for (const s of scores) prefix.push(prefix[prefix.length - 1]! + s);
    suffixTop[c] = prefix;
  }

  // Per different-rule bookkeeping: used count and members left per value id, members without the key, and how
  // many replicas the classes not yet passed could still admit (`avail`).
  const different = rules.different;
  const used = different.map((_, j) => {
    const arr = new Array<number>(ids[j]!.size).fill(0);
    existingUse[j]!.forEach((n, id) => (arr[id] = n ?? 0));
    return arr;
  });
  const left = different.map((_, j) => new Array<number>(ids[j]!.size).fill(0));
  const nullLeft = different.map(() => 0);
  for (const cls of classes) {
    different.forEach((_, j) => {
      const id = cls.valueIds[j]!;
      if (id < 0) nullLeft[j] = nullLeft[j]! + cls.members.length;
      else left[j]![id] = left[j]![id]! + cls.members.length;
    });
  }
  const admit = (j: number, id: number): number => Math.max(0, Math.min(different[j]!.max - used[j]![id]!, left[j]![id]!));
  const isPartial = (j: number, id: number): number => {
    const u = used[j]![id]!;
    return u > 0 && u < different[j]!.max ? 1 : 0;
  };
  const avail = different.map((_, j) => {
    let total = nullLeft[j]!;
    for (let id = 0; id < ids[j]!.size; id++) total += admit(j, id);
    return total;
  });
  const partial = different.map((_, j) => {
    let n = 0;
    for (let id = 0; id < ids[j]!.size; id++) n += isPartial(j, id);
    return n;
  });
  // LINSTOR allows at most one partially filled x-replicas-on-different group; existing replicas that already
  // leave more partial groups must not make every further placement impossible, so they set the allowance.
  const allowedPartial = partial.map((n) => Math.max(1, n));

  /** Moves class c out of the "not yet passed" set, taking m members from it. */
  const take = (c: number, m: number): void => {
    const cls = classes[c]!;
    const n = cls.members.length;
    for (let j = 0; j < different.length; j++) {
      const id = cls.valueIds[j]!;
      if (id < 0) {
        nullLeft[j] = nullLeft[j]! - n;
        avail[j] = avail[j]! - n;
        continue;
      }
      const before = admit(j, id);
      const partialBefore = isPartial(j, id);
      used[j]![id] = used[j]![id]! + m;
      left[j]![id] = left[j]![id]! - n;
      avail[j] = avail[j]! + admit(j, id) - before;
      partial[j] = partial[j]! + isPartial(j, id) - partialBefore;
    }
  };
  const untake = (c: number, m: number): void => {
    const cls = classes[c]!;
    const n = cls.members.length;
    for (let j = 0; j < different.length; j++) {
      const id = cls.valueIds[j]!;
      if (id < 0) {
        nullLeft[j] = nullLeft[j]! + n;
        avail[j] = avail[j]! + n;
        continue;
      }
      const before = admit(j, id);
      const partialBefore = isPartial(j, id);
      used[j]![id] = used[j]![id]! - m;
      left[j]![id] = left[j]![id]! + n;
      avail[j] = avail[j]! + admit(j, id) - before;
      partial[j] = partial[j]! + isPartial(j, id) - partialBefore;
    }
  };
  const capacity = (c: number, r: number): number => {
    const cls = classes[c]!;
    let cap = Math.min(r, cls.members.length);
    for (let j = 0; j < different.length; j++) {
      const id = cls.valueIds[j]!;
      if (id >= 0) cap = Math.min(cap, different[j]!.max - used[j]![id]!);
    }
    return Math.max(0, cap);
  };
  const couldBeat = (sum: number): boolean =>
    state.bestSum === -Infinity || sum > state.bestSum + 1e-9 * Math.max(1, Math.abs(state.bestSum));

  const picks: [c: number, m: number][] = [];
  const leaf = (sum: number): void => {
    for (let j = 0; j < different.length; j++) if (partial[j]! > allowedPartial[j]!) return;
    if (!couldBeat(sum)) return;
    state.bestSum = sum;
    state.best = picks.flatMap(([c, m]) => classes[c]!.members.slice(0, m));
  };

  const search = (from: number, r: number, sum: number): void => {
    let c = from;
    for (; c < C; c++) {
      counter.searchSteps++;
      counter.operations++;
      if (counter.searchSteps > state.budget) {
        state.truncated = true;
        break;
      }
      const top = suffixTop[c]!;
      if (top.length - 1 < r) break; // fewer members left than replicas to place
      if (!couldBeat(sum + top[r]!)) break; // even the best members left cannot beat the best selection
      if (avail.some((a) => a < r)) break; // some replicas-on-different key cannot admit r more
      for (let m = capacity(c, r); m >= 1; m--) {
        take(c, m);
        picks.push([c, m]);
        const total = sum + classes[c]!.prefix[m]!;
        if (m === r) leaf(total);
        else search(c + 1, r - m, total);
        picks.pop();
        untake(c, m);
        if (state.truncated) break;
      }
      take(c, 0);
      if (state.truncated) {
        c++;
        break;
      }
    }
    for (let k = c - 1; k >= from; k--) untake(k, 0);
  };
  search(0, count, 0);
}

/** Merges two descending lists, keeping the first `limit` values. */
function mergeDesc(a: readonly number[], b: readonly number[], limit: number): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (out.length < limit && (i < a.length || j < b.length)) {
    if (j >= b.length || (i < a.length && a[i]! >= b[j]!)) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}
