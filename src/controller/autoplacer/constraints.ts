import type { Props } from '../../common/props/keys.js';
import { nameList } from './format.js';
import type { PlacementFilter } from './types.js';

/**
 * The node-property rules of a select filter (replicas-on-same, replicas-on-different, x-replicas-on-different),
 * parsed once and combined with the replicas that already exist. Filter, selection and explanation all read them
 * from here so they can never disagree.
 */

/** replicas-on-same KEY or KEY=VALUE. */
export interface SameRule {
  key: string;
  /** VALUE of a `KEY=VALUE` entry; null for a plain KEY. */
  required: string | null;
  /** The value every new replica's node must have: `required`, else the one value the existing replicas share. */
  fixed: string | null;
  /** Who fixed the value, for messages: "the filter" or "existing replica n1". */
  fixedBy: string;
  /** Set when the value cannot be decided: existing replicas (or filter entries) disagree. */
  conflict: string | null;
}

/** replicas-on-different KEY / KEY=VALUE and x-replicas-on-different KEY COUNT, merged per key. */
export interface DifferentRule {
  key: string;
  /** Replicas allowed per value: the x-replicas-on-different count, else 1. */
  max: number;
  /** Name used in messages. */
  label: 'replicas-on-different' | 'x-replicas-on-different';
  /** Values no replica may use (`KEY=VALUE` entries). */
  forbidden: string[];
  /** Value -> nodes of existing diskful replicas with that value. */
  existing: Map<string, string[]>;
}

export interface PlacementRules {
  same: SameRule[];
  different: DifferentRule[];
}

/** A node that already holds a diskful, non-deleting replica. */
export interface ExistingReplicaNode {
  name: string;
  props: Props;
}

function splitEntry(entry: string): { key: string; value: string | null } {
  const eq = entry.indexOf('=');
  return eq < 0 ? { key: entry, value: null } : { key: entry.slice(0, eq), value: entry.slice(eq + 1) };
}

function valuesOf(key: string, nodes: readonly ExistingReplicaNode[]): Map<string, string[]> {
  const values = new Map<string, string[]>();
  for (const node of nodes) {
    const value = node.props[key];
    if (value === undefined) continue;
    const list = values.get(value) ?? [];
    list.push(node.name);
    values.set(value, list);
  }
  return values;
}

/**
 * Parses the node-property rules of `filter` against the nodes of the existing diskful replicas.
 *
 * - replicas-on-same `KEY=VALUE`: new replicas need VALUE. Plain `KEY`: new replicas need the value the existing
 *   replicas share; when they disagree the rule is undecidable (`conflict`), as LINSTOR's
 *   FAIL_UNDECIDABLE_AUTOPLACMENT. Existing replicas on nodes without KEY do not fix a value.
 * - replicas-on-different / x-replicas-on-different are merged per key, as LINSTOR does: `KEY=VALUE` forbids VALUE
 *   and, like a plain `KEY`, allows one replica per other value unless x-replicas-on-different gives a count.
 */
export function parseRules(filter: PlacementFilter, existing: readonly ExistingReplicaNode[]): PlacementRules {
  const same = new Map<string, SameRule>();
  for (const entry of filter.replicasOnSame ?? []) {
    const { key, value } = splitEntry(entry);
    const rule = same.get(key) ?? { key, required: null, fixed: null, fixedBy: 'the filter', conflict: null };
    if (value !== null) {
      if (rule.required !== null && rule.required !== value) {
        rule.conflict = `the filter asks for both ${key}=${rule.required} and ${key}=${value}`;
      }
      rule.required ??= value;
    }
    same.set(key, rule);
  }
  for (const rule of same.values()) {
    if (rule.required !== null) {
      rule.fixed = rule.required;
      continue;
    }
    const values = valuesOf(rule.key, existing);
    if (values.size === 1) {
      const [[value, nodes]] = [...values] as [[string, string[]]];
      rule.fixed = value;
      rule.fixedBy = `existing replica${nodes.length > 1 ? 's' : ''} ${nameList(nodes)}`;
    } else if (values.size > 1) {
      const described = [...values].map(([v, nodes]) => `'${v}' (${nameList(nodes)})`).join(', ');
      rule.conflict = `existing replicas disagree on ${rule.key}: ${described}`;
    }
  }

  const different = new Map<string, DifferentRule>();
  const differentRule = (key: string): DifferentRule => {
    let rule = different.get(key);
    if (!rule) {
      rule = { key, max: 1, label: 'replicas-on-different', forbidden: [], existing: valuesOf(key, existing) };
      different.set(key, rule);
    }
    return rule;
  };
  for (const entry of filter.replicasOnDifferent ?? []) {
    const { key, value } = splitEntry(entry);
    const rule = differentRule(key);
    if (value !== null && !rule.forbidden.includes(value)) rule.forbidden.push(value);
  }
  for (const [key, count] of Object.entries(filter.xReplicasOnDifferent ?? {})) {
    const rule = differentRule(key);
    rule.max = count;
    rule.label = 'x-replicas-on-different';
  }
  return { same: [...same.values()], different: [...different.values()] };
}

/** "replicas-on-different Aux/site" or "x-replicas-on-different Aux/site (2 per value)", for messages. */
export function describeDifferent(rule: DifferentRule): string {
  return rule.label === 'x-replicas-on-different' ? `${rule.label} ${rule.key} (${rule.max} per value)` : `${rule.label} ${rule.key}`;
}
