import os from 'node:os';
// The client entry only: the package root also loads graphql-ws's server, which imports graphql (not a satellite
// dependency, see test/architecture.test.ts).
import { createClient, type Client } from 'graphql-ws/client';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { nameKey } from '../common/names.js';
import {
  applyDesiredStateDelta,
  PROTOCOL_VERSION,
  SATELLITE_CLOSE,
  type ApplyReport,
  type DesiredState,
  type DesiredStateMessage,
  type SatelliteConnectionParams,
  volumeKey,
} from '../common/protocol/satellite.js';
import { DEFAULT_CAPACITY_INTERVAL_MS, satelliteEndpoint } from './config.js';
import { parseDesiredStateMessage } from './reconcile/desired-state.js';
import { ReconcileLoop } from './reconcile/loop.js';
import { ReportCompactor } from './reconcile/report-delta.js';
import type { DrbdStateReport } from '../common/protocol/drbd.js';
import type { DrbdLayer } from './layers/drbd/drbd-layer.js';
import { errorMessage, reconcile, type ProviderSource } from './reconcile/reconcile.js';

/** Timing of the controller link; every value has a production default, tests shorten them. */
export interface AgentTiming {
  /** Send a graphql-ws Ping this long after the last Pong (default 2 s). */
  pingIntervalMs: number;
  /** Drop the connection (and reconnect) when a Ping is not answered within this long (default 6 s). */
  pongTimeoutMs: number;
  /** First reconnect delay after a lost connection (default 250 ms); doubles per attempt, with jitter. */
  retryBaseMs: number;
  /** Longest reconnect delay after a lost connection (default 5 s). */
  retryMaxMs: number;
  /**
   * Reconnect delay after the controller refused this satellite (unknown node, wrong secret, not a storage node,
   * protocol mismatch; default 10 s): slow, so a misconfigured satellite does not hammer the controller, yet it
   * recovers by itself once an operator registers the node or fixes the secret.
   */
  refusedRetryMs: number;
  /** Give up on a WebSocket opening handshake after this long (default 5 s; a blackholed host would take minutes). */
  handshakeTimeoutMs: number;
  /** Give up when the controller does not acknowledge the connection within this long (default 10 s). */
  connectionAckTimeoutMs: number;
  /** A report the controller has not confirmed within this long counts as failed (default 15 s). */
  reportTimeoutMs: number;
  /** Wait before subscribing again after the controller ended or failed the desired-state subscription (default 1 s). */
  resubscribeDelayMs: number;
  /** First/longest retry delay of a reconcile pass that did not converge (defaults 1 s / 60 s). */
  passBackoffMs: number;
  passBackoffMaxMs: number;
}

const DEFAULT_TIMING: AgentTiming = {
  pingIntervalMs: 2_000,
  pongTimeoutMs: 6_000,
  retryBaseMs: 250,
  retryMaxMs: 5_000,
  refusedRetryMs: 10_000,
  handshakeTimeoutMs: 5_000,
  connectionAckTimeoutMs: 10_000,
  reportTimeoutMs: 15_000,
  resubscribeDelayMs: 1_000,
  passBackoffMs: 1_000,
  passBackoffMaxMs: 60_000,
};

export interface SatelliteAgentOptions {
  /** The controller, e.g. `ws://ctrl:3370` (the satellite path is added, see {@link satelliteEndpoint}). */
  controllerUrl: string;
  nodeName: string;
  /** The node's secret, issued by createNode / rotateNodeSecret. */
  secret: string;
  /** Reported to the controller as the host's name (default `os.hostname()`). */
  hostname?: string;
  /** Where storage providers come from (production: a CachingProviderSource over the execa runner). */
  providers: ProviderSource;
  /**
   * The DRBD layer (production: always; see bin/satellite.ts for the backend choice). Built by the caller with
   * {@link SatelliteAgent.drbdReporter} as its report function. Without one, DRBD resources in the desired state are
   * not run (the storage layer alone: only for tests of the storage path).
   */
  drbd?: DrbdLayer;
  log: Logger;
  /** Re-measure capacity (a reconcile pass) this long after the last pass when nothing else happens (default 30 s). */
  capacityIntervalMs?: number;
  timing?: Partial<AgentTiming>;
  /** Called on every established (and acknowledged) connection. */
  onConnected?: (info: { url: string; reconnect: boolean }) => void;
}

