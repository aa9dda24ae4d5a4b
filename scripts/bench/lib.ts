/**
 * Shared pieces of the benchmark scripts: percentiles, a GraphQL-over-HTTP client, a controller child process, and a
 * cluster-wide DRBD health tracker over the `drbdState` subscription. Benchmark tooling only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** The p-th percentile (0-100) of `values` (nearest rank); NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(values: readonly number[]): Summary {
  return {
    count: values.length,
    p50: round(percentile(values, 50)),
    p99: round(percentile(values, 99)),
    // reduce, not Math.max(...values): S5 at full size collects more lags than a call's arguments may hold.
    max: round(values.length ? values.reduce((a, b) => (b > a ? b : a), -Infinity) : Number.NaN),
    mean: round(values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN),
  };
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** A GraphQL error answer, with the operation for the report. */
export class GraphQLRequestError extends Error {}

/** POSTs one operation; throws on transport errors and GraphQL errors. */
export async function gql<T = any>(url: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors?.length) throw new GraphQLRequestError(body.errors.map((e) => e.message).join('; '));
  return body.data as T;
}

/** Runs `tasks` with at most `concurrency` at a time; resolves with their results (or errors) in order. */
export async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<(T | Error)[]> {
  const results: (T | Error)[] = new Array(count);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      try {
        results[i] = await task(i);
      } catch (error) {
        results[i] = error as Error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

/** A controller in a child process (the product binary), so its CPU and memory are its own. */
export interface ControllerProcess {
  proc: ChildProcess;
  url: string;
  wsUrl: string;
  /** Milliseconds from spawn to the "controller ready" line. */
  startMs: number;
  rssKib(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts the controller binary. `built`: the JavaScript of `npm run build` (dist/bin/controller.js), as production
 * runs it; otherwise the TypeScript sources through tsx, as `npm start` does (tsx keeps a compiler in memory).
 */
export async function startControllerProcess(options: { dataDir: string; databaseUrl?: string; port: number; logLevel?: string; built?: boolean }): Promise<ControllerProcess> {
  // BENCH_CONTROLLER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir /tmp/prof", profiles the controller.
  const nodeArgs = (process.env.BENCH_CONTROLLER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const entry = options.built ? ['dist/bin/controller.js'] : ['--import', 'tsx', 'src/bin/controller.ts'];
  const args = [...nodeArgs, ...entry, '--port', String(options.port), '--data-dir', options.dataDir, '--log-level', options.logLevel ?? 'warn'];
  if (options.databaseUrl) args.push('--database-url', options.databaseUrl);
  const started = performance.now();
  const proc = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stderr!.on('data', (d) => (output = (output + d).slice(-20_000)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`controller did not become ready within 60 s:\n${output}`)), 60_000);
    proc.stdout!.on('data', (d) => {
      output = (output + d).slice(-20_000);
      if (output.includes('blockplane controller ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`controller exited with ${code}:\n${output}`));
    });
  });
  const startMs = performance.now() - started;
  return {
    proc,
    url: `http://127.0.0.1:${options.port}/graphql`,
    wsUrl: `ws://127.0.0.1:${options.port}/graphql`,
    startMs,
    rssKib: async () => {
      const status = await readFile(`/proc/${proc.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 'NaN');
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 15_000).unref();
      }),
  };
}

export function wsClient(wsUrl: string): Client {
  return createClient({ url: wsUrl, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, keepAlive: 10_000 });
}

interface DrbdEvent {
  resource: string;
  node: string;
  health: string;
  at: string;
}

/**
 * Follows the health of every replica through one cluster-wide `drbdState` subscription, and resolves waiters when
 * all replicas of a resource are HEALTHY.
 */
export class HealthTracker {
  private readonly health = new Map<string, Map<string, string>>();
  private readonly waiters = new Map<string, { replicas: number; resolve: () => void }[]>();
  private readonly client: Client;
  events = 0;

  constructor(wsUrl: string) {
    this.client = wsClient(wsUrl);
    this.client.subscribe<{ drbdState: DrbdEvent }>(
      { query: 'subscription { drbdState { resource node health at } }' },
      { next: (m) => this.onEvent(m.data!.drbdState), error: () => undefined, complete: () => undefined },
    );
  }

  /** Resolves when `replicas` replicas of `resource` are HEALTHY. */
  waitHealthy(resource: string, replicas: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.healthyCount(resource) >= replicas) return resolve();
      const list = this.waiters.get(resource) ?? [];
      list.push({ replicas, resolve });
      this.waiters.set(resource, list);
    });
  }

  private healthyCount(resource: string): number {
    let n = 0;
    for (const h of this.health.get(resource)?.values() ?? []) if (h === 'HEALTHY') n++;
    return n;
  }

  private onEvent(e: DrbdEvent): void {
    this.events++;
    const byNode = this.health.get(e.resource) ?? new Map<string, string>();
    byNode.set(e.node, e.health);
    this.health.set(e.resource, byNode);
    const list = this.waiters.get(e.resource);
    if (!list) return;
    const count = this.healthyCount(e.resource);
    const remaining = list.filter((w) => {
      if (count >= w.replicas) {
        w.resolve();
        return false;
      }
      return true;
    });
    if (remaining.length) this.waiters.set(e.resource, remaining);
    else this.waiters.delete(e.resource);
  }

  async stop(): Promise<void> {
    await this.client.dispose();
  }
}
