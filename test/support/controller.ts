/**
 * An in-process controller on a fresh database for API tests, with a GraphQL client over real HTTP.
 */
import pino from 'pino';
import { GRAPHIQL_DIR } from '../../scripts/build-graphiql.js';
import { startController, type RunningController } from '../../src/bin/start-controller.js';
import type { ServiceContext } from '../../src/controller/context.js';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './databases.js';

export interface GraphQLResponse<T = any> {
  data?: T | null;
  errors?: { message: string; path?: string[]; extensions?: Record<string, any> }[];
}

export interface TestController {
  controller: RunningController;
  url: string;
  db: TestDatabase;
  /** Posts an operation; returns the parsed body (errors included). */
  gql<T = any>(query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>>;
  /** Like gql but fails the test on any error and returns `data`. */
  ok<T = any>(query: string, variables?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
  /** A service context on a fresh EntityManager fork, for writing state the API cannot write yet. */
  service(): ServiceContext;
}

export interface TestControllerOptions {
  onQuery?: (sql: string) => void;
  satelliteKeepaliveMs?: number;
  satelliteDeadAfterMs?: number;
}

export async function startTestController(kind: DatabaseKind, options: TestControllerOptions = {}): Promise<TestController> {
  const db = await createTestDatabase(kind);
  const controller = await startController({
    host: '127.0.0.1',
    port: 0,
    dataDir: '/nonexistent-unused',
    databaseUrl: db.url,
    logLevel: 'silent',
    graphiqlDir: GRAPHIQL_DIR,
    log: pino({ level: process.env.BLOCKPLANE_TEST_LOG_LEVEL ?? 'silent' }),
    onQuery: options.onQuery,
    satelliteKeepaliveMs: options.satelliteKeepaliveMs,
    satelliteDeadAfterMs: options.satelliteDeadAfterMs,
  });
  const endpoint = `${controller.api.url}/graphql`;
  const gql = async <T>(query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>> => {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as GraphQLResponse<T>;
  };
  return {
    controller,
    url: controller.api.url,
    db,
    gql,
    ok: async <T>(query: string, variables?: Record<string, unknown>) => {
      const result = await gql<T>(query, variables);
      if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors, null, 2)}`);
      return result.data as T;
    },
    service: () => ({ em: controller.orm.em.fork(), events: controller.events, principal: { name: 'test', role: 'admin' }, log: controller.log }),
    stop: async () => {
      await controller.stop();
      await db.drop();
    },
  };
}
