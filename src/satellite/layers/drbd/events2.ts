/**
 * Reads DRBD 9's `drbdsetup events2` stream and keeps the state it describes.
 *
 * Line format (drbdsetup(8), drbd-utils `user/v9/drbdsetup_events2.c`):
 *
 *     [<timestamp> ]<action> <object> key:value key:value ...
 *
 * - the timestamp (`2026-11-25T18:00:00.123456+00:00`) is printed only with `--timestamps`;
 * - actions: `exists` (the initial dump), `create`, `change`, `destroy`, plus `call`/`response` (handler scripts)
 *   and `rename`, which this module ignores;
 * - objects: `resource`, `connection`, `device`, `peer-device`, `path`, `helper` (ignored); the line `exists -`
 *   ends the initial dump;
 * - each key:value token splits at its FIRST `:` (path addresses such as `local:ipv4:10.0.0.1:7000` contain more);
 * - `change` lines carry the identifying keys plus only what changed; with `--statistics` also counters
 *   (`received:`, `sent:`, `dbdt1:`, `eta:nan` …), which are kept in the event's props but not interpreted.
 *
 * {@link parseEvents2Line} turns one line into an {@link Events2Event}; {@link DrbdStateTracker} folds the events
 * into {@link DrbdResourceState} values for the controller.
 */
import {
  DRBD_CONNECTION_STATES,
  DRBD_DISK_STATES,
  DRBD_REPLICATION_STATES,
  DRBD_ROLES,
  type DrbdConnectionState,
  type DrbdConnectionStateReport,
  type DrbdDiskState,
  type DrbdPeerDeviceState,
  type DrbdReplicationState,
  type DrbdResourceState,
  type DrbdRole,
  type DrbdVolumeState,
} from '../../../common/protocol/drbd.js';

/** The actions that describe state; other actions (`call`, `response`, `rename`) are skipped. */
export const EVENTS2_ACTIONS = ['exists', 'create', 'change', 'destroy'] as const;
export type Events2Action = (typeof EVENTS2_ACTIONS)[number];

/** The objects whose lines are parsed; other objects (`helper`) are skipped. */
export const EVENTS2_OBJECTS = ['resource', 'connection', 'device', 'peer-device', 'path'] as const;
export type Events2Object = (typeof EVENTS2_OBJECTS)[number];

/** One state line: an action on one DRBD object, with every key:value token of the line. */
export interface Events2ObjectEvent {
  kind: 'object';
  action: Events2Action;
  object: Events2Object;
  /** Every key of the line, verbatim (identifying keys, state keys, statistics). */
  props: Record<string, string>;
  /** The `--timestamps` prefix, verbatim; null without it. */
  timestamp: string | null;
}

/** `exists -`: the initial dump is complete, everything after it is a live change. */
export interface Events2InitialStateDone {
  kind: 'initial-state-done';
  timestamp: string | null;
}

export type Events2Event = Events2ObjectEvent | Events2InitialStateDone;

/** A line that is not valid events2 output; `line` is the line as received, `reason` says what is wrong with it. */
export class Events2ParseError extends Error {
  constructor(
    readonly line: string,
    readonly reason: string,
  ) {
    super(`Cannot read the drbdsetup events2 line '${line}': ${reason}`);
    this.name = 'Events2ParseError';
  }
}

/** The keys that identify each object; a line without them cannot be attributed to an object. */
const IDENTITY_KEYS: Record<Events2Object, readonly string[]> = {
  resource: ['name'],
  device: ['name', 'volume'],
  // Connections are identified by the peer's node id: drbdsetup connect/disconnect address them that way, and it is
  // the order the report uses. conn-name (the peer's node name) is carried along as the peer's name.
  connection: ['name', 'peer-node-id'],
  'peer-device': ['name', 'peer-node-id', 'volume'],
  path: ['name', 'peer-node-id'],
};