const REPORT_MUTATION = 'mutation Report($r: JSON!) { report(report: $r) }';
const DRBD_STATE_MUTATION = 'mutation DrbdState($r: JSON!) { drbdState(report: $r) }';
const DESIRED_STATE_SUBSCRIPTION = 'subscription DesiredState { desiredState }';

/** Close codes with which the controller refuses this satellite as configured: retried slowly. */
const REFUSALS: ReadonlySet<number> = new Set([
  SATELLITE_CLOSE.UNKNOWN_NODE,
  SATELLITE_CLOSE.WRONG_SECRET,
  SATELLITE_CLOSE.NOT_A_STORAGE_NODE,
  SATELLITE_CLOSE.VERSION_MISMATCH,
]);

/** What a close code means for an operator reading the satellite's log. */
function closeMeaning(code: number): string {
  switch (code) {
    case SATELLITE_CLOSE.UNKNOWN_NODE:
      return 'the controller does not know this node: register it (createNode) or start the satellite with the registered --node name';
    case SATELLITE_CLOSE.WRONG_SECRET:
      return "the controller refused the secret: give the satellite the node's current secret (createNode / rotateNodeSecret)";
    case SATELLITE_CLOSE.NOT_A_STORAGE_NODE:
      return 'the node is registered with a type that runs no satellite (only SATELLITE and COMBINED nodes do)';
    case SATELLITE_CLOSE.ALREADY_CONNECTED:
      return 'another satellite is connected for this node (or the controller has not yet noticed that the previous connection died)';
    case SATELLITE_CLOSE.VERSION_MISMATCH:
      return 'the controller speaks another protocol version: upgrade satellite and controller together';
    case 4499:
      return 'dropped by the satellite (no answer to keepalive pings)';
    case 1000:
      return 'closed normally';
    case 1001:
      return 'the controller is going away (restart or shutdown)';
    case 1006:
      return 'connection lost or refused';
    default:
      return 'connection closed';
  }
}

interface CloseLike {
  code: number;
  reason: string;
}

function isCloseLike(value: unknown): value is CloseLike {
  return typeof value === 'object' && value !== null && typeof (value as CloseLike).code === 'number' && typeof (value as CloseLike).reason === 'string';
}

/**
 * The WebSocket class graphql-ws opens connections with: `ws` with an opening-handshake timeout (graphql-ws passes no
 * options), and with an 'error' listener of its own, because graphql-ws removes its `onerror` handler when it
 * terminates a socket and `ws` would then throw an unhandled 'error' event out of the process.
 */
function webSocketClass(handshakeTimeoutMs: number): new (address: string | URL, protocols?: string | string[]) => WebSocket {
  return class SatelliteWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, { handshakeTimeout: handshakeTimeoutMs });
      this.on('error', () => undefined);
    }
  };
}

/**
 * The satellite process's link to its controller and its reconcile loop (DESIGN "Controller <-> satellite"). It is a
 * graphql-ws client of the controller's satellite endpoint:
 * - authenticates with {@link SatelliteConnectionParams} on every connection, and reconnects forever: with a short
 *   randomized exponential backoff (at most ~5 s) after a lost connection, slowly (10 s) after a refusal, logging the
 *   close code and what it means once per change;
 * - keeps the connection honest with graphql-ws Pings every 2 s and drops it when a Pong does not come within 6 s,
 *   so a dead controller is noticed and the satellite reconnects to the next one that answers;
 * - subscribes to its desired state (graphql-ws subscribes again after a reconnect; the controller then sends a full
 *   state), applies deltas, and subscribes again for a full state when a delta does not fit its revision;
 * - runs a reconcile pass for every new desired state and every `capacityIntervalMs`, and reports each pass with the
 *   `report` mutation. A report that cannot be delivered is not queued: the pass after the reconnect reports the
 *   then-current truth, which is all the controller needs.
 * The satellite keeps no state on disk: after its own restart the full state and the providers' list() are enough.
 */
