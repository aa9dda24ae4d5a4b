/**
 * The emulated kernel's objects and how they print as `drbdsetup events2` lines.
 *
 * Each object keeps the full state DRBD reports for it. `exists`/`create` lines print the identifying keys and every
 * state key; `change` lines print the identifying keys and only the keys that changed, as drbdsetup does; `destroy`
 * lines print the identifying keys. Key names, order and value spelling follow drbdsetup (yes/no booleans, `done:`
 * with two decimals, printed only while a resync has progress).
 */
import type { DrbdConnectionState, DrbdDiskState, DrbdReplicationState, DrbdRole } from '../../../../common/protocol/drbd.js';

export type Events2LineAction = 'exists' | 'create' | 'change' | 'destroy';

/** `resource` object. */
export interface ResourceFields {
  role: DrbdRole;
  suspended: boolean;
  mayPromote: boolean;
  promotionScore: number;
}

/** `connection` object: one peer. */
export interface ConnectionFields {
  connection: DrbdConnectionState;
  /** The peer's role; Unknown while not connected. */
  role: DrbdRole;
}

/** `device` object: one local volume. */
export interface DeviceFields {
  disk: DrbdDiskState;
  client: boolean;
  quorum: boolean;
}

/** `peer-device` object: one volume towards one peer. */
export interface PeerDeviceFields {
  replication: DrbdReplicationState;
  peerDisk: DrbdDiskState;
  peerClient: boolean;
  /** Resync progress in percent; null when no resync runs (not printed). */
  done: number | null;
}

type FieldValue = string | number | boolean | null;

/** events2 key of each field, in drbdsetup's order. */
const KEYS = {
  resource: [
    ['role', 'role'],
    ['suspended', 'suspended'],
    ['mayPromote', 'may_promote'],
    ['promotionScore', 'promotion_score'],
  ],
  connection: [
    ['connection', 'connection'],
    ['role', 'role'],
  ],
  device: [
    ['disk', 'disk'],
    ['client', 'client'],
    ['quorum', 'quorum'],
  ],
  'peer-device': [
    ['replication', 'replication'],
    ['peerDisk', 'peer-disk'],
    ['peerClient', 'peer-client'],
    ['done', 'done'],
  ],
} as const;

type ObjectKind = keyof typeof KEYS;

function formatValue(field: string, value: FieldValue): string | null {
  if (value === null) return null;
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (field === 'done' && typeof value === 'number') return value.toFixed(2);
  return String(value);
}

function tokens(kind: ObjectKind, fields: object, only: ReadonlySet<string> | null): string[] {
  const out: string[] = [];
  const values = fields as Record<string, FieldValue>;
  for (const [field, key] of KEYS[kind]) {
    if (only !== null && !only.has(field)) continue;
    const text = formatValue(field, values[field] ?? null);
    if (text !== null) out.push(`${key}:${text}`);
  }
  return out;
}

/** One events2 line: `<action> <object> <identity> [<fields>]`. */
export function formatLine(action: Events2LineAction, kind: ObjectKind, identity: string, fields?: object): string {
  const rest = fields === undefined ? [] : tokens(kind, fields, null);
  return [action, kind, identity, ...rest].join(' ');
}

/**
 * Applies `patch` to `target` and returns the `change` line for what really changed, or null when nothing did.
 * A `done` going to null changes state without printing (drbdsetup simply stops printing it).
 */
export function changeLine<T extends object>(kind: ObjectKind, identity: string, target: T, patch: Partial<T>): string | null {
  const changed = new Set<string>();
  const values = target as Record<string, FieldValue>;
  for (const [field, value] of Object.entries(patch) as [string, FieldValue][]) {
    if (value === undefined || values[field] === value) continue;
    values[field] = value;
    changed.add(field);
  }
  if (changed.size === 0) return null;
  const printed = tokens(kind, target, changed);
  return printed.length === 0 ? null : ['change', kind, identity, ...printed].join(' ');
}

/** Identifying keys of each object, as drbdsetup prints them. */
export const identity = {
  resource: (name: string): string => `name:${name}`,
  connection: (name: string, peerNodeId: number, connName: string): string =>
    `name:${name} peer-node-id:${peerNodeId} conn-name:${connName}`,
  device: (name: string, volume: number, minor: number): string => `name:${name} volume:${volume} minor:${minor}`,
  peerDevice: (name: string, peerNodeId: number, connName: string, volume: number): string =>
    `name:${name} peer-node-id:${peerNodeId} conn-name:${connName} volume:${volume}`,
};