/** Keys whose value must be a non-negative integer wherever they appear. */
const INTEGER_KEYS = ['volume', 'peer-node-id', 'minor'] as const;

/** drbdsetup prints the resync progress with `%.2f`. */
const DONE_PATTERN = /^\d+(\.\d+)?$/;
/** drbdsetup's `--timestamps` prefix: local time with microseconds and UTC offset (`%04u-%02u-%02uT…%+03d:%02u`). */
const TIMESTAMP_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$/;
/** An action or object word. Unknown words are skipped (newer drbd-utils add some, `rename` came late), not errors. */
const WORD_PATTERN = /^[a-z][a-z0-9-]*$/;

/**
 * Parses one events2 line (without its newline; a trailing `\r` or blank is tolerated).
 *
 * Returns null for lines that carry no state this module tracks: blank lines, helper `call`/`response` lines,
 * `rename` and other actions, `helper` and other objects.
 *
 * @throws Events2ParseError for a line drbdsetup cannot have printed: a leading blank (empty action), a timestamp
 *   without an action, an action without an object, a token without `:` or with an empty key, a missing identifying
 *   key (name, volume, peer-node-id as the object needs), a non-integer volume/peer-node-id/minor, a non-numeric done.
 */
export function parseEvents2Line(line: string): Events2Event | null {
  const text = line.trimEnd();
  if (text === '') return null;
  if (/^\s/.test(text)) throw new Events2ParseError(line, 'empty action (the line starts with a blank)');

  const tokens = text.split(/\s+/);
  let timestamp: string | null = null;
  if (tokens[0] !== undefined && TIMESTAMP_PATTERN.test(tokens[0])) {
    timestamp = tokens.shift() ?? null;
  }

  const action = tokens.shift();
  if (action === undefined) throw new Events2ParseError(line, 'no action after the timestamp');
  if (!WORD_PATTERN.test(action)) throw new Events2ParseError(line, `'${action}' is not an action`);
  if (!isOneOf(EVENTS2_ACTIONS, action)) return null;

  const object = tokens.shift();
  if (object === undefined) throw new Events2ParseError(line, `action '${action}' without an object`);
  if (object === '-') {
    if (action !== 'exists') throw new Events2ParseError(line, `'-' (end of the initial dump) after '${action}'`);
    return { kind: 'initial-state-done', timestamp };
  }
  if (!WORD_PATTERN.test(object)) throw new Events2ParseError(line, `'${object}' is not an object type`);
  if (!isOneOf(EVENTS2_OBJECTS, object)) return null;

  const props: Record<string, string> = {};
  for (const token of tokens) {
    const colon = token.indexOf(':');
    if (colon === -1) throw new Events2ParseError(line, `token '${token}' is not key:value`);
    if (colon === 0) throw new Events2ParseError(line, `token '${token}' has an empty key`);
    props[token.slice(0, colon)] = token.slice(colon + 1);
  }
  validateProps(line, object, props);
  return { kind: 'object', action, object, props, timestamp };
}

function validateProps(line: string, object: Events2Object, props: Record<string, string>): void {
  for (const key of IDENTITY_KEYS[object]) {
    if (props[key] === undefined || props[key] === '') {
      throw new Events2ParseError(line, `${object} line without '${key}'`);
    }
  }
  for (const key of INTEGER_KEYS) {
    const value = props[key];
    if (value !== undefined && !isIndex(value)) {
      throw new Events2ParseError(line, `${key} '${value}' is not a non-negative integer`);
    }
  }
  const done = props.done;
  if (done !== undefined && !DONE_PATTERN.test(done)) {
    throw new Events2ParseError(line, `done '${done}' is not a percentage`);
  }
}

function isIndex(value: string): boolean {
  return /^\d+$/.test(value) && Number.isSafeInteger(Number(value));
}

function isOneOf<T extends string>(values: readonly T[], value: string): value is T {
  return (values as readonly string[]).includes(value);
}