export class SatelliteAgent {
  readonly url: string;
  private readonly log: Logger;
  private readonly timing: AgentTiming;
  private readonly hostname: string;
  private readonly loop: ReconcileLoop;
  private client: Client | null = null;
  /** Incremented per client; events of an older client are ignored. */
  private generation = 0;
  private socket: WebSocket | null = null;
  private everConnected = false;
  private stopping = false;
  private started = false;
  private subscription: { token: object; dispose: () => void } | null = null;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private pongTimer: ReturnType<typeof setTimeout> | null = null;
  /** Reports in flight; each entry fails its report when the connection closes. */
  private readonly inflight = new Set<(reason: string) => void>();
  private lastClose: CloseLike | null = null;
  private lastError: string | null = null;
  /** code|reason of the last close that was logged at warn level; cleared on connect. */
  private loggedClose: string | null = null;
  private refusals = 0;
  /** Makes pass reports partial: only what the controller does not know yet (see ReportCompactor). */
  private readonly reports = new ReportCompactor();
  /** What the compactor had been told when each pass began (see ReportCompactor.passStarted). */
  private readonly passStarts = new WeakMap<ApplyReport, number>();

  constructor(private readonly options: SatelliteAgentOptions) {
    this.url = satelliteEndpoint(options.controllerUrl);
    this.log = options.log.child({ component: 'satellite', node: options.nodeName });
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    this.hostname = options.hostname ?? os.hostname();
    this.loop = new ReconcileLoop({
      reconcile: async (desired, log) => {
        const seen = this.reports.passStarted();
        const report = await reconcile(desired, options.providers, log, options.drbd);
        this.passStarts.set(report, seen);
        return report;
      },
      report: (report, log) => this.sendReport(report, log),
      log: this.log,
      refreshIntervalMs: options.capacityIntervalMs ?? DEFAULT_CAPACITY_INTERVAL_MS,
      initialBackoffMs: this.timing.passBackoffMs,
      maxBackoffMs: this.timing.passBackoffMaxMs,
    });
  }

  /** True while an acknowledged connection to the controller is open. */
  get connected(): boolean {
    return this.socket !== null;
  }

  /** The desired state the satellite currently works towards (null before the first full state). */
  get desired(): DesiredState | null {
    return this.loop.current;
  }

  /** Connects (in the background; it never gives up) and starts reconciling once the first desired state arrives. */
  start(): void {
    if (this.started) throw new Error('SatelliteAgent.start() called twice');
    this.started = true;
    this.log.info({ url: this.url, reportedHostname: this.hostname, drbdBackend: this.options.drbd?.backendName ?? null }, 'satellite starting');
    this.openClient();
  }

  /**
   * Delivers a DRBD state report to the controller; rejects when not connected or not confirmed, so the DRBD layer
   * sends a full report next time. Pass it as the DrbdLayer's `report` option.
   */
  readonly drbdReporter = (report: DrbdStateReport): Promise<void> => {
    if (!this.client || !this.socket) return Promise.reject(new Error('not connected to the controller'));
    return this.mutate(DRBD_STATE_MUTATION, report, 'drbdState', 'DRBD state report');
  };

