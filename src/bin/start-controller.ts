import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import pino, { type Logger } from 'pino';
import { EventBus } from '../controller/events/bus.js';
import { LoadGate } from '../controller/load-gate.js';
import { SatelliteHub } from '../controller/satellites/hub.js';
import { startLocalSatellites } from './local-satellite.js';
import { Node } from '../orm/entities/node.js';
import { ensureDisklessPools } from '../controller/services/node.js';
import { startApiServer, type ApiServer } from '../graph/server.js';
import { openOrm } from '../orm/config.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from '../orm/embedded.js';

/** Controller settings; see README "Configuration" for flags, environment variables and defaults. */
export interface ControllerConfig {
  host: string;
  port: number;
  /** Holds the embedded database (and, later, other controller state). */
  dataDir: string;
  /** PostgreSQL URL; when absent the embedded database in `dataDir` is used. */
  databaseUrl?: string | undefined;
  logLevel: string;
  graphiqlDir: string;
  /** Origins whose pages may open the API WebSocket besides the controller's own; default []. */
  allowedOrigins?: readonly string[];
  /** Host names answered besides the loopback ones (DNS rebinding protection); default []. */
  allowedHosts?: readonly string[];
  log?: Logger;
  /** Satellite keepalive: ping interval and silence after which a satellite counts as gone (defaults 2 s / 6 s). */
  satelliteKeepaliveMs?: number;
  satelliteDeadAfterMs?: number;
  /**
   * Also run this many satellites in-process (npm start: 3), each a node on 127.0.0.<i> with a FILE_THIN pool in
   * the data directory and the emulated DRBD backend; default 0.
   */
  localSatellites?: number;
  /** Called with every SQL statement (tests count queries with it). */
  onQuery?: (sql: string) => void;
}

export interface RunningController {
  api: ApiServer;
  orm: MikroORM;
  events: EventBus;
  log: Logger;
  /** 'embedded' or 'postgresql' */
  database: 'embedded' | 'postgresql';
  satellites: SatelliteHub;
  /** Stops accepting requests, drains, closes the database; idempotent. */
  stop(): Promise<void>;
}

/**
 * Composition root of the controller: database (embedded or PostgreSQL) with migrations applied, repair of the
 * objects that must always exist, then the API server.
 */
export async function startController(config: ControllerConfig): Promise<RunningController> {
  const log = config.log ?? pino({ level: config.logLevel, base: { component: 'controller' } });
  let embedded: EmbeddedDatabase | undefined;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await startEmbeddedDatabase({ dir: path.join(config.dataDir, 'db'), log: (m) => log.debug({ component: 'embedded-postgres' }, m) });
    url = embedded.url;
  }
  let orm: MikroORM | undefined;
  try {
    orm = await openOrm({ clientUrl: url, onQuery: config.onQuery });
    const events = new EventBus();
    const repaired = await ensureDisklessPools({ em: orm.em.fork(), events, principal: { name: 'controller', role: 'admin' }, log });
    if (repaired > 0) log.warn({ repaired }, 'created missing DfltDisklessStorPool pools');
    // No satellite is connected to a controller that just started, whatever a crashed predecessor recorded.
    await orm.em.fork().nativeUpdate(Node, { connectionStatus: { $ne: 'OFFLINE' } }, { connectionStatus: 'OFFLINE' });
    // Users' mutations first: satellite work gives way to them while they are in flight.
    const gate = new LoadGate();
    const satellites = new SatelliteHub({ orm, events, log, keepaliveMs: config.satelliteKeepaliveMs, deadAfterMs: config.satelliteDeadAfterMs, gate });
    const api = await startApiServer({
      orm,
      events,
      log,
      host: config.host,
      port: config.port,
      graphiqlDir: config.graphiqlDir,
      allowedOrigins: config.allowedOrigins ?? [],
      allowedHosts: config.allowedHosts ?? [],
      satellites,
      gate,
    });
    const local = config.localSatellites
      ? await startLocalSatellites(
          { em: orm.em.fork(), events, principal: { name: 'controller', role: 'admin' }, log },
          { dataDir: config.dataDir, controllerUrl: api.url.replace(/^http/, 'ws'), log, count: config.localSatellites },
        )
      : null;
    let stopping: Promise<void> | undefined;
    const running: RunningController = {
      api,
      orm,
      events,
      log,
      database: embedded ? 'embedded' : 'postgresql',
      satellites,
      stop: () =>
        (stopping ??= (async () => {
          await local?.stop();
          await satellites.stop();
          await api.stop();
          await orm!.close();
          await embedded?.stop();
        })()),
    };
    return running;
  } catch (error) {
    await orm?.close().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    throw error;
  }
}