/**
 * Replication states in which DRBD reports resync (or online-verify) progress. `done:` is printed only while the
 * kernel has resync details, and a later `change` never says "done is gone", so the tracker drops the value as soon
 * as the replication state leaves this set; otherwise a finished sync would keep showing its last percentage.
 */
export const DRBD_SYNC_REPLICATION_STATES: readonly DrbdReplicationState[] = [
  'SyncSource',
  'SyncTarget',
  'PausedSyncS',
  'PausedSyncT',
  'VerifyS',
  'VerifyT',
];

/** A state string that is not in DRBD's vocabulary as src/common/protocol/drbd.ts knows it; reported as 'Unknown'. */
export interface UnknownDrbdState {
  resource: string;
  object: Events2Object;
  key: string;
  value: string;
}

/** Options of a {@link DrbdStateTracker}; every callback is optional and only informs (logging). */
export interface DrbdStateTrackerOptions {
  /** A line {@link DrbdStateTracker.push} could not parse; the tracker skipped it and goes on. */
  onError?: (error: Events2ParseError) => void;
  /** A state value outside the known vocabulary (a newer DRBD?); the snapshot shows 'Unknown' for it. */
  onUnknownState?: (state: UnknownDrbdState) => void;
  /**
   * An event that does not fit the state so far: a change or child of an object the stream never created (the
   * object is created from what the line says), or a destroy of an unknown object (ignored). DRBD itself never
   * produces these; they follow a skipped malformed line or a bug, so they are worth a log line.
   */
  onStrayEvent?: (message: string, event: Events2ObjectEvent) => void;
}

/** What {@link DrbdStateTracker.push} did with a line. */
export type Events2PushResult = { ok: true; event: Events2Event | null } | { ok: false; error: Events2ParseError };

/** The changes since the previous {@link DrbdStateTracker.takeChanges}, in the shape of a delta DrbdStateReport. */
export interface DrbdStateChanges {
  /** Resources whose reported state differs from what was last taken, sorted by name. */
  resources: DrbdResourceState[];
  /** Resources that were in the last taken state and no longer exist, sorted. */
  removed: string[];
}

interface TrackedDevice {
  minor: number | null;
  disk: string | null;
  client: string | null;
  quorum: string | null;
}

interface TrackedPeerDevice {
  replication: string | null;
  peerDisk: string | null;
  done: number | null;
}

interface TrackedConnection {
  connName: string | null;
  connection: string | null;
  role: string | null;
  peerDevices: Map<number, TrackedPeerDevice>;
}

interface TrackedResource {
  role: string | null;
  suspended: string | null;
  devices: Map<number, TrackedDevice>;
  connections: Map<number, TrackedConnection>;
}

/**
 * The DRBD state of this host as the events2 stream describes it, one {@link DrbdResourceState} per resource.
 *
 * Semantics follow drbd-utils' own tracking (drbdsetup_events2.c) and LINSTOR's DrbdEventsMonitor:
 * - `exists` lines build the initial state; `exists -` makes the tracker {@link ready}. Other lines that arrive
 *   before `exists -` are held back and applied right after it, because the initial dump is a snapshot and changes
 *   that raced with it are newer than it (drbdsetup orders them the same way);
 * - `exists`/`create` add an object (or update it when it exists already), `change` merges only the keys present,
 *   `destroy` removes the object with everything below it (resource → devices and connections, connection → its
 *   peer-devices);
 * - `path` lines are parsed but not tracked: no field of DrbdResourceState needs them.
 *
 * Malformed lines never throw out of {@link push}: they are returned as errors, passed to `onError`, and skipped.
 */
export class DrbdStateTracker {
  private readonly resources = new Map<string, TrackedResource>();
  private readonly heldBack: Events2ObjectEvent[] = [];
  /** Resources touched since the last takeChanges/takeSnapshot (candidates for the next delta). */
  private readonly touched = new Set<string>();
  /** The serialized state of every resource as last taken: the baseline of the next delta. */
  private readonly lastTaken = new Map<string, string>();
  private isReady = false;