  /**
   * Stops reconnecting, lets a running pass finish (and report, when connected), then closes the connection
   * normally. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.loop.stop();
    this.clearPongTimer();
    this.subscription = null;
    const client = this.client;
    this.client = null;
    this.generation++;
    if (!client) return;
    if (this.socket) {
      // Open: a normal closure, so the controller marks the node OFFLINE at once.
      await Promise.race([client.dispose(), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]).catch(() => undefined);
    } else {
      // Connecting or waiting to retry: kill the attempt. dispose() would wait for a connection that may never come,
      // and the retry wait (its timer cleared above) never resolves, so no new socket is opened.
      client.terminate();
      void Promise.resolve(client.dispose()).catch(() => undefined);
    }
    this.socket = null;
    this.log.info('satellite stopped');
  }

  private openClient(): void {
    if (this.stopping) return;
    const generation = ++this.generation;
    // Events of a replaced client are stale. While stopping, the current client's events still count: a pass that
    // finishes during stop() reports, and a close must fail that report at once rather than after its timeout.
    const mine = () => generation === this.generation;
    const client = createClient({
      url: this.url,
      webSocketImpl: webSocketClass(this.timing.handshakeTimeoutMs),
      // A function, so that every (re)connection presents the current values.
      connectionParams: (): Record<string, unknown> & SatelliteConnectionParams => ({
        nodeName: this.options.nodeName,
        secret: this.options.secret,
        protocolVersion: PROTOCOL_VERSION,
        hostname: this.hostname,
      }),
      lazy: false,
      retryAttempts: Infinity,
      shouldRetry: () => true,
      retryWait: (retries) => this.wait(this.retryDelay(retries)),
      keepAlive: this.timing.pingIntervalMs,
      connectionAckWaitTimeout: this.timing.connectionAckTimeoutMs,
      // graphql-ws gives up for good on a few close codes whatever shouldRetry says, among them the controller's
      // 4400/4401/4409 refusals; the agent then builds a new client after a delay.
      onNonLazyError: (error) => {
        if (mine()) this.clientGaveUp(generation, error);
      },
      on: {
        connected: (socket) => {
          if (mine()) this.onConnected(socket as WebSocket);
        },
        closed: (event) => {
          if (mine()) this.onClosed(event);
        },
        error: (error) => {
          if (mine()) this.lastError = errorMessage((error as { error?: unknown })?.error ?? error);
        },
        ping: (received) => {
          if (!received && mine()) this.armPongTimer(client);
        },
        pong: (received) => {
          if (received) this.clearPongTimer();
        },
      },
    });
    this.client = client;
    this.subscribeDesiredState();
  }

  private onConnected(socket: WebSocket): void {
    this.socket = socket;
    if (this.stopping) return; // stop() closes it normally
    const reconnect = this.everConnected;
    this.everConnected = true;
    this.loggedClose = null;
    this.lastError = null;
    this.refusals = 0;
    this.log.info({ url: this.url, reconnect }, 'connected to the controller');
    // A new connection may be a new controller (or a restored database): its first report is complete.
    this.reports.forget();
    // The controller forgot this node's DRBD state when the previous connection ended.
    this.options.drbd?.resendFull();
    this.options.onConnected?.({ url: this.url, reconnect });
  }

  private onClosed(event: unknown): void {
    const wasConnected = this.socket !== null;
    this.socket = null;
    this.clearPongTimer();
    for (const fail of [...this.inflight]) fail('the connection to the controller closed before it confirmed the report');
    const close: CloseLike = isCloseLike(event) ? { code: event.code, reason: event.reason } : { code: 1006, reason: '' };
    this.lastClose = close;
    const reason = close.reason || this.lastError || '';
    this.lastError = null;
    const key = `${close.code}|${reason}`;
    const details = { code: close.code, reason: reason || undefined, meaning: closeMeaning(close.code), url: this.url };
    // Once per change: a controller that stays down or keeps refusing would otherwise log every few seconds.
    if (key !== this.loggedClose) {
      this.loggedClose = key;
      this.log.warn(details, wasConnected ? 'lost the connection to the controller; reconnecting' : 'cannot connect to the controller; retrying');
    } else {
      this.log.debug(details, 'connection attempt failed again');
    }
  }

  /** graphql-ws stopped for good (fatal close code): start over with a new client after the appropriate delay. */
  private clientGaveUp(generation: number, error: unknown): void {
    if (generation !== this.generation || this.stopping) return;
    const old = this.client;
    this.client = null;
    this.subscription = null;
    this.generation++;
    void Promise.resolve(old?.dispose()).catch(() => undefined);
    if (isCloseLike(error)) this.lastClose = error;
    const delay = this.retryDelay(this.refusals++);
    this.log.debug({ inMs: Math.round(delay), error: isCloseLike(error) ? `${error.code} ${error.reason}` : errorMessage(error) }, 'connecting again with a new client');
    this.later(delay, () => this.openClient());
  }

