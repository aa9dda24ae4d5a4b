import { nameKey } from '../../common/names.js';
import type { DrbdBackendName, DrbdResourceState, DrbdStateReport } from '../../common/protocol/drbd.js';

/** The DRBD state of one replica as its node last reported it. */
export interface StoredDrbdState {
  resource: string;
  node: string;
  backend: DrbdBackendName;
  state: DrbdResourceState;
  /** When the controller received it. */
  at: Date;
  /** Store-wide sequence number of the change that produced it (orders changes against snapshots). */
  seq: number;
}

/** A replica's DRBD state changed; `state` null: no longer known (node offline, resource down on its node). */
export interface DrbdStateChange {
  resource: string;
  node: string;
  state: StoredDrbdState | null;
  seq: number;
  at: Date;
}

type Listener = (change: DrbdStateChange) => void;

/**
 * The controller's view of DRBD state on every node, in memory (like LINSTOR's event cache): DRBD state is runtime
 * state that changes many times a second during a resync, belongs to the satellites, and is sent again in full by
 * each satellite after every (re)connect, so it is rebuilt after a controller restart within one report per node.
 * Writing each progress step to the database would spend its transaction budget on data nobody needs after a
 * restart. What is durable (volume lifecycle, DRBD_INITIALIZED) goes to the database from the report handler.
 *
 * When a node disconnects its states are dropped, so health becomes UNKNOWN rather than a stale UpToDate.
 */
export class DrbdStateStore {
  /** node name key -> resource name key -> state */
  private readonly nodes = new Map<string, Map<string, StoredDrbdState>>();
  private readonly listeners = new Set<Listener>();
  private seq = 0;

  /** The latest sequence number handed out; a snapshot taken now includes every change up to it. */
  get sequence(): number {
    return this.seq;
  }

  /** Applies a satellite's report; returns the changes (also delivered to listeners). */
  apply(node: string, report: DrbdStateReport): DrbdStateChange[] {
    const key = nameKey(node);
    let resources = this.nodes.get(key);
    if (!resources) this.nodes.set(key, (resources = new Map()));
    const at = new Date();
    const changes: DrbdStateChange[] = [];
    const seen = new Set<string>();
    for (const state of report.resources) {
      const rkey = nameKey(state.resource);
      seen.add(rkey);
      const before = resources.get(rkey);
      if (before && before.backend === report.backend && sameState(before.state, state)) continue;
      const stored: StoredDrbdState = { resource: state.resource, node, backend: report.backend, state, at, seq: ++this.seq };
      resources.set(rkey, stored);
      changes.push({ resource: state.resource, node, state: stored, seq: stored.seq, at });
    }
    const removed = report.full ? [...resources.keys()].filter((k) => !seen.has(k)) : report.removed.map(nameKey);
    for (const rkey of removed) {
      const before = resources.get(rkey);
      if (!before) continue;
      resources.delete(rkey);
      changes.push({ resource: before.resource, node, state: null, seq: ++this.seq, at });
    }
    this.deliver(changes);
    return changes;
  }

  /** Forgets everything about a node (its satellite disconnected): every state it had becomes unknown. */
  forgetNode(node: string): DrbdStateChange[] {
    const resources = this.nodes.get(nameKey(node));
    if (!resources) return [];
    this.nodes.delete(nameKey(node));
    const at = new Date();
    const changes = [...resources.values()].map((s) => ({ resource: s.resource, node: s.node, state: null, seq: ++this.seq, at }));
    this.deliver(changes);
    return changes;
  }

  get(resource: string, node: string): StoredDrbdState | null {
    return this.nodes.get(nameKey(node))?.get(nameKey(resource)) ?? null;
  }

  /** Every known state, optionally of one resource and/or one node. */
  list(filter: { resource?: string | null; node?: string | null } = {}): StoredDrbdState[] {
    const result: StoredDrbdState[] = [];
    const nodes = filter.node ? [this.nodes.get(nameKey(filter.node))] : [...this.nodes.values()];
    for (const resources of nodes) {
      if (!resources) continue;
      if (filter.resource) {
        const s = resources.get(nameKey(filter.resource));
        if (s) result.push(s);
      } else result.push(...resources.values());
    }
    return result;
  }

  /** Listeners registered now (each live drbdState stream holds one). */
  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Registers a listener for changes; returns the function that removes it. */
  listen(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private deliver(changes: DrbdStateChange[]): void {
    for (const change of changes) {
      for (const listener of this.listeners) {
        try {
          listener(change);
        } catch {
          // A broken subscriber must not break the report or its siblings.
        }
      }
    }
  }
}

function sameState(a: DrbdResourceState, b: DrbdResourceState): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