  constructor(private readonly options: DrbdStateTrackerOptions = {}) {}

  /** True once the initial dump was complete (`exists -`); false again after {@link reset}. */
  get ready(): boolean {
    return this.isReady;
  }

  /**
   * Parses and applies one line. Never throws for bad input: a malformed line comes back as `{ ok: false, error }`
   * (and goes to `onError`), and the tracker state stays as it was.
   */
  push(line: string): Events2PushResult {
    let event: Events2Event | null;
    try {
      event = parseEvents2Line(line);
    } catch (error) {
      if (!(error instanceof Events2ParseError)) throw error;
      this.options.onError?.(error);
      return { ok: false, error };
    }
    if (event !== null) this.apply(event);
    return { ok: true, event };
  }

  /** Applies one parsed event (see the class comment for the semantics). */
  apply(event: Events2Event): void {
    if (event.kind === 'initial-state-done') {
      if (this.isReady) return;
      this.isReady = true;
      for (const held of this.heldBack.splice(0)) this.applyObjectEvent(held);
      return;
    }
    if (!this.isReady && event.action !== 'exists') {
      this.heldBack.push(event);
      return;
    }
    this.applyObjectEvent(event);
  }

  /** The state of every resource, sorted by name (volumes by number, connections by peer node id). */
  snapshot(): DrbdResourceState[] {
    return [...this.resources.keys()].sort(compareStrings).map((name) => this.resourceState(name));
  }

  /** The current state of one resource, or null when DRBD does not have it (cheap: no other resource is built). */
  get(name: string): DrbdResourceState | null {
    return this.resources.has(name) ? this.resourceState(name) : null;
  }

  /**
   * Like {@link snapshot}, and makes it the baseline of the next {@link takeChanges}: for a `full` report, after
   * which only later changes are reported.
   */
  takeSnapshot(): DrbdResourceState[] {
    const states = this.snapshot();
    this.lastTaken.clear();
    for (const state of states) this.lastTaken.set(state.resource, JSON.stringify(state));
    this.touched.clear();
    return states;
  }

  /**
   * What changed since the last take: resources whose state differs from the last taken one (a changed statistic
   * alone is no change, the report has no statistics), and resources that were taken before and exist no more.
   * A resource created and destroyed in between appears in neither list.
   *
   * Before the tracker is {@link ready} it returns no changes and keeps collecting: a half-read initial dump would
   * report resources as removed that are merely not dumped yet.
   */
  takeChanges(): DrbdStateChanges {
    if (!this.isReady) return { resources: [], removed: [] };
    const resources: DrbdResourceState[] = [];
    for (const name of [...this.touched].sort(compareStrings)) {
      if (!this.resources.has(name)) continue;
      const state = this.resourceState(name);
      const serialized = JSON.stringify(state);
      if (this.lastTaken.get(name) === serialized) continue;
      this.lastTaken.set(name, serialized);
      resources.push(state);
    }
    const removed = [...this.lastTaken.keys()].filter((name) => !this.resources.has(name)).sort(compareStrings);
    for (const name of removed) this.lastTaken.delete(name);
    this.touched.clear();
    return { resources, removed };
  }

  /**
   * Forgets the DRBD state (for a restarted events2 stream, whose new initial dump follows); not ready until its
   * `exists -`. The baseline of {@link takeChanges} is kept: the first delta after the new dump then names exactly
   * what changed during the restart, including resources that disappeared meanwhile.
   */
  reset(): void {
    this.resources.clear();
    this.heldBack.length = 0;
    this.isReady = false;
  }