  /**
   * Delay before the next connection attempt: slow after a refusal, otherwise a randomized exponential backoff
   * (half to full of base * 2^attempt, at most retryMaxMs), so a restarted controller is not hit by every satellite
   * at the same instant.
   */
  private retryDelay(attempt: number): number {
    if (this.lastClose && REFUSALS.has(this.lastClose.code)) return this.timing.refusedRetryMs * (0.9 + 0.2 * Math.random());
    const ceiling = Math.min(this.timing.retryMaxMs, this.timing.retryBaseMs * 2 ** Math.min(attempt, 20));
    return ceiling * (0.5 + 0.5 * Math.random());
  }

  private subscribeDesiredState(): void {
    const client = this.client;
    if (!client || this.stopping) return;
    const token = {};
    const current = () => this.subscription?.token === token && !this.stopping;
    const dispose = client.subscribe<{ desiredState: unknown }>(
      { query: DESIRED_STATE_SUBSCRIPTION },
      {
        next: (result) => {
          if (!current()) return;
          if (result.errors?.length) {
            this.log.error({ errors: result.errors.map((e) => e.message) }, 'the controller sent errors on the desired-state subscription');
            return;
          }
          this.onDesiredStateMessage(result.data?.desiredState);
        },
        error: (error) => {
          if (!current()) return;
          this.subscription = null;
          // A close event here means graphql-ws gave up on the connection; onNonLazyError restarts the client.
          if (isCloseLike(error)) return;
          const errors = Array.isArray(error) ? error.map((e: { message?: string }) => e.message ?? String(e)) : [errorMessage(error)];
          this.log.error({ errors }, 'the controller refused the desired-state subscription; subscribing again');
          this.later(this.timing.resubscribeDelayMs, () => this.subscribeDesiredState());
        },
        complete: () => {
          if (!current()) return;
          this.subscription = null;
          this.log.warn('the controller ended the desired-state subscription; subscribing again');
          this.later(this.timing.resubscribeDelayMs, () => this.subscribeDesiredState());
        },
      },
    );
    this.subscription = { token, dispose };
  }

  /** Drops the subscription and subscribes again, which makes the controller send a full state. */
  private resubscribe(): void {
    const old = this.subscription;
    this.subscription = null;
    old?.dispose();
    this.subscribeDesiredState();
  }

  private onDesiredStateMessage(raw: unknown): void {
    let message: DesiredStateMessage;
    try {
      message = parseDesiredStateMessage(raw);
    } catch (error) {
      this.reportFatal(`malformed desired-state message: ${errorMessage(error)}`, this.loop.current?.revision ?? 0);
      return;
    }
    const node = message.type === 'full' ? message.state.node : message.node;
    if (nameKey(node) !== nameKey(this.options.nodeName)) {
      this.reportFatal(`received the desired state of node '${node}', but this satellite is node '${this.options.nodeName}'`, message.type === 'full' ? message.state.revision : message.revision);
      return;
    }
    if (message.type === 'full') {
      this.reports.forget();
      this.log.info({ revision: message.state.revision, pools: message.state.pools.length, volumes: message.state.volumes.length }, 'received full desired state');
      this.loop.setDesired(message.state);
      return;
    }
    const current = this.loop.current;
    if (!current || current.revision !== message.baseRevision) {
      // Something was missed (or arrived out of order): only a full state can be trusted now.
      this.log.warn({ have: current?.revision ?? null, baseRevision: message.baseRevision, revision: message.revision }, 'delta does not fit the current revision; resubscribing for a full state');
      this.resubscribe();
      return;
    }
    const next = applyDesiredStateDelta(current, message);
    // The controller's records of these volumes may be new or reset: their next report entries are owed.
    this.reports.touch([
      ...message.upsertVolumes.map(volumeKey),
      ...message.upsertDrbdResources.flatMap((r) => r.volumes.map((v) => volumeKey({ resource: r.name, volumeNumber: v.volumeNumber }))),
    ]);
    this.log.info(
      {
        revision: next.revision,
        upsertPools: message.upsertPools.length,
        deletePools: message.deletePools.length,
        upsertVolumes: message.upsertVolumes.length,
        deleteVolumes: message.deleteVolumes.length,
      },
      'received desired-state delta',
    );
    this.loop.setDesired(next);
  }

