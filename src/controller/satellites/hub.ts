import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { MikroORM } from '@mikro-orm/postgresql';
import { GraphQLBoolean, GraphQLNonNull, GraphQLObjectType, GraphQLScalarType, GraphQLSchema, parse, validate, type DocumentNode } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { nameKey } from '../../common/names.js';
import {
  diffDesiredState,
  PROTOCOL_VERSION,
  SATELLITE_CLOSE,
  type ApplyReport,
  type DesiredState,
  type DesiredStateMessage,
  type SatelliteConnectionParams,
} from '../../common/protocol/satellite.js';
import { STORAGE_NODE_TYPES, type ConnectionStatus } from '../../common/vocabulary.js';
import { LockMode } from '@mikro-orm/core';
import { Node } from '../../orm/entities/node.js';
import type { EventBus } from '../events/bus.js';
import { AsyncQueue } from '../events/queue.js';
import { recordInitializedVolumes } from '../drbd/initialized.js';
import { parseDrbdStateReport } from '../drbd/report.js';
import { buildDesiredState, buildDesiredStateUpdate, rebuiltScope } from './desired-state.js';
import { markJobsSent, markVolumesSent } from './jobs.js';
import { ingestReport } from './reports.js';
import { LoadGate } from '../load-gate.js';
import { verifySecret } from './secrets.js';
import { touchNodes, withTransaction } from '../transaction.js';
import { touchReplicaNodes } from '../services/drbd-propagation.js';

export interface SatelliteHubOptions {
  orm: MikroORM;
  events: EventBus;
  log: Logger;
  /** WebSocket ping interval (default 2 s). */
  keepaliveMs?: number;
  /** A satellite that has not answered pings for this long is disconnected and shown OFFLINE (default 6 s). */
  deadAfterMs?: number;
  /**
   * Holds back the hub's database work (reports, desired states, DRBD_INITIALIZED) while users' mutations are in
   * flight (see LoadGate); by default a gate of its own that nothing marks busy.
   */
  gate?: LoadGate;
}

interface Connection {
  nodeId: number;
  nodeName: string;
  socket: WebSocket;
  lastPong: number;
  /** The current desired-state subscription, if any. */
  stream: Stream | null;
}

interface Stream {
  queue: AsyncQueue<DesiredStateMessage>;
  /** The state last sent (deltas are computed against it); null until the full state went out. */
  lastSent: DesiredState | null;
  dirty: boolean;
  /** The next state must be built in full, not from lastSent (see the `full` of desired-state-changed). */
  full: boolean;
  pumping: boolean;
}

interface SatelliteContext {
  connection?: Connection;
}

/** How long withdrawals of seeding instructions are collected before the seeding nodes' revisions move. */
const SEED_WITHDRAWAL_MS = 1000;

/** Parsed satellite documents by text; bounded, since any authenticated satellite may send any text. */
const parsedDocuments = new Map<string, DocumentNode>();
const MAX_CACHED_DOCUMENTS = 64;
const validDocuments = new WeakMap<GraphQLSchema, WeakSet<DocumentNode>>();

const cachedParse: typeof parse = (source, options) => {
  const text = typeof source === 'string' ? source : source.body;
  const cached = parsedDocuments.get(text);
  if (cached) return cached;
  const document = parse(source, options);
  if (parsedDocuments.size < MAX_CACHED_DOCUMENTS) parsedDocuments.set(text, document);
  return document;
};

/** Validation depends only on the schema and the document (the rules are graphql-ws's, always the same). */
const cachedValidate: typeof validate = (schema, document, rules, options, typeInfo) => {
  const valid = validDocuments.get(schema) ?? new WeakSet<DocumentNode>();
  validDocuments.set(schema, valid);
  if (valid.has(document)) return [];
  const errors = validate(schema, document, rules, options, typeInfo);
  if (errors.length === 0) valid.add(document);
  return errors;
};

const JSONScalar = new GraphQLScalarType({ name: 'JSON', serialize: (v) => v, parseValue: (v) => v });

/**
 * The controller's side of the satellite link: an internal graphql-ws endpoint (not part of the public schema).
 * It authenticates satellites, keeps one live connection per node, tracks connection status in the database,
 * streams each node's desired state (full on subscribe, then deltas on change) and ingests apply reports.
 * Every connection is served independently: a dead or slow satellite never delays the others.
 */