  private applyObjectEvent(event: Events2ObjectEvent): void {
    const { action, object, props } = event;
    if (object === 'path') return;
    const name = props.name ?? '';
    if (action === 'destroy') {
      this.destroy(event, name);
      return;
    }

    // exists, create and change all merge the keys present into the object, creating it when it is missing. For
    // exists/create that is the point; for change it means a missed create (a skipped malformed line), reported.
    let resource = this.resources.get(name);
    if (resource === undefined) {
      if (object !== 'resource' || action === 'change') this.stray(event, `resource ${name} was never created`);
      resource = { role: null, suspended: null, devices: new Map(), connections: new Map() };
      this.resources.set(name, resource);
    }
    this.touched.add(name);

    switch (object) {
      case 'resource':
        this.mergeResource(event, resource);
        break;
      case 'device':
        this.mergeDevice(event, resource);
        break;
      case 'connection':
        this.mergeConnection(event, resource, action === 'change');
        break;
      case 'peer-device':
        this.mergePeerDevice(event, resource);
        break;
    }
  }

  private mergeResource(event: Events2ObjectEvent, resource: TrackedResource): void {
    const { props } = event;
    if (props.role !== undefined) resource.role = this.checked(event, 'role', DRBD_ROLES);
    if (props.suspended !== undefined) resource.suspended = props.suspended;
  }

  private mergeDevice(event: Events2ObjectEvent, resource: TrackedResource): void {
    const { props, action } = event;
    const volume = Number(props.volume);
    let device = resource.devices.get(volume);
    if (device === undefined) {
      if (action === 'change') this.stray(event, `device ${props.name}/${volume} was never created`);
      device = { minor: null, disk: null, client: null, quorum: null };
      resource.devices.set(volume, device);
    }
    if (props.minor !== undefined) device.minor = Number(props.minor);
    if (props.disk !== undefined) device.disk = this.checked(event, 'disk', DRBD_DISK_STATES);
    if (props.client !== undefined) device.client = props.client;
    if (props.quorum !== undefined) device.quorum = props.quorum;
  }

  private mergeConnection(event: Events2ObjectEvent, resource: TrackedResource, isChange: boolean): void {
    const { props } = event;
    const connection = this.connectionOf(event, resource, isChange);
    if (props.connection !== undefined) {
      connection.connection = this.checked(event, 'connection', DRBD_CONNECTION_STATES);
    }
    if (props.role !== undefined) connection.role = this.checked(event, 'role', DRBD_ROLES);
  }

  private mergePeerDevice(event: Events2ObjectEvent, resource: TrackedResource): void {
    const { props, action } = event;
    const connection = this.connectionOf(event, resource, true);
    const volume = Number(props.volume);
    let peerDevice = connection.peerDevices.get(volume);
    if (peerDevice === undefined) {
      if (action === 'change') {
        this.stray(event, `peer-device ${props.name}/${props['peer-node-id']}/${volume} was never created`);
      }
      peerDevice = { replication: null, peerDisk: null, done: null };
      connection.peerDevices.set(volume, peerDevice);
    }
    if (props.replication !== undefined) {
      peerDevice.replication = this.checked(event, 'replication', DRBD_REPLICATION_STATES);
    }
    if (props['peer-disk'] !== undefined) peerDevice.peerDisk = this.checked(event, 'peer-disk', DRBD_DISK_STATES);
    if (props.done !== undefined) peerDevice.done = Number(props.done);
    if (!isOneOf(DRBD_SYNC_REPLICATION_STATES, peerDevice.replication ?? '')) peerDevice.done = null;
  }

  /**
   * The connection a connection or peer-device line names, created when missing. A peer-device may legitimately
   * name a connection only when the connection exists; `strayIfMissing` says whether its absence is worth a report.
   */
  private connectionOf(
    event: Events2ObjectEvent,
    resource: TrackedResource,
    strayIfMissing: boolean,
  ): TrackedConnection {
    const { props } = event;
    const peerNodeId = Number(props['peer-node-id']);
    let connection = resource.connections.get(peerNodeId);
    if (connection === undefined) {
      if (strayIfMissing) this.stray(event, `connection ${props.name}/${peerNodeId} was never created`);
      connection = { connName: null, connection: null, role: null, peerDevices: new Map() };
      resource.connections.set(peerNodeId, connection);
    }
    if (props['conn-name'] !== undefined) connection.connName = props['conn-name'];
    return connection;
  }

