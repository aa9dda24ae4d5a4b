import { existsSync } from 'node:fs';
import { createServer, STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import path from 'node:path';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import type { MikroORM } from '@mikro-orm/postgresql';
import express from 'express';
import { GraphQLError, type ExecutionResult, type FormattedExecutionResult } from 'graphql';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { ErrorCode } from '../common/api-rc.js';
import { SATELLITE_PATH } from '../common/protocol/satellite.js';
import type { Principal } from '../controller/context.js';
import type { EventBus } from '../controller/events/bus.js';
import type { LoadGate } from '../controller/load-gate.js';
import type { GraphContext } from './context.js';
import { validateWithLimits, validationRules } from './depth-limit.js';
import { errorBody, formatError, httpErrorHandler, HttpErrorCode, notFoundHandler } from './errors.js';
import { graphiqlPage } from './graphiql.js';
import { SpawnBatcher } from '../controller/services/spawn.js';
import { createLoaders } from './loaders.js';
import { ForbiddenCode, RequestPolicy, type Refusal } from './origin.js';
import { schema } from './schema.js';
import { SharedSubscriptions } from './shared-subscriptions.js';
import { serveGraphqlWs } from './ws-transport.js';

export interface ApiServerOptions {
  orm: MikroORM;
  events: EventBus;
  log: Logger;
  host: string;
  port: number;
  /** Directory with the built GraphiQL bundle (graphiql.js, graphiql.css). */
  graphiqlDir: string;
  /**
   * Origins (`https://ops.example.com`) whose pages may open the WebSocket, besides the controller's own pages.
   * Default []: only same-origin pages and clients sending no Origin (non-browser).
   */
  allowedOrigins?: readonly string[];
  /**
   * Host names answered besides the loopback ones (when listening on loopback). On any other address, [] (the
   * default) answers every Host; a non-empty list answers only those.
   */
  allowedHosts?: readonly string[];
  /** Takes WebSocket upgrades on SATELLITE_PATH (the controller's satellite link); none when absent. */
  satellites?: { handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void };
  /** Told about every mutation in flight, so satellite work gives way to it (see LoadGate). */
  gate?: LoadGate;
}

export interface ApiServer {
  /** Base URL, e.g. http://127.0.0.1:3370 */
  url: string;
  httpServer: Server;
  apollo: ApolloServer<GraphContext>;
  /** Shared execution of identical subscriptions (stats for tests and metrics). */
  subscriptions: SharedSubscriptions;
  stop(): Promise<void>;
}

export const GRAPHQL_PATH = '/graphql';

/** The local operator: every operation runs with a principal, so authorization can be added without reshaping. */
const LOCAL_OPERATOR: Principal = { name: 'local-operator', role: 'admin' };

/**
 * HTTP + WebSocket API on one port: Apollo Server for queries and mutations (POST/GET /graphql), graphql-ws for
 * subscriptions (ws://.../graphql), GraphiQL for browsers (GET /graphql with Accept: text/html), /health.
 */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { orm, events, log } = options;
  const spawns = new SpawnBatcher();
  const makeContext = (): GraphContext => {
    const em = orm.em.fork();
    return { em, loaders: createLoaders(em), service: { em, events, principal: LOCAL_OPERATOR, log, spawns } };
  };

  // Throws on a malformed allowed host or origin, before anything listens.
  const policy = new RequestPolicy({ listenHost: options.host, allowedHosts: options.allowedHosts ?? [], allowedOrigins: options.allowedOrigins ?? [] });

  const app = express();
  app.disable('x-powered-by');
  const httpServer = createServer(app);
  // Upgrades are accepted here, after the Host and Origin checks, not by ws listening on the server itself.
  const wsServer = new WebSocketServer({ noServer: true });
  httpServer.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const pathname = (request.url ?? '').split('?')[0];
    if (pathname === SATELLITE_PATH && options.satellites) {
      // Satellites are programs, never web pages, and reach the controller by whatever address routes to it (the
      // Host allowlist is for browsers). A browser always sends Origin: refusing any Origin keeps pages out, which is
      // also what defeats DNS rebinding here.
      if (request.headers.origin) {
        refuseUpgrade(socket, 403, errorBody(ForbiddenCode.FORBIDDEN_ORIGIN, 'The satellite endpoint does not serve browsers.'));
      } else {
        options.satellites.handleUpgrade(request, socket, head);
      }
      return;
    }
    const refusal = policy.checkHost(request.headers.host) ?? (pathname === GRAPHQL_PATH ? policy.checkOrigin(request.headers.origin, request.headers.host) : undefined);
    if (refusal) {
      log.warn({ code: refusal.code, host: request.headers.host, origin: request.headers.origin, url: request.url }, 'refused a WebSocket upgrade');
      refuseUpgrade(socket, 403, errorBody(refusal.code, refusal.message, { correction: refusal.correction }));
    } else if (pathname !== GRAPHQL_PATH) {
      refuseUpgrade(socket, 404, errorBody(HttpErrorCode.NOT_FOUND, `No WebSocket is served here; subscriptions are at ${GRAPHQL_PATH}.`));
    } else {
      wsServer.handleUpgrade(request, socket, head, (ws) => wsServer.emit('connection', ws, request));
    }
  });
  // Identical subscriptions that need no snapshot of their own share one execution per event.
  const subscriptions = new SharedSubscriptions(makeContext);
  const wsCleanup = serveGraphqlWs(
    {
      schema,
      validate: validateWithLimits,
      context: () => makeContext(),
      subscribe: subscriptions.subscribe,
      onNext: (_ctx, _id, _payload, _args, result) => maskResult(result, log),
    },
    wsServer,
    log,
  );

  const apollo = new ApolloServer<GraphContext>({
    schema,
    includeStacktraceInErrorResponses: false,
    validationRules: [...validationRules],
    formatError: (formatted, error) => formatError(formatted, error, log),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      { async serverWillStart() { return { async drainServer() { await wsCleanup.dispose(); } }; } },
      rejectSubscriptionsOverHttp(),
      ...(options.gate ? [markMutations(options.gate)] : []),
    ],
  });
  await apollo.start();

  // Against DNS rebinding: first, for every route.
  app.use((req, res, next) => {
    const refusal: Refusal | undefined = policy.checkHost(req.headers.host);
    if (!refusal) return next();
    log.warn({ code: refusal.code, host: req.headers.host, method: req.method, url: req.originalUrl }, 'refused an HTTP request');
    res.status(403).json(errorBody(refusal.code, refusal.message, { correction: refusal.correction }));
  });
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  const graphiqlReady = existsSync(path.join(options.graphiqlDir, 'graphiql.js'));
  // A missing asset falls through to the JSON 404 (fallthrough: false would send the file system error).
  app.use('/graphiql', express.static(options.graphiqlDir, { fallthrough: true, maxAge: '1h', index: false, redirect: false }));
  app.get(GRAPHQL_PATH, (req, res, next) => {
    // Browsers ask for HTML: give them GraphiQL. API clients (Accept: application/json) fall through to Apollo.
    if (req.accepts(['application/json', 'application/graphql-response+json', 'text/html']) !== 'text/html') return next();
    if (!graphiqlReady) {
      res.status(503).type('text/plain').send('GraphiQL is not built. Run `npm run build:ui` (npm start does it for you).');
      return;
    }
    res.type('html').send(graphiqlPage(GRAPHQL_PATH));
  });
  app.get('/', (_req, res) => res.redirect(GRAPHQL_PATH));
  app.use(GRAPHQL_PATH, express.json({ limit: '2mb' }), expressMiddleware(apollo, { context: async () => makeContext() }));
  app.use(notFoundHandler());
  app.use(httpErrorHandler(log));

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(options.port, options.host, () => resolve());
  });
  const address = httpServer.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    httpServer,
    apollo,
    subscriptions,
    stop: () => apollo.stop(),
  };
}

