/**
 * One emulated DRBD 9 resource on one node: what the kernel module would hold for it (devices, connections,
 * peer-devices), the TCP links to its peers, resync and quorum, and the events2 lines every state change prints.
 *
 * Links: the node with the higher node id dials (retrying every reconnect interval), the lower one accepts on the
 * resource's address:port, so a pair of peers has one link. After the handshake (see link.ts) both sides exchange
 * `state` (per volume: disk state and data generation) and resend it whenever a local disk or generation changes.
 *
 * Sync decisions per (volume, peer), made from the local state and the peer's last state:
 * - either side Diskless: Established, nothing to sync;
 * - both have data of the same generation: Established, and a Consistent/Outdated local disk becomes UpToDate;
 * - this side has newer data (or the peer none): this side offers a sync (WFBitMapS); the target answers begin
 *   (SyncTarget/SyncSource, resumed where an earlier attempt stopped), pause (it already syncs this volume from
 *   another peer: PausedSyncT/PausedSyncS, resumed when that one ends) or refuse (it needs nothing after all);
 * - the peer has newer data: wait for its offer (WFBitMapT);
 * - neither has data: Established, both Inconsistent.
 * The source drives the progress and sends it over the link, so both sides print the same `done:`. At 100 % the
 * target's metadata takes the source's generation and its disk becomes UpToDate.
 *
 * Every handler that changes state ends in {@link EmulatedResource.settle}, which re-evaluates what the change affects,
 * sends the local state to the peers when it changed, and recomputes quorum and may_promote.
 */