  private destroy(event: Events2ObjectEvent, name: string): void {
    const { object, props } = event;
    const resource = this.resources.get(name);
    let gone = false;
    if (resource !== undefined) {
      switch (object) {
        case 'resource':
          gone = this.resources.delete(name);
          break;
        case 'device':
          gone = resource.devices.delete(Number(props.volume));
          break;
        case 'connection':
          gone = resource.connections.delete(Number(props['peer-node-id']));
          break;
        case 'peer-device':
          gone =
            resource.connections.get(Number(props['peer-node-id']))?.peerDevices.delete(Number(props.volume)) ?? false;
          break;
      }
    }
    if (gone) this.touched.add(name);
    else this.stray(event, `destroy of a ${object} that does not exist`);
  }

  /** The value of a state key, with unknown values reported (they still get stored, the snapshot maps them). */
  private checked(event: Events2ObjectEvent, key: string, vocabulary: readonly string[]): string {
    const value = event.props[key] ?? '';
    if (!vocabulary.includes(value)) {
      this.options.onUnknownState?.({ resource: event.props.name ?? '', object: event.object, key, value });
    }
    return value;
  }

  private stray(event: Events2ObjectEvent, message: string): void {
    this.options.onStrayEvent?.(message, event);
  }

  private resourceState(name: string): DrbdResourceState {
    const resource = this.resources.get(name);
    if (resource === undefined) throw new Error(`resourceState(${name}) of an untracked resource`);
    return {
      resource: name,
      role: known(DRBD_ROLES, resource.role),
      // drbdsetup prints `no` or the reasons joined by commas (user, no-data, fencing, quorum).
      suspended: resource.suspended !== null && resource.suspended !== 'no',
      volumes: sortedEntries(resource.devices).map(
        ([volumeNumber, device]): DrbdVolumeState => ({
          volumeNumber,
          minor: device.minor,
          diskState: known<DrbdDiskState>(DRBD_DISK_STATES, device.disk),
          client: device.client === 'yes',
          quorum: device.quorum === 'yes' ? true : device.quorum === 'no' ? false : null,
        }),
      ),
      connections: sortedEntries(resource.connections).map(
        ([peerNodeId, connection]): DrbdConnectionStateReport => ({
          peerNodeId,
          peer: connection.connName ?? '',
          connectionState: known<DrbdConnectionState>(DRBD_CONNECTION_STATES, connection.connection),
          peerRole: known<DrbdRole>(DRBD_ROLES, connection.role),
          peerDevices: sortedEntries(connection.peerDevices).map(
            ([volumeNumber, peerDevice]): DrbdPeerDeviceState => ({
              volumeNumber,
              replicationState: known<DrbdReplicationState>(DRBD_REPLICATION_STATES, peerDevice.replication),
              peerDiskState: known<DrbdDiskState>(DRBD_DISK_STATES, peerDevice.peerDisk),
              donePercent: peerDevice.done,
            }),
          ),
        }),
      ),
    };
  }
}

/** The value when it belongs to the vocabulary, else 'Unknown' (also for a value the stream never gave). */
function known<T extends string>(vocabulary: readonly T[], value: string | null): T | 'Unknown' {
  return value !== null && isOneOf(vocabulary, value) ? value : 'Unknown';
}

function sortedEntries<V>(map: Map<number, V>): [number, V][] {
  return [...map.entries()].sort(([a], [b]) => a - b);
}

/** Code-unit order, independent of the host's locale, so reports are byte-identical everywhere. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