export class SatelliteHub {
  readonly wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  private readonly connections = new Map<number, Connection>();
  private readonly log: Logger;
  private readonly timer: NodeJS.Timeout;
  private readonly unlisten: () => void;
  private readonly unlistenModel: () => void;
  /** Volumes known to be DRBD_INITIALIZED (resource name key / volume number), see recordInitializedVolumes. */
  private readonly initialized = new Set<string>();
  /** Seeding nodes whose instruction is to be withdrawn (with the definitions), and the timer that moves their revisions (withdrawSeeding). */
  private readonly seedWithdrawals = new Map<number, Set<number>>();
  private seedTimer: NodeJS.Timeout | null = null;
  private readonly cleanup: { dispose(): void | Promise<void> };

  private readonly gate: LoadGate;

  constructor(private readonly options: SatelliteHubOptions) {
    this.log = options.log.child({ component: 'satellite-hub' });
    this.gate = options.gate ?? new LoadGate();
    this.unlisten = options.events.listenInternal((event) => {
      if (event.type === 'desired-state-changed') {
        for (const id of event.nodeIds) this.markDirty(id, event.full === true);
      } else if (event.type === 'secret-rotated') {
        this.connections.get(event.nodeId)?.socket.close(SATELLITE_CLOSE.WRONG_SECRET, 'the satellite secret was rotated');
      } else {
        this.connections.get(event.nodeId)?.socket.close(SATELLITE_CLOSE.UNKNOWN_NODE, 'the node was deleted or no longer runs a satellite');
      }
    });
    this.unlistenModel = options.events.listen((event) => {
      // A definition created again under the same name starts without data.
      if (event.kind === 'RESOURCE_DEFINITION' && event.action === 'DELETED') {
        const prefix = `${nameKey(event.path[0] ?? '')}/`;
        for (const key of [...this.initialized]) if (key.startsWith(prefix)) this.initialized.delete(key);
      }
    });
    this.cleanup = useServer<Record<string, unknown>, Record<PropertyKey, unknown>>(
      {
        schema: this.schema(),
        // A satellite sends the same few documents (report, drbdState, desiredState) many times a second: parse each
        // text once and validate each document once.
        parse: cachedParse,
        validate: cachedValidate,
        onConnect: (ctx) => this.authenticate(ctx.connectionParams as Partial<SatelliteConnectionParams> | undefined, ctx.extra.socket, ctx.extra as SatelliteContext),
        onClose: (ctx) => this.disconnected(ctx.extra as SatelliteContext),
        context: (ctx) => ctx.extra as unknown as Record<string, unknown>,
      },
      this.wss,
    );
    const keepaliveMs = options.keepaliveMs ?? 2000;
    const deadAfterMs = options.deadAfterMs ?? 6000;
    // Keepalive: a satellite that stops answering pings (killed, cut off) is dropped, which marks it OFFLINE.
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const c of this.connections.values()) {
        if (now - c.lastPong > deadAfterMs) {
          this.log.warn({ node: c.nodeName }, 'satellite stopped answering pings; disconnecting');
          c.socket.terminate();
        } else {
          c.socket.ping();
        }
      }
    }, keepaliveMs);
    this.timer.unref();
  }

  /** Takes an HTTP upgrade for the satellite path (the API server routes it here after its own checks). */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(request, socket, head, (ws) => this.wss.emit('connection', ws, request));
  }

  /** Node ids with a live, authenticated satellite connection. */
  connectedNodeIds(): number[] {
    return [...this.connections.keys()];
  }

  /**
   * Moves the revisions of seeding nodes whose volumes became DRBD_INITIALIZED, at most once per
   * SEED_WITHDRAWAL_MS for all of them: during a burst of spawns nearly every new definition withdraws one node's
   * instruction, and a revision, desired state, pass and report each (measured: three quarters of all desired states
   * built during the S2 benchmark) bought nothing, since a satellite never seeds while a peer is UpToDate.
   */
  private withdrawSeeding(seeds: { node: number; definition: number }[]): void {
    for (const { node, definition } of seeds) {
      const definitions = this.seedWithdrawals.get(node) ?? new Set<number>();
      definitions.add(definition);
      this.seedWithdrawals.set(node, definitions);
    }
    this.seedTimer ??= setTimeout(() => {
      this.seedTimer = null;
      // Confined to the definitions: the hub rebuilds only their entries of each seeding node's desired state.
      const touches = new Map([...this.seedWithdrawals].map(([node, definitions]) => [node, { reason: 'seeding instruction withdrawn', definitions: [...definitions].sort((a, b) => a - b) }]));
      this.seedWithdrawals.clear();
      const ctx = { em: this.options.orm.em.fork(), events: this.options.events, log: this.log, principal: { name: 'drbd-state', role: 'admin' as const } };
      void touchNodes(ctx, 'DRBD volumes initialized', touches);
    }, SEED_WITHDRAWAL_MS);
    this.seedTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (this.seedTimer) clearTimeout(this.seedTimer);
    this.unlisten();
    this.unlistenModel();
    for (const c of this.connections.values()) c.socket.close(1001, 'controller shutting down');
    // A frozen satellite never answers the close handshake; do not let it hold the shutdown for ws's 30 s.
    await new Promise((r) => setTimeout(r, 500));
    for (const ws of this.wss.clients) ws.terminate();
    await this.cleanup.dispose();
    // Connections closed by shutdown are OFFLINE from the controller's point of view.
    const ids = [...this.connections.keys()];
    this.connections.clear();
    if (ids.length > 0) await this.setStatus(ids, 'OFFLINE', null).catch(() => undefined);
  }

  private schema(): GraphQLSchema {
    return new GraphQLSchema({
      query: new GraphQLObjectType({ name: 'Query', fields: { ping: { type: new GraphQLNonNull(GraphQLBoolean), resolve: () => true } } }),
      mutation: new GraphQLObjectType({
        name: 'Mutation',
        fields: {
          report: {
            type: new GraphQLNonNull(GraphQLBoolean),
            args: { report: { type: new GraphQLNonNull(JSONScalar) } },
            resolve: async (_root, args: { report: ApplyReport }, ctx: SatelliteContext) => {
              const c = ctx.connection;
              // A report from a connection that is no longer the node's live one describes a past that the new
              // connection's full sync supersedes.
              if (!c || this.connections.get(c.nodeId) !== c) return false;
              c.lastPong = Date.now();
              await this.gate.background(() => ingestReport(this.options.orm.em.fork(), this.options.events, c.nodeId, args.report, this.log, () => this.connections.get(c.nodeId) === c));
              return true;
            },
          },
          drbdState: {
            type: new GraphQLNonNull(GraphQLBoolean),
            args: { report: { type: new GraphQLNonNull(JSONScalar) } },
            resolve: async (_root, args: { report: unknown }, ctx: SatelliteContext) => {
              const c = ctx.connection;
              if (!c || this.connections.get(c.nodeId) !== c) return false;
              c.lastPong = Date.now();
              const report = parseDrbdStateReport(args.report);
              const changes = this.options.events.drbd.apply(c.nodeName, report);
              if (changes.length > 0) {
                // Not awaited: the live state above is what the satellite's report is for, and it sends its next one
                // only once this one is answered; the database write may wait in the gate while mutations run.
                void this.gate.background(() => recordInitializedVolumes(this.options.orm.em.fork(), this.options.events, this.log, changes, this.initialized, c.nodeName, (ids) => this.withdrawSeeding(ids))).catch((err: unknown) =>
                  // Only delays dropping the seeding instruction; the next UpToDate report tries again.
                  this.log.warn({ err }, 'could not record initialized volumes'),
                );
              }
              return true;
            },
          },
        },
      }),
      subscription: new GraphQLObjectType({
        name: 'Subscription',
        fields: {
          desiredState: {
            type: new GraphQLNonNull(JSONScalar),
            subscribe: (_root, _args, ctx: SatelliteContext) => this.stream(ctx.connection!),
            resolve: (message: DesiredStateMessage) => message,
          },
        },
      }),
    });
  }

  /**
   * The desired-state stream of one subscription: a full state first, then one delta per change. Bursts coalesce:
   * while a state is being read, further changes only mark the stream dirty and one more read follows. Each
   * subscription has its own stream, so a satellite that resubscribes (for a fresh full state) never shares a
   * half-finished read with its previous subscription.
   */
  private stream(c: Connection): AsyncIterableIterator<DesiredStateMessage> {
    const stream: Stream = { queue: new AsyncQueue<DesiredStateMessage>(() => c.stream === stream && (c.stream = null)), lastSent: null, dirty: true, full: false, pumping: false };
    c.stream = stream;
    void this.pump(c, stream);
    return stream.queue;
  }

  private async pump(c: Connection, s: Stream): Promise<void> {
    if (s.pumping) return; // the running read sees s.dirty and reads again
    s.pumping = true;
    try {
      while (s.dirty && !s.queue.closed && this.connections.get(c.nodeId) === c) {
        // Changes that arrive while this waits for the gate are read with it.
        await this.gate.background(() => this.pumpOnce(c, s));
      }
    } catch (err) {
      // The database may be briefly unavailable: keep the change pending and try again shortly, in full.
      this.log.error({ err, node: c.nodeName }, 'could not read the desired state; retrying');
      s.dirty = true;
      s.full = true;
      setTimeout(() => void this.pump(c, s), 1000).unref();
    } finally {
      s.pumping = false;
    }
  }

  /** One read of the node's desired state, and the message that brings the satellite to it. */
  private async pumpOnce(c: Connection, s: Stream): Promise<void> {
    if (!s.dirty || s.queue.closed || this.connections.get(c.nodeId) !== c) return;
    s.dirty = false;
    // After the full state, only what the change log says changed is read again (unless told otherwise).
    const em = this.options.orm.em.fork();
    const previous = s.lastSent;
    // Taken before the read: a full rebuild asked for while it runs is the next read's.
    const rebuild = !previous || s.full;
    s.full = false;
    const next = rebuild ? await buildDesiredState(em, c.nodeId) : await buildDesiredStateUpdate(em, c.nodeId, previous);
    // An incremental build says which entries it rebuilt: only those are compared.
    const delta = previous ? diffDesiredState(previous, next, rebuild ? undefined : rebuiltScope(next)) : null;
    // After a rebuild every PENDING volume of the node is looked at (one may have been missed: a failed mark).
    if (!previous || next.revision !== previous.revision) await this.jobsSent(c.nodeId, next.revision, rebuild || !delta ? null : delta.upsertVolumes.map((v) => v.resource));
    if (!previous || !delta) {
      s.queue.push({ type: 'full', state: next });
    } else {
      // Same revision but different content cannot come from the change log; it means a change that was not
      // recorded (a lost revision move, see touchNodes). Send it anyway rather than let the node miss it.
      if (next.revision === previous.revision && !isEmptyDelta(delta)) this.log.warn({ node: c.nodeName, revision: next.revision }, 'desired state changed without a new revision');
      if (next.revision !== previous.revision || !isEmptyDelta(delta)) s.queue.push(delta);
    }
    s.lastSent = next;
  }


  /**
   * Jobs waiting for this node up to `revision` are now being realized, and its PENDING volumes are being created:
   * say so, without holding up the stream. `definitions`: those whose volumes the message carried (null: any).
   */
  private async jobsSent(nodeId: number, revision: number, definitions: readonly string[] | null): Promise<void> {
    try {
      const jobs = await markJobsSent(this.options.orm.em.fork(), nodeId, revision);
      const volumes = await markVolumesSent(this.options.orm.em.fork(), nodeId, definitions);
      const at = new Date();
      for (const j of jobs) this.options.events.publish({ kind: 'PLACEMENT_JOB', action: 'MODIFIED', path: [j.kind, j.resourceDefinition], uuid: j.uuid, at });
      for (const v of volumes) this.options.events.publish({ kind: 'VOLUME', action: 'MODIFIED', path: [v.resource, v.node, String(v.volumeNumber)], uuid: v.uuid, at });
    } catch (err) {
      this.log.warn({ err }, 'could not mark jobs as realizing');
    }
  }

  private markDirty(nodeId: number, full = false): void {
    const c = this.connections.get(nodeId);
    const s = c?.stream;
    if (!c || !s) return; // offline nodes get everything with the full state when they return
    s.dirty = true;
    if (full) s.full = true;
    void this.pump(c, s);
  }

  private async authenticate(params: Partial<SatelliteConnectionParams> | undefined, socket: WebSocket, extra: SatelliteContext): Promise<boolean> {
    const refuse = (code: number, reason: string): false => {
      this.log.warn({ node: params?.nodeName, code, reason }, 'refused a satellite');
      socket.close(code, reason);
      return false;
    };
    if (!params || typeof params.nodeName !== 'string' || typeof params.secret !== 'string') {
      return refuse(SATELLITE_CLOSE.WRONG_SECRET, 'connectionParams must carry nodeName and secret');
    }
    if (params.protocolVersion !== PROTOCOL_VERSION) {
      return refuse(SATELLITE_CLOSE.VERSION_MISMATCH, `protocol version ${String(params.protocolVersion)} is not ${PROTOCOL_VERSION}: upgrade the satellite and controller together`);
    }
    const em = this.options.orm.em.fork();
    const node = await em.findOne(Node, { nameKey: nameKey(params.nodeName) });
    if (!node) return refuse(SATELLITE_CLOSE.UNKNOWN_NODE, `node '${params.nodeName}' is not registered: create it with createNode first`);
    if (!STORAGE_NODE_TYPES.includes(node.type)) return refuse(SATELLITE_CLOSE.NOT_A_STORAGE_NODE, `node '${node.name}' is a ${node.type} node and runs no satellite`);
    if (!verifySecret(params.secret, node.satelliteSecretHash)) {
      if (!this.connections.has(node.id)) {
        await this.setStatus([node.id], 'AUTHENTICATION_ERROR', 'A satellite presented a wrong secret; give it the secret from createNode or rotateNodeSecret.');
      }
      return refuse(SATELLITE_CLOSE.WRONG_SECRET, `wrong secret for node '${node.name}': use the secret from createNode or rotateNodeSecret`);
    }
    if (this.connections.has(node.id)) {
      return refuse(SATELLITE_CLOSE.ALREADY_CONNECTED, `node '${node.name}' already has a connected satellite`);
    }
    const connection: Connection = { nodeId: node.id, nodeName: node.name, socket, lastPong: Date.now(), stream: null };
    socket.on('pong', () => (connection.lastPong = Date.now()));
    this.connections.set(node.id, connection);
    extra.connection = connection;
    const hostname = typeof params.hostname === 'string' ? params.hostname.slice(0, 253) : null;
    const hostnameChanged = node.satelliteHostname !== hostname;
    node.satelliteHostname = hostname;
    await em.flush();
    // Peers name this node by its hostname in their DRBD configuration (`on <hostname>`): a new one is a change of
    // their desired state, recorded like any other (a peer's next state may be built from its previous one). Not
    // awaited: the handshake does not wait for the peers' revision locks.
    if (hostnameChanged) void this.touchPeersOf(node.id, node.name);
    await this.setStatus([node.id], 'CONNECTED', null);
    this.log.info({ node: node.name, hostname: params.hostname }, 'satellite connected');
    return true;
  }

  /** Moves the revision of every node holding a live replica of a definition that also has one on `nodeId`. */
  private async touchPeersOf(nodeId: number, nodeName: string): Promise<void> {
    const ctx = { em: this.options.orm.em.fork(), events: this.options.events, log: this.log, principal: { name: 'satellite-hub', role: 'admin' as const } };
    await withTransaction(ctx, 'Satellite hostname', (em, _emit, touch) => touchReplicaNodes(em, touch, { peersOfNode: nodeId }, `host name of ${nodeName} changed`)).catch((err: unknown) =>
      this.log.warn({ err, node: nodeName }, "could not move the revisions of the node's peers after its host name changed"),
    );
  }

  private async disconnected(extra: SatelliteContext): Promise<void> {
    const c = extra.connection;
    if (!c || this.connections.get(c.nodeId) !== c) return;
    this.connections.delete(c.nodeId);
    c.stream?.queue.end();
    // Whatever DRBD state the node had is no longer known: never show a stale UpToDate.
    this.options.events.drbd.forgetNode(c.nodeName);
    this.log.info({ node: c.nodeName }, 'satellite disconnected');
    await this.setStatus([c.nodeId], 'OFFLINE', null).catch((err) => this.log.error({ err }, 'could not record OFFLINE'));
  }

  /**
   * Records a connection status (and why, when not fine) and tells subscribers. The node rows are locked, and a
   * status that says "no satellite" (OFFLINE, AUTHENTICATION_ERROR) is not written over a connection that is live by
   * then: a late write of a closed connection must not hide the new one.
   */
  private async setStatus(nodeIds: number[], status: ConnectionStatus, lastError: string | null): Promise<void> {
    const changed = await this.options.orm.em.fork().transactional(async (em) => {
      const nodes = await em.find(Node, { id: { $in: nodeIds } }, { lockMode: LockMode.PESSIMISTIC_WRITE, orderBy: { id: 'asc' } });
      const affected = nodes.filter((n) => status === 'CONNECTED' || !this.connections.has(n.id));
      for (const node of affected) {
        node.connectionStatus = status;
        node.lastSeenAt = new Date();
        if (lastError !== null || status === 'CONNECTED') node.lastError = lastError;
      }
      return affected;
    });
    const at = new Date();
    for (const node of changed) this.options.events.publish({ kind: 'NODE', action: 'MODIFIED', path: [node.name], uuid: node.uuid, at });
  }
}

function isEmptyDelta(d: ReturnType<typeof diffDesiredState>): boolean {
  return d.upsertPools.length + d.deletePools.length + d.upsertVolumes.length + d.deleteVolumes.length + d.upsertDrbdResources.length + d.deleteDrbdResources.length === 0;
}