  private reportFatal(fatal: string, revision: number): void {
    this.log.error({ revision }, fatal);
    const report: ApplyReport = { revision, converged: false, pools: [], volumes: [], fatal };
    this.sendReport(report, this.log).catch((error: unknown) => this.log.warn({ err: error }, 'could not deliver the fatal report'));
  }

  /**
   * Sends one report and resolves when the controller confirmed it. Skipped (resolves) when not connected: the pass
   * after the reconnect reports again. Rejects when the controller answers with errors, does not confirm within
   * reportTimeoutMs, or the connection closes meanwhile; the loop then retries the pass. Never queued across a
   * reconnect, so a stale report cannot arrive after a fresh one.
   */
  private sendReport(report: ApplyReport, log: Logger): Promise<void> {
    if (!this.client || !this.socket) {
      log.info({ revision: report.revision }, 'not connected; the pass after the reconnect reports');
      return Promise.resolve();
    }
    const compact = this.reports.compact(report, this.passStarts.get(report));
    return this.mutate(REPORT_MUTATION, compact.report, 'report', 'report').then(() => {
      compact.delivered();
      log.debug({ revision: report.revision, converged: report.converged, volumes: compact.report.volumes.length, partial: compact.report.partial === true }, 'report delivered');
    });
  }

  /**
   * Runs one of the controller's report mutations (`field` returns true when accepted) and resolves when the
   * controller confirmed it; rejects on errors, a false answer, no confirmation within reportTimeoutMs, or a closed
   * connection.
   */
  private mutate(query: string, payload: unknown, field: 'report' | 'drbdState', what: string): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('not connected to the controller'));
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let answered = false;
      let dispose: (() => void) | undefined;
      // `cancel` only when graphql-ws will not end the operation itself (timeout, connection closed): disposing an
      // operation that already delivered its result races with the server's Complete in the same socket read, and
      // graphql-ws then releases its connection lock twice and closes the connection (seen in the agent test).
      const finish = (error: string | null, cancel: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inflight.delete(onClose);
        if (cancel) dispose?.();
        if (error) reject(new Error(error));
        else resolve();
      };
      const onClose = (reason: string) => finish(reason, true);
      const timer = setTimeout(() => finish(`the controller did not confirm the ${what} within ${this.timing.reportTimeoutMs} ms`, true), this.timing.reportTimeoutMs);
      this.inflight.add(onClose);
      dispose = client.subscribe<Record<string, boolean>>(
        { query, variables: { r: payload } },
        {
          next: (result) => {
            answered = true;
            if (result.errors?.length) finish(`the controller refused the ${what}: ${result.errors.map((e) => e.message).join('; ')}`, false);
            else if (result.data?.[field] !== true) finish(`the controller did not accept the ${what} (${field} returned false)`, false);
            else finish(null, false);
          },
          error: (error) =>
            finish(
              `${what} failed: ${isCloseLike(error) ? `connection closed (${error.code} ${error.reason})` : Array.isArray(error) ? error.map((e: { message?: string }) => e.message).join('; ') : errorMessage(error)}`,
              false,
            ),
          complete: () => {
            if (!answered) finish(`the controller completed the ${what} without an answer`, false);
          },
        },
      );
    });
  }

  private armPongTimer(client: Client): void {
    if (this.pongTimer) return;
    this.pongTimer = setTimeout(() => {
      this.pongTimer = null;
      if (this.stopping || client !== this.client) return;
      this.log.warn({ timeoutMs: this.timing.pongTimeoutMs }, 'the controller did not answer a ping; dropping the connection');
      client.terminate();
    }, this.timing.pongTimeoutMs);
  }

  private clearPongTimer(): void {
    if (this.pongTimer) clearTimeout(this.pongTimer);
    this.pongTimer = null;
  }

  /** Resolves after `ms`, unless the agent stops first: then never (see stop()). */
  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, resolve));
  }

  private later(ms: number, fn: () => void): void {
    if (this.stopping) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopping) fn();
    }, ms);
    this.timers.add(t);
  }
}