import net, { type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { DesiredDrbdPeer, DesiredDrbdResource, DrbdDiskState } from '../../../../common/protocol/drbd.js';
import {
  changeLine,
  formatLine,
  identity,
  type ConnectionFields,
  type DeviceFields,
  type PeerDeviceFields,
  type ResourceFields,
} from './lines.js';
import { Link, type PeerMessage, type PeerVolumeState, type StateMessage, type SyncOfferMessage } from './link.js';
import { newUuid, type EmulatedMetadata, type MetadataStore } from './metadata.js';

/** What an emulated resource needs from its backend. */
export interface KernelContext {
  /** Logger already marked as the emulated backend. */
  log: Logger;
  store: MetadataStore;
  /** Prints one events2 line (to the backend's stream consumer, if any). */
  emit(line: string): void;
  syncRateKibPerSec: number;
  progressIntervalMs: number;
  reconnectIntervalMs: number;
  handshakeTimeoutMs: number;
}

interface Device extends DeviceFields {
  volume: number;
  minor: number;
  sizeKib: number;
  /** The attached metadata; null while the volume is diskless. */
  md: EmulatedMetadata | null;
}

/** The sync relation of one peer-device, seen from this side. */
type Relation =
  /** We offered our data and wait for the answer (WFBitMapS). */
  | { kind: 'offered'; generation: number; uuid: string }
  /** We send (SyncSource); the timer drives the progress. */
  | { kind: 'source'; generation: number; uuid: string; doneKib: number; sizeKib: number; lastTick: number; timer: NodeJS.Timeout }
  /** The target syncs from another peer first (PausedSyncS). */
  | { kind: 'paused-source'; generation: number; uuid: string }
  /** We receive (SyncTarget). */
  | { kind: 'target'; generation: number; uuid: string }
  /** We will receive this offer once the running sync of the volume ended (PausedSyncT). */
  | { kind: 'paused-target'; offer: SyncOfferMessage };

interface PeerDevice extends PeerDeviceFields {
  volume: number;
  relation: Relation | null;
  /** The peer refused our offer while its state had this sequence number: no new offer until its state changes. */
  refusedAtSeq: number | null;
}

interface Connection extends ConnectionFields {
  peer: DesiredDrbdPeer;
  peerDevices: Map<number, PeerDevice>;
  /** The authenticated link; null while Connecting. */
  link: Link | null;
  /** The link being dialed (handshake not complete). */
  dialing: Link | null;
  retryTimer: NodeJS.Timeout | null;
  /** Dials in a row that found no listener (see scheduleDial). */
  dialFailures: number;
  /** The peer's volumes from its last state message on the current link; null until the first one. */
  peerState: Map<number, PeerVolumeState> | null;
  /** Counts the peer's state messages. */
  peerStateSeq: number;
  /** The last refusal logged for this peer, so a misconfiguration is logged once, not every reconnect. */
  lastWarning: string | null;
}

const DATA_DISK_STATES: ReadonlySet<DrbdDiskState> = new Set(['UpToDate', 'Consistent', 'Outdated']);
const hasData = (disk: DrbdDiskState): boolean => DATA_DISK_STATES.has(disk);
const QUORUM_OPTION = 'DrbdOptions/Resource/quorum';
/** First retry of a dial that found no listener; doubles up to the reconnect interval (scheduleDial). */
const FIRST_REDIAL_MS = 25;
/** Bound on settle's re-evaluation rounds; disk states only move towards UpToDate, so few rounds are ever needed. */
const MAX_SETTLE_ROUNDS = 32;

/** Resync progress as drbdsetup prints it; rounded down so 100 % is never printed before the sync is complete. */
function percent(doneKib: number, sizeKib: number): number {
  if (sizeKib <= 0) return 100;
  return Math.floor((doneKib / sizeKib) * 10000) / 100;
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '';
}

/** The disk state DRBD attaches a volume with, from its metadata (DRBD's disk_state_from_md). */
function attachDiskState(md: EmulatedMetadata, hasDiskfulPeers: boolean): DrbdDiskState {
  if (md.inconsistent || md.generation === 0) return 'Inconsistent';
  // Consistent data is UpToDate only when no peer could hold newer data; with peers it waits for the handshake.
  return hasDiskfulPeers ? 'Consistent' : 'UpToDate';
}

/**
 * The emulated kernel state of one resource. Created by {@link EmulatedResource.create} (drbdadm up), changed by
 * {@link reconfigure} (adjust), ended by {@link shutdown} (down, or the host powering off).
 */
export class EmulatedResource {
  readonly name: string;
  private desired: DesiredDrbdResource;
  private readonly log: Logger;
  private readonly fields: ResourceFields = { role: 'Secondary', suspended: false, mayPromote: false, promotionScore: 0 };
  private readonly devices = new Map<number, Device>();
  private readonly connections = new Map<number, Connection>();
  private server: Server | null = null;
  private listenAddress: { address: string; port: number } | null = null;
  /** Accepted links before their handshake completed. */
  private readonly pending = new Set<Link>();
  /** Links and listeners being closed; shutdown waits for them. */
  private readonly closing = new Set<Promise<void>>();
  private readonly acceptWarnings = new Set<string>();
  private readonly needsEval = new Set<number>();
  private stateDirty = false;
  private closed = false;

  private constructor(
    private readonly ctx: KernelContext,
    desired: DesiredDrbdResource,
  ) {
    this.name = desired.name;
    this.desired = desired;
    this.log = ctx.log.child({ resource: desired.name });
  }

  /**
   * Brings a resource up (drbdadm up): listens on its address:port first, so a port that cannot be bound fails the
   * adjust before anything exists, then prints the create lines and starts connecting.
   * @param metadata the attached metadata of every volume when the resource is diskful
   */
  static async create(
    ctx: KernelContext,
    desired: DesiredDrbdResource,
    metadata: Map<number, EmulatedMetadata>,
  ): Promise<EmulatedResource> {
    const resource = new EmulatedResource(ctx, desired);
    await resource.listen(desired.address, desired.port);
    resource.init(metadata);
    return resource;
  }

  /** The `exists` lines of the initial dump: resource, connections, devices, peer-devices. */
  existsLines(): string[] {
    const lines = [formatLine('exists', 'resource', identity.resource(this.name), this.fields)];
    const connections = this.sortedConnections();
    for (const conn of connections) lines.push(formatLine('exists', 'connection', this.connId(conn), conn));
    for (const dev of this.sortedDevices()) lines.push(formatLine('exists', 'device', this.devId(dev), dev));
    for (const conn of connections) {
      for (const pd of sortedValues(conn.peerDevices)) lines.push(formatLine('exists', 'peer-device', this.pdId(conn, pd.volume), pd));
    }
    return lines;
  }

  /**
   * drbdadm adjust of a running resource: moves listener, volumes (added, removed, attached, detached), connections
   * (added, removed, re-dialed on a new address) and options (quorum) to `desired`.
   * @throws Error when the node id changed (DRBD cannot change it on a running resource) or the new port cannot be bound
   */
  async reconfigure(desired: DesiredDrbdResource, metadata: Map<number, EmulatedMetadata>): Promise<void> {
    if (desired.nodeId !== this.desired.nodeId) {
      throw new Error(
        `emulated drbdadm adjust ${this.name}: the node-id changed from ${this.desired.nodeId} to ${desired.nodeId}; ` +
          'a running resource cannot change it, take it down first',
      );
    }
    if (this.listenAddress?.address !== desired.address || this.listenAddress.port !== desired.port) {
      await this.listen(desired.address, desired.port);
    }
    if (this.closed) return;
    this.desired = desired;
    this.reconfigureVolumes(metadata);
    this.reconfigureConnections();
    this.settle();
  }

  /**
   * `primary --force` + `secondary`: the listed volumes become UpToDate with a new data generation, newer than
   * anything a peer announced, so connected peers sync from here. Volumes already UpToDate are left alone (a repeated
   * call must not restart the peers' syncs).
   * @throws Error when a volume is not attached here
   */
  forceInitialSync(volumeNumbers: number[]): void {
    const devices: Device[] = [];
    for (const volume of volumeNumbers) {
      const dev = this.devices.get(volume);
      if (dev?.md === null || dev?.md === undefined) {
        throw new Error(`emulated drbdadm primary --force ${this.name}: volume ${volume} has no attached disk here`);
      }
      if (dev.disk !== 'UpToDate') devices.push(dev);
    }
    if (devices.length === 0) return;
    this.changeResource({ role: 'Primary' });
    for (const dev of devices) {
      const md = dev.md as EmulatedMetadata;
      let newest = md.generation;
      for (const conn of this.connections.values()) newest = Math.max(newest, conn.peerState?.get(dev.volume)?.generation ?? 0);
      Object.assign(md, { generation: newest + 1, uuid: newUuid(), inconsistent: false, resync: null });
      this.ctx.store.set(this.name, dev.volume, md);
      for (const conn of this.connections.values()) {
        const pd = conn.peerDevices.get(dev.volume);
        if (pd !== undefined) this.cancelRelation(pd);
      }
      this.setDisk(dev, 'UpToDate');
      this.stateDirty = true;
    }
    this.log.info({ volumes: devices.map((d) => d.volume) }, 'emulated DRBD: forced the initial sync source (primary --force)');
    this.changeResource({ role: 'Secondary' });
    this.settle();
  }

  /** Whether the volume has a disk attached here (create-md must not overwrite its metadata then). */
  isAttached(volume: number): boolean {
    return (this.devices.get(volume)?.md ?? null) !== null;
  }

  /** drbdadm resize: the device offers the new size (later syncs cover it). */
  resize(volume: number, sizeKib: number): void {
    const dev = this.devices.get(volume);
    if (dev !== undefined) dev.sizeKib = sizeKib;
  }

  /**
   * Ends the resource: stops syncs and timers, closes every socket and the listener and waits until they are closed.
   * With `printDestroy` (drbdadm down) it prints the destroy lines; without (the host powering off) it prints nothing.
   */
  async shutdown(printDestroy: boolean): Promise<void> {
    if (this.closed) return;
    if (printDestroy) {
      for (const conn of this.sortedConnections()) this.destroyConnection(conn);
      for (const dev of this.sortedDevices()) this.destroyDevice(dev);
      this.ctx.emit(formatLine('destroy', 'resource', identity.resource(this.name)));
    }
    this.closed = true;
    for (const conn of this.connections.values()) this.dropConnection(conn);
    for (const link of this.pending) this.track(link.close());
    this.closeServer();
    while (this.closing.size > 0) await Promise.all([...this.closing]);
  }

  // --- creation and adjust ----------------------------------------------------------------------------------------

  private init(metadata: Map<number, EmulatedMetadata>): void {
    for (const { volumeNumber, minor, sizeKib } of this.desired.volumes) {
      this.devices.set(volumeNumber, this.newDevice(volumeNumber, minor, Number(sizeKib), metadata));
    }
    for (const peer of this.desired.peers) this.connections.set(peer.nodeId, this.newConnection(peer));
    for (const dev of this.devices.values()) dev.quorum = this.computeQuorum();
    this.refreshPromotion(false);

    this.ctx.emit(formatLine('create', 'resource', identity.resource(this.name), this.fields));
    for (const dev of this.sortedDevices()) this.ctx.emit(formatLine('create', 'device', this.devId(dev), dev));
    for (const conn of this.sortedConnections()) this.printConnectionCreated(conn);
    this.log.info(
      { nodeId: this.desired.nodeId, address: this.desired.address, port: this.desired.port, peers: this.desired.peers.map((p) => p.node) },
      'emulated DRBD: resource up',
    );
    for (const conn of this.connections.values()) this.dial(conn);
    this.settle();
  }

  private newDevice(volume: number, minor: number, sizeKib: number, metadata: Map<number, EmulatedMetadata>): Device {
    const md = this.desired.diskless ? null : (metadata.get(volume) ?? null);
    return {
      volume,
      minor,
      sizeKib,
      md,
      disk: md === null ? 'Diskless' : attachDiskState(md, this.hasDiskfulPeers()),
      client: this.localClient(),
      quorum: true,
    };
  }

  private newConnection(peer: DesiredDrbdPeer): Connection {
    const conn: Connection = {
      peer,
      connection: 'Connecting',
      role: 'Unknown',
      peerDevices: new Map(),
      link: null,
      dialing: null,
      retryTimer: null,
      dialFailures: 0,
      peerState: null,
      peerStateSeq: 0,
      lastWarning: null,
    };
    for (const volume of this.devices.keys()) conn.peerDevices.set(volume, this.newPeerDevice(volume, peer));
    return conn;
  }

  private newPeerDevice(volume: number, peer: DesiredDrbdPeer): PeerDevice {
    return {
      volume,
      replication: 'Off',
      peerDisk: 'DUnknown',
      peerClient: peer.diskless && !peer.tieBreaker,
      done: null,
      relation: null,
      refusedAtSeq: null,
    };
  }

  private printConnectionCreated(conn: Connection): void {
    this.ctx.emit(formatLine('create', 'connection', this.connId(conn), conn));
    for (const pd of sortedValues(conn.peerDevices)) this.ctx.emit(formatLine('create', 'peer-device', this.pdId(conn, pd.volume), pd));
  }

  private reconfigureVolumes(metadata: Map<number, EmulatedMetadata>): void {
    const wanted = new Map(this.desired.volumes.map((v) => [v.volumeNumber, v]));
    for (const dev of this.sortedDevices()) {
      if (wanted.has(dev.volume)) continue;
      // Detach and delete the minor: peer-devices first, as drbdsetup del-minor prints them.
      for (const conn of this.sortedConnections()) {
        const pd = conn.peerDevices.get(dev.volume);
        if (pd === undefined) continue;
        this.cancelRelation(pd);
        conn.peerDevices.delete(dev.volume);
        this.ctx.emit(formatLine('destroy', 'peer-device', this.pdId(conn, dev.volume)));
      }
      this.destroyDevice(dev);
      this.stateDirty = true;
    }
    for (const volume of [...wanted.values()].sort((a, b) => a.volumeNumber - b.volumeNumber)) {
      const existing = this.devices.get(volume.volumeNumber);
      if (existing === undefined) {
        const dev = this.newDevice(volume.volumeNumber, volume.minor, Number(volume.sizeKib), metadata);
        dev.quorum = this.computeQuorum();
        this.devices.set(dev.volume, dev);
        this.ctx.emit(formatLine('create', 'device', this.devId(dev), dev));
        for (const conn of this.sortedConnections()) {
          const pd = this.newPeerDevice(dev.volume, conn.peer);
          conn.peerDevices.set(dev.volume, pd);
          this.ctx.emit(formatLine('create', 'peer-device', this.pdId(conn, dev.volume), pd));
        }
        this.needsEval.add(dev.volume);
        this.stateDirty = true;
        continue;
      }
      if (existing.minor !== volume.minor) {
        this.log.warn(
          { volume: volume.volumeNumber, minor: existing.minor, wanted: volume.minor },
          'emulated DRBD: a minor number cannot change while the device exists; kept',
        );
      }
      existing.sizeKib = Number(volume.sizeKib);
      this.reattach(existing, metadata);
    }
  }

  /** Attaches or detaches a volume when the replica turned diskful or diskless. */
  private reattach(dev: Device, metadata: Map<number, EmulatedMetadata>): void {
    const client = this.localClient();
    if (this.desired.diskless && dev.md !== null) {
      for (const conn of this.connections.values()) {
        const pd = conn.peerDevices.get(dev.volume);
        if (pd !== undefined) this.cancelRelation(pd);
      }
      dev.md = null;
      this.emitChange('device', this.devId(dev), dev, { disk: 'Diskless', client });
      this.stateDirty = true;
      this.needsEval.add(dev.volume);
    } else if (!this.desired.diskless && dev.md === null) {
      const md = metadata.get(dev.volume);
      if (md === undefined) return;
      dev.md = md;
      this.emitChange('device', this.devId(dev), dev, { disk: attachDiskState(md, this.hasDiskfulPeers()), client });
      this.stateDirty = true;
      this.needsEval.add(dev.volume);
    } else {
      this.emitChange('device', this.devId(dev), dev, { client });
    }
  }

  private reconfigureConnections(): void {
    const wanted = new Map(this.desired.peers.map((p) => [p.nodeId, p]));
    for (const conn of this.sortedConnections()) {
      const peer = wanted.get(conn.peer.nodeId);
      if (peer !== undefined && peer.node === conn.peer.node) continue;
      this.destroyConnection(conn);
      this.dropConnection(conn);
      this.connections.delete(conn.peer.nodeId);
    }
    for (const peer of this.desired.peers) {
      const conn = this.connections.get(peer.nodeId);
      if (conn === undefined) {
        const created = this.newConnection(peer);
        this.connections.set(peer.nodeId, created);
        this.printConnectionCreated(created);
        this.dial(created);
        continue;
      }
      const moved = conn.peer.address !== peer.address || conn.peer.port !== peer.port;
      conn.peer = peer;
      for (const pd of sortedValues(conn.peerDevices)) {
        this.emitChange('peer-device', this.pdId(conn, pd.volume), pd, { peerClient: peer.diskless && !peer.tieBreaker });
      }
      if (moved) {
        // A new path: drop the link (its close re-dials) or the attempt in progress.
        this.log.info({ peer: peer.node, address: peer.address, port: peer.port }, 'emulated DRBD: peer address changed, reconnecting');
        if (conn.link !== null) this.track(conn.link.close());
        if (conn.dialing !== null) this.track(conn.dialing.close());
      }
    }
  }

  private destroyConnection(conn: Connection): void {
    for (const pd of sortedValues(conn.peerDevices)) this.ctx.emit(formatLine('destroy', 'peer-device', this.pdId(conn, pd.volume)));
    this.ctx.emit(formatLine('destroy', 'connection', this.connId(conn)));
  }

  private destroyDevice(dev: Device): void {
    this.devices.delete(dev.volume);
    this.ctx.emit(formatLine('destroy', 'device', this.devId(dev)));
  }

  /** Stops everything a connection owns (syncs, retry timer, sockets) without printing. */
  private dropConnection(conn: Connection): void {
    for (const pd of conn.peerDevices.values()) this.cancelRelation(pd);
    if (conn.retryTimer !== null) clearTimeout(conn.retryTimer);
    conn.retryTimer = null;
    const { link, dialing } = conn;
    conn.link = null;
    conn.dialing = null;
    conn.peerState = null;
    if (link !== null) this.track(link.close());
    if (dialing !== null) this.track(dialing.close());
  }

  // --- listener and links -----------------------------------------------------------------------------------------

  private async listen(address: string, port: number): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: isWildcard(address) ? undefined : address, port }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((error: NodeJS.ErrnoException) => {
      throw new Error(`emulated DRBD resource ${this.name} cannot listen on ${address}:${port}: ${error.code ?? error.message}`);
    });
    server.on('error', (error) => this.log.error({ err: error }, 'emulated DRBD: listener failed'));
    this.closeServer();
    this.server = server;
    this.listenAddress = { address, port };
    if (this.closed) this.closeServer();
  }

  private closeServer(): void {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    this.track(new Promise<void>((resolve) => server.close(() => resolve())));
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const link = new Link(socket, {
      resource: this.name,
      localNodeId: this.desired.nodeId,
      expectedPeerNodeId: null,
      secretFor: (peerNodeId) =>
        this.connections.has(peerNodeId)
          ? { secret: this.desired.secret }
          : { refused: `node-id mismatch: node-id ${peerNodeId} is not a peer of this resource` },
      handshakeTimeoutMs: this.ctx.handshakeTimeoutMs,
      onAuthenticated: (l) => {
        const conn = l.peerNodeId === null ? undefined : this.connections.get(l.peerNodeId);
        this.pending.delete(l);
        if (conn === undefined || this.closed) this.track(l.close());
        else this.bind(conn, l);
      },
      onMessage: (l, message) => this.onMessage(l, message),
      onClose: (l, refused, error) => this.onLinkClose(l, refused, error),
    });
    this.pending.add(link);
  }

  /** Dials the peer when this side is the dialing one (higher node id) and no link or attempt exists. */
  private dial(conn: Connection): void {
    if (this.closed || conn.link !== null || conn.dialing !== null || conn.retryTimer !== null) return;
    if (this.desired.nodeId < conn.peer.nodeId) return;
    const { address } = this.desired;
    // Bind to the resource's own address, as DRBD binds its path, so the peer sees the right source (each emulated
    // node of a benchmark has its own 127.0.0.N).
    const sameFamily = net.isIP(address) === net.isIP(conn.peer.address);
    const localAddress = !isWildcard(address) && sameFamily ? address : undefined;
    const socket = net.connect({ host: conn.peer.address, port: conn.peer.port, localAddress });
    conn.dialing = new Link(socket, {
      resource: this.name,
      localNodeId: this.desired.nodeId,
      expectedPeerNodeId: conn.peer.nodeId,
      secretFor: () => ({ secret: this.desired.secret }),
      handshakeTimeoutMs: this.ctx.handshakeTimeoutMs,
      onAuthenticated: (l) => {
        if (conn.dialing === l) conn.dialing = null;
        if (this.closed || this.connections.get(conn.peer.nodeId) !== conn) this.track(l.close());
        else this.bind(conn, l);
      },
      onMessage: (l, message) => this.onMessage(l, message),
      onClose: (l, refused, error) => this.onLinkClose(l, refused, error),
    });
  }

  /**
   * Dials again later. A dial that found no listener (the peer's resource is not up yet) is retried soon, doubling
   * from FIRST_REDIAL_MS up to the reconnect interval: in real DRBD both sides connect, so a pair connects as soon as
   * the second one comes up, while here only the higher node id dials and would otherwise wait a whole interval for
   * a peer that came up just after its first attempt.
   */
  private scheduleDial(conn: Connection, afterDialFailure = false): void {
    if (this.closed || conn.retryTimer !== null || this.connections.get(conn.peer.nodeId) !== conn) return;
    if (this.desired.nodeId < conn.peer.nodeId) return;
    conn.dialFailures = afterDialFailure ? conn.dialFailures + 1 : 0;
    const delay = afterDialFailure ? Math.min(this.ctx.reconnectIntervalMs, FIRST_REDIAL_MS * 2 ** (conn.dialFailures - 1)) : this.ctx.reconnectIntervalMs;
    conn.retryTimer = setTimeout(() => {
      conn.retryTimer = null;
      this.dial(conn);
    }, delay);
  }

  /** An authenticated link becomes the connection's link; Connected follows with the peer's first state. */
  private bind(conn: Connection, link: Link): void {
    if (conn.link !== null && conn.link !== link) {
      // The peer came back before we noticed its old link die (a restarted process): the new link wins.
      const old = conn.link;
      this.linkLost(conn);
      this.track(old.close());
    }
    conn.link = link;
    conn.dialFailures = 0;
    conn.peerState = null;
    if (conn.lastWarning !== null) this.log.info({ peer: conn.peer.node }, 'emulated DRBD: peer accepted after an earlier refusal');
    conn.lastWarning = null;
    link.send(this.stateMessage());
  }

  private onLinkClose(link: Link, refused: string | null, error: string | null): void {
    this.pending.delete(link);
    if (this.closed) return;
    // A refused incoming link that announced a known node id is attributed to that peer, for the warning.
    const conn = [...this.connections.values()].find(
      (c) => c.link === link || c.dialing === link || (link.peerNodeId !== null && c.peer.nodeId === link.peerNodeId),
    );
    if (refused !== null) this.warnRefused(conn, refused);
    else if (error !== null && conn?.dialing === link) {
      this.log.debug({ peer: conn.peer.node, error }, 'emulated DRBD: dial failed, retrying');
    }
    if (conn === undefined) return;
    if (conn.dialing === link) {
      conn.dialing = null;
      // No handshake came about: the peer is not listening yet (or refused us, which is retried the same way).
      this.scheduleDial(conn, true);
    }
    if (conn.link === link) {
      this.log.info({ peer: conn.peer.node, error }, 'emulated DRBD: link to peer lost');
      this.linkLost(conn);
      this.scheduleDial(conn);
    }
    this.settle();
  }

  private warnRefused(conn: Connection | undefined, reason: string): void {
    if (conn !== undefined) {
      if (conn.lastWarning === reason) return;
      conn.lastWarning = reason;
      this.log.warn({ peer: conn.peer.node, peerNodeId: conn.peer.nodeId }, `emulated DRBD: link refused, ${reason}`);
      return;
    }
    if (this.acceptWarnings.has(reason)) return;
    // Bounded: one entry per distinct reason, and reasons name at most the 32 possible node ids.
    this.acceptWarnings.add(reason);
    this.log.warn(`emulated DRBD: incoming link refused, ${reason}`);
  }

  /** The connection's link is gone: NetworkFailure, then Connecting again; syncs stop (a target keeps its progress). */
  private linkLost(conn: Connection): void {
    conn.link = null;
    conn.peerState = null;
    for (const pd of conn.peerDevices.values()) {
      if (pd.relation !== null) this.needsEval.add(pd.volume);
      this.cancelRelation(pd);
    }
    if (conn.connection === 'Connected') {
      this.emitChange('connection', this.connId(conn), conn, { connection: 'NetworkFailure', role: 'Unknown' });
    }
    for (const pd of sortedValues(conn.peerDevices)) {
      this.emitChange('peer-device', this.pdId(conn, pd.volume), pd, { replication: 'Off', peerDisk: 'DUnknown', done: null });
    }
    this.emitChange('connection', this.connId(conn), conn, { connection: 'Connecting', role: 'Unknown' });
  }

  // --- messages ---------------------------------------------------------------------------------------------------

  private onMessage(link: Link, message: PeerMessage): void {
    if (this.closed) return;
    const conn = [...this.connections.values()].find((c) => c.link === link);
    if (conn === undefined) return;
    if (message.t === 'state') {
      conn.peerState = new Map(message.volumes.map((v) => [v.volume, v]));
      conn.peerStateSeq += 1;
      if (conn.connection !== 'Connected') {
        this.emitChange('connection', this.connId(conn), conn, { connection: 'Connected', role: 'Secondary' });
        this.log.info({ peer: conn.peer.node }, 'emulated DRBD: connected');
      }
      for (const volume of conn.peerDevices.keys()) this.needsEval.add(volume);
      this.settle();
      return;
    }
    if (conn.peerState === null) {
      this.log.warn({ peer: conn.peer.node, message: message.t }, 'emulated DRBD: peer message before its state, link dropped');
      this.track(link.close());
      return;
    }
    const pd = conn.peerDevices.get(message.volume);
    const dev = this.devices.get(message.volume);
    switch (message.t) {
      case 'sync-offer':
        this.onSyncOffer(conn, message, pd, dev);
        break;
      case 'sync-begin':
        if (pd?.relation?.kind === 'offered' || pd?.relation?.kind === 'paused-source') this.startSource(conn, pd, message.fromKib);
        break;
      case 'sync-pause':
        if (pd?.relation?.kind === 'offered') {
          pd.relation = { kind: 'paused-source', generation: pd.relation.generation, uuid: pd.relation.uuid };
          this.emitChange('peer-device', this.pdId(conn, pd.volume), pd, { replication: 'PausedSyncS' });
        }
        break;
      case 'sync-refuse':
        if (pd !== undefined && (pd.relation?.kind === 'offered' || pd.relation?.kind === 'paused-source')) {
          pd.relation = null;
          pd.refusedAtSeq = conn.peerStateSeq;
          this.needsEval.add(pd.volume);
        }
        break;
      case 'sync-progress':
        if (pd?.relation?.kind === 'target' && dev?.md?.resync != null) {
          dev.md.resync.doneKib = message.doneKib;
          this.ctx.store.set(this.name, dev.volume, dev.md);
          this.emitChange('peer-device', this.pdId(conn, pd.volume), pd, { done: percent(message.doneKib, message.sizeKib) });
        }
        break;
      case 'sync-done':
        if (pd?.relation?.kind === 'target' && pd.relation.generation === message.generation && dev?.md != null) {
          this.finishTarget(conn, pd, dev, message.generation, message.uuid);
        }
        break;
    }
    this.settle();
  }

  private onSyncOffer(conn: Connection, offer: SyncOfferMessage, pd: PeerDevice | undefined, dev: Device | undefined): void {
    const link = conn.link;
    if (link === null) return;
    if (pd === undefined || dev?.md == null || (hasData(dev.disk) && dev.md.generation >= offer.generation)) {
      this.sendSync(link, { t: 'sync-refuse', volume: offer.volume });
      if (pd !== undefined) this.needsEval.add(pd.volume);
      return;
    }
    this.cancelRelation(pd);
    if (this.activeTarget(offer.volume) !== null) {
      pd.relation = { kind: 'paused-target', offer };
      this.emitChange('peer-device', this.pdId(conn, pd.volume), pd, { replication: 'PausedSyncT' });
      this.sendSync(link, { t: 'sync-pause', volume: offer.volume });
      return;
    }
    this.startTarget(conn, pd, dev, offer);
  }

  // --- resync -----------------------------------------------------------------------------------------------------

  /** The connection this volume currently syncs from, if any. */
  private activeTarget(volume: number): Connection | null {
    for (const conn of this.connections.values()) {
      if (conn.peerDevices.get(volume)?.relation?.kind === 'target') return conn;
    }
    return null;
  }

  private startTarget(conn: Connection, pd: PeerDevice, dev: Device, offer: SyncOfferMessage): void {
    const md = dev.md;
    if (md === null || conn.link === null) return;
    // Resume where an earlier attempt at the same generation stopped, like DRBD's bitmap-based resync.
    const resumable = md.resync !== null && md.resync.generation === offer.generation && md.resync.uuid === offer.uuid;
    const fromKib = resumable && md.resync !== null ? Math.min(md.resync.doneKib, dev.sizeKib) : 0;
    Object.assign(md, { inconsistent: true, resync: { generation: offer.generation, uuid: offer.uuid, doneKib: fromKib } });
    this.ctx.store.set(this.name, dev.volume, md);
    pd.relation = { kind: 'target', generation: offer.generation, uuid: offer.uuid };
    if (dev.disk !== 'Inconsistent') {
      this.setDisk(dev, 'Inconsistent');
      this.stateDirty = true;
    }
    this.emitChange('peer-device', this.pdId(conn, pd.volume), pd, {
      replication: 'SyncTarget',
      peerDisk: 'UpToDate',
      done: percent(fromKib, dev.sizeKib),
    });
    this.log.info(
      { peer: conn.peer.node, volume: dev.volume, fromKib, sizeKib: dev.sizeKib },
      'emulated DRBD: resync started (SyncTarget)',
    );
    this.sendSync(conn.link, { t: 'sync-begin', volume: dev.volume, fromKib });
  }

  private startSource(conn: Connection, pd: PeerDevice, fromKib: number): void {
    const dev = this.devices.get(pd.volume);
    const rel = pd.relation;
    if (dev === undefined || rel === null || (rel.kind !== 'offered' && rel.kind !== 'paused-source')) return;
    const timer = setInterval(() => this.tick(conn, pd), this.ctx.progressIntervalMs);
    pd.relation = {
      kind: 'source',
      generation: rel.generation,
      uuid: rel.uuid,
      doneKib: Math.min(fromKib, dev.sizeKib),
      sizeKib: dev.sizeKib,
      lastTick: performance.now(),
      timer,
    };
    this.emitChange('peer-device', this.pdId(conn, pd.volume), pd, {
      replication: 'SyncSource',
      peerDisk: 'Inconsistent',
      done: percent(fromKib, dev.sizeKib),
    });
    this.log.info(
      { peer: conn.peer.node, volume: pd.volume, fromKib, sizeKib: dev.sizeKib },
      'emulated DRBD: resync started (SyncSource)',
    );
    if (fromKib >= dev.sizeKib) this.tick(conn, pd);
  }

  /** One progress step of a sync this side sends, at the configured rate. */
  private tick(conn: Connection, pd: PeerDevice): void {
    const rel = pd.relation;
    if (this.closed || rel?.kind !== 'source' || conn.link === null) return;
    const now = performance.now();
    rel.doneKib = Math.min(rel.sizeKib, rel.doneKib + (this.ctx.syncRateKibPerSec * (now - rel.lastTick)) / 1000);
    rel.lastTick = now;
    if (rel.doneKib < rel.sizeKib) {
      this.sendSync(conn.link, { t: 'sync-progress', volume: pd.volume, doneKib: rel.doneKib, sizeKib: rel.sizeKib });
      this.emitChange('peer-device', this.pdId(conn, pd.volume), pd, { done: percent(rel.doneKib, rel.sizeKib) });
      return;
    }
    clearInterval(rel.timer);
    pd.relation = null;
    this.sendSync(conn.link, { t: 'sync-done', volume: pd.volume, generation: rel.generation, uuid: rel.uuid });
    this.emitChange('peer-device', this.pdId(conn, pd.volume), pd, { replication: 'Established', peerDisk: 'UpToDate', done: null });
    this.log.info({ peer: conn.peer.node, volume: pd.volume }, 'emulated DRBD: resync finished (SyncSource)');
    this.settle();
  }

  private finishTarget(conn: Connection, pd: PeerDevice, dev: Device, generation: number, uuid: string): void {
    const md = dev.md;
    if (md === null) return;
    Object.assign(md, { generation, uuid, inconsistent: false, resync: null });
    this.ctx.store.set(this.name, dev.volume, md);
    pd.relation = null;
    this.emitChange('peer-device', this.pdId(conn, pd.volume), pd, { replication: 'Established', peerDisk: 'UpToDate', done: null });
    this.setDisk(dev, 'UpToDate');
    this.stateDirty = true;
    this.log.info({ peer: conn.peer.node, volume: dev.volume }, 'emulated DRBD: resync finished (SyncTarget)');
  }

  private cancelRelation(pd: PeerDevice): void {
    if (pd.relation?.kind === 'source') clearInterval(pd.relation.timer);
    pd.relation = null;
  }

  /** When no sync into the volume runs, the first paused offer starts (or is refused when no longer needed). */
  private resumePausedTargets(volume: number): void {
    if (this.activeTarget(volume) !== null) return;
    const dev = this.devices.get(volume);
    for (const conn of this.sortedConnections()) {
      const pd = conn.peerDevices.get(volume);
      if (pd?.relation?.kind !== 'paused-target' || conn.link === null) continue;
      const { offer } = pd.relation;
      pd.relation = null;
      if (dev?.md != null && !(hasData(dev.disk) && dev.md.generation >= offer.generation)) {
        this.startTarget(conn, pd, dev, offer);
        return;
      }
      this.sendSync(conn.link, { t: 'sync-refuse', volume });
      this.needsEval.add(volume);
    }
  }

  /** Sends a sync message after any pending state, so the peer always judges it against our current state. */
  private sendSync(link: Link, message: PeerMessage): void {
    this.flushState();
    link.send(message);
  }

  // --- evaluation -------------------------------------------------------------------------------------------------

  /**
   * Re-evaluates what changed: peer-devices of the marked volumes, paused syncs, the state to send, quorum and
   * may_promote. Every state-changing entry point ends here.
   */
  private settle(): void {
    if (this.closed) return;
    for (let round = 0; round < MAX_SETTLE_ROUNDS && this.needsEval.size > 0; round++) {
      const volumes = [...this.needsEval].sort((a, b) => a - b);
      this.needsEval.clear();
      for (const volume of volumes) {
        for (const conn of this.sortedConnections()) this.evaluate(conn, volume);
        this.resumePausedTargets(volume);
      }
    }
    this.flushState();
    const quorum = this.computeQuorum();
    for (const dev of this.sortedDevices()) this.emitChange('device', this.devId(dev), dev, { quorum });
    this.refreshPromotion(true);
  }

  /** Decides the replication state of one volume towards one peer (see the file comment). */
  private evaluate(conn: Connection, volume: number): void {
    const pd = conn.peerDevices.get(volume);
    if (pd === undefined) return;
    const id = this.pdId(conn, volume);
    const dev = this.devices.get(volume);
    const pv = conn.peerState?.get(volume);
    if (conn.link === null || dev === undefined || pv === undefined) {
      this.cancelRelation(pd);
      this.emitChange('peer-device', id, pd, { replication: 'Off', peerDisk: 'DUnknown', done: null });
      return;
    }
    const md = dev.md;
    const localData = md !== null && hasData(dev.disk);
    const peerData = hasData(pv.disk);
    const rel = pd.relation;
    if (rel !== null) {
      // A running relation stays while the states it was based on still hold.
      const generation = rel.kind === 'paused-target' ? rel.offer.generation : rel.generation;
      const sourceHolds = localData && md.generation === generation && pv.disk !== 'Diskless' && (!peerData || pv.generation < generation);
      const targetHolds = md !== null && peerData && pv.generation === generation;
      const holds = rel.kind === 'target' || rel.kind === 'paused-target' ? targetHolds : sourceHolds;
      if (holds) {
        if (rel.kind !== 'target') this.emitChange('peer-device', id, pd, { peerDisk: pv.disk });
        return;
      }
      this.cancelRelation(pd);
    }
    if (md === null || pv.disk === 'Diskless') {
      this.emitChange('peer-device', id, pd, { replication: 'Established', peerDisk: pv.disk, done: null });
      return;
    }
    if (localData && peerData && md.generation === pv.generation) {
      this.emitChange('peer-device', id, pd, { replication: 'Established', peerDisk: pv.disk, done: null });
      if (dev.disk !== 'UpToDate') this.promoteToUpToDate(dev);
      return;
    }
    if (localData && (!peerData || md.generation > pv.generation)) {
      if (pd.refusedAtSeq === conn.peerStateSeq) {
        this.emitChange('peer-device', id, pd, { replication: 'Established', peerDisk: pv.disk, done: null });
        return;
      }
      // Our data is the newest this pair knows: a Consistent disk is the up-to-date copy here.
      if (dev.disk !== 'UpToDate') this.promoteToUpToDate(dev);
      pd.relation = { kind: 'offered', generation: md.generation, uuid: md.uuid };
      this.emitChange('peer-device', id, pd, { replication: 'WFBitMapS', peerDisk: pv.disk, done: null });
      this.sendSync(conn.link, { t: 'sync-offer', volume, generation: md.generation, uuid: md.uuid });
      return;
    }
    if (peerData && (!localData || pv.generation > md.generation)) {
      this.emitChange('peer-device', id, pd, { replication: 'WFBitMapT', peerDisk: pv.disk, done: null });
      return;
    }
    this.emitChange('peer-device', id, pd, { replication: 'Established', peerDisk: pv.disk, done: null });
  }

  private promoteToUpToDate(dev: Device): void {
    this.setDisk(dev, 'UpToDate');
    this.stateDirty = true;
  }

  private setDisk(dev: Device, disk: DrbdDiskState): void {
    if (dev.disk === disk) return;
    this.emitChange('device', this.devId(dev), dev, { disk });
    this.needsEval.add(dev.volume);
  }

  private stateMessage(): StateMessage {
    return {
      t: 'state',
      volumes: this.sortedDevices().map((dev) => ({
        volume: dev.volume,
        disk: dev.disk,
        generation: dev.md?.generation ?? 0,
        uuid: dev.md?.uuid ?? '',
      })),
    };
  }

  private flushState(): void {
    if (!this.stateDirty) return;
    this.stateDirty = false;
    const message = this.stateMessage();
    for (const conn of this.connections.values()) if (conn.link?.usable === true) conn.link.send(message);
  }

  /**
   * DRBD 9 quorum from `DrbdOptions/Resource/quorum`: `majority` = more than half of the voters reachable
   * (this node included when it votes), `all` = every voter, a number = at least that many; unset or `off` = always.
   * Voters are diskful replicas and diskless tie-breakers; diskless clients do not vote. An approximation of the
   * kernel's rules: no last-man-standing, every connected voter counts regardless of its disk state.
   */
  private computeQuorum(): boolean {
    const setting = this.desired.options[QUORUM_OPTION]?.trim();
    if (setting === undefined || setting === '' || setting === 'off') return true;
    const selfVotes = !this.desired.diskless || this.desired.tieBreaker;
    let total = selfVotes ? 1 : 0;
    let reachable = total;
    for (const conn of this.connections.values()) {
      if (conn.peer.diskless && !conn.peer.tieBreaker) continue;
      total += 1;
      if (conn.connection === 'Connected') reachable += 1;
    }
    if (total === 0) return true;
    if (setting === 'majority') return reachable * 2 > total;
    if (setting === 'all') return reachable === total;
    const needed = Number(setting);
    return Number.isInteger(needed) && needed > 0 ? reachable >= needed : true;
  }

  /**
   * may_promote: every volume has quorum and access to UpToDate data (its own disk, or for a diskless volume a
   * connected UpToDate peer). promotion_score approximates the kernel's: 0 unless promotable, then higher with more
   * connected peers and local disks.
   */
  private refreshPromotion(print: boolean): void {
    const connected = [...this.connections.values()].filter((c) => c.connection === 'Connected');
    const devices = [...this.devices.values()];
    const readsUpToDate = (dev: Device): boolean =>
      dev.disk === 'UpToDate' ||
      (dev.disk === 'Diskless' && connected.some((c) => c.peerDevices.get(dev.volume)?.peerDisk === 'UpToDate'));
    const mayPromote =
      this.fields.role === 'Secondary' && devices.length > 0 && devices.every((dev) => dev.quorum && readsUpToDate(dev));
    const local = devices.filter((dev) => dev.disk === 'UpToDate').length;
    const promotionScore = mayPromote ? 10000 + 100 * connected.length + local : 0;
    if (print) this.changeResource({ mayPromote, promotionScore });
    else Object.assign(this.fields, { mayPromote, promotionScore });
  }

  private hasDiskfulPeers(): boolean {
    return this.desired.peers.some((p) => !p.diskless);
  }

  /** A diskless replica that does not vote (DRBD `client:yes`); a diskless tie-breaker votes. */
  private localClient(): boolean {
    return this.desired.diskless && !this.desired.tieBreaker;
  }

  // --- printing helpers -------------------------------------------------------------------------------------------

  private changeResource(patch: Partial<ResourceFields>): void {
    this.emitChange('resource', identity.resource(this.name), this.fields, patch);
  }

  private emitChange<T extends object>(
    kind: 'resource' | 'connection' | 'device' | 'peer-device',
    id: string,
    target: T,
    patch: Partial<T>,
  ): void {
    const line = changeLine(kind, id, target, patch);
    if (line !== null) this.ctx.emit(line);
  }

  private connId(conn: Connection): string {
    return identity.connection(this.name, conn.peer.nodeId, conn.peer.node);
  }

  private devId(dev: Device): string {
    return identity.device(this.name, dev.volume, dev.minor);
  }

  private pdId(conn: Connection, volume: number): string {
    return identity.peerDevice(this.name, conn.peer.nodeId, conn.peer.node, volume);
  }

  private sortedConnections(): Connection[] {
    return [...this.connections.values()].sort((a, b) => a.peer.nodeId - b.peer.nodeId);
  }

  private sortedDevices(): Device[] {
    return sortedValues(this.devices);
  }

  private track(closing: Promise<void>): void {
    this.closing.add(closing);
    void closing.finally(() => this.closing.delete(closing));
  }
}

function sortedValues<V>(map: Map<number, V>): V[] {
  return [...map.entries()].sort(([a], [b]) => a - b).map(([, v]) => v);
}
