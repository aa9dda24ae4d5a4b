import { DrbdStateStore } from '../drbd/state-store.js';
import { AsyncQueue } from './queue.js';

/**
 * In-process event bus. Services publish after their transaction commits; events carry ids and names, never
 * entities, so a subscriber re-reads what it needs in its own unit of work.
 */

/** Kinds of object a model event can be about. */
export const MODEL_KINDS = [
  'CONTROLLER',
  'NODE',
  'NET_INTERFACE',
  'STORAGE_POOL',
  'RESOURCE_GROUP',
  'VOLUME_GROUP',
  'RESOURCE_DEFINITION',
  'VOLUME_DEFINITION',
  'RESOURCE',
  'VOLUME',
  'PLACEMENT_JOB',
] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

export const MODEL_ACTIONS = ['CREATED', 'MODIFIED', 'DELETED'] as const;
export type ModelAction = (typeof MODEL_ACTIONS)[number];

/** Something in the desired state changed. `path` names the object, e.g. ['n1', 'pool1'] for a storage pool. */
export interface ModelEvent {
  kind: ModelKind;
  action: ModelAction;
  uuid: string | null;
  path: string[];
  at: Date;
}

type Listener = (event: ModelEvent) => void;

/**
 * Controller-internal signals, never exposed in the API: the desired state of some nodes changed (the satellite
 * dispatcher sends them deltas), or a node's satellite secret was replaced (its connection must go).
 */
export type InternalEvent =
  /** `full`: build these nodes' next states in full (a revision move that was confined or lost cannot be trusted). */
  | { type: 'desired-state-changed'; nodeIds: number[]; full?: boolean }
  | { type: 'secret-rotated'; nodeId: number }
  | { type: 'satellite-removed'; nodeId: number };
type InternalListener = (event: InternalEvent) => void;

export class EventBus {
  /**
   * Live DRBD state reported by the satellites, with its own change stream (many changes per second during a
   * resync; they never go through the model events, which are about committed database changes).
   */
  readonly drbd = new DrbdStateStore();
  private readonly listeners = new Set<Listener>();
  private readonly internalListeners = new Set<InternalListener>();

  /** Delivers a controller-internal signal; listener failures are isolated like for model events. */
  publishInternal(event: InternalEvent): void {
    for (const listener of this.internalListeners) {
      try {
        listener(event);
      } catch {
        // see publish()
      }
    }
  }

  /** Registers an internal listener; returns the function that removes it. */
  listenInternal(listener: InternalListener): () => void {
    this.internalListeners.add(listener);
    return () => this.internalListeners.delete(listener);
  }

  /** Delivers `event` to every listener; a throwing listener is isolated from the others. */
  publish(event: ModelEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A broken subscriber must never break the publisher or its siblings.
      }
    }
  }

  /** Registers `listener`; returns the function that removes it. */
  listen(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * An async iterator over the events accepted by `filter`, buffered (bounded by `maxQueue`, oldest dropped first)
   * so that a slow consumer never blocks publishers. Ends when the consumer returns.
   */
  subscribe(filter: (e: ModelEvent) => boolean = () => true, maxQueue = 10_000): AsyncIterableIterator<ModelEvent> {
    let remove = (): void => undefined;
    const queue = new AsyncQueue<ModelEvent>(() => remove(), maxQueue);
    remove = this.listen((event) => {
      if (filter(event)) queue.push(event);
    });
    return queue;
  }
}