/**
 * Apollo would execute a subscription sent over HTTP like a query and answer `null`. Refuse it instead and say
 * where subscriptions live.
 */
function rejectSubscriptionsOverHttp(): ApolloServerPlugin<GraphContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, request }) {
          if (operation?.operation !== 'subscription') return;
          const httpUrl = request.http ? `${request.http.headers.get('host') ?? 'localhost'}${GRAPHQL_PATH}` : `<controller>${GRAPHQL_PATH}`;
          throw new GraphQLError(
            `Subscriptions are served over WebSocket only (graphql-ws protocol) at ws://${httpUrl}; HTTP would answer null.`,
            { extensions: { code: ErrorCode.SUBSCRIPTION_REQUIRES_WEBSOCKET, http: { status: 400 }, correction: `Connect a graphql-ws client to ws://${httpUrl}.` } },
          );
        },
      };
    },
  };
}

/** Tells the gate about every mutation from its operation's resolution until its response is sent. */
export function markMutations(gate: LoadGate): ApolloServerPlugin<GraphContext> {
  return {
    async requestDidStart() {
      let ended: (() => void) | undefined;
      return {
        async didResolveOperation({ operation }) {
          if (operation?.operation === 'mutation') ended = gate.foregroundStarted();
        },
        async willSendResponse() {
          ended?.();
        },
      };
    },
  };
}

/** Answers an upgrade request with a plain HTTP error (JSON body) and closes the connection. */
function refuseUpgrade(socket: Duplex, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  socket.on('error', () => socket.destroy());
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      `Connection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`,
  );
}

/** graphql-ws has no formatError hook: apply the same masking to every result it sends. */
function maskResult(result: ExecutionResult, log: Logger): FormattedExecutionResult | void {
  if (!result.errors?.length) return;
  return { ...result, errors: result.errors.map((e) => formatError(e.toJSON(), e, log)) };
}
