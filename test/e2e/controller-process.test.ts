import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort } from '../../src/orm/embedded.js';

/**
 * The controller as `npm start` runs it: its own process, the embedded database in a data directory, signals.
 */
const ROOT = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '../..');

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startProcess(dataDir: string, port: number): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/controller.ts', '--data-dir', dataDir, '--port', String(port)], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '', BLOCKPLANE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function waitFor(predicate: () => boolean, what: string, proc: Proc, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!predicate()) {
    if (proc.child.exitCode !== null || Date.now() > until) throw new Error(`gave up waiting for ${what}; output:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function gql(port: number, query: string): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  return res.json();
}

function postmasterPid(dataDir: string): Promise<number | null> {
  const file = path.join(dataDir, 'db', 'pg', 'postmaster.pid');
  return existsSync(file) ? readFile(file, 'utf8').then((s) => Number(s.split('\n')[0])) : Promise.resolve(null);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('controller process with the embedded database', () => {
  let dataDir: string;
  const running: Proc[] = [];
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'bp-e2e-'));
    await chmod(dataDir, 0o711); // as root, the embedded PostgreSQL runs as 'postgres' and must reach its directory
  });
  afterAll(async () => {
    for (const p of running) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    const pid = await postmasterPid(dataDir);
    if (pid && alive(pid)) process.kill(pid, 'SIGINT');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('prints its URL, keeps data across a SIGTERM restart and a kill -9 restart', async () => {
    const port = await freePort();
    const first = startProcess(dataDir, port);
    running.push(first);
    await waitFor(() => first.output().includes('controller ready'), 'first start', first);
    expect(first.output()).toContain(`http://127.0.0.1:${port}/graphql`);
    expect(first.output()).toContain('embedded PostgreSQL');
    const created = await gql(port, `mutation { createNode(input: { name: "keep-me", netInterfaces: [{ address: "10.9.9.9" }] }) { node { name } } }`);
    expect(created).toEqual({ data: { createNode: { node: { name: 'keep-me' } } } });

    // Graceful shutdown: exit code 0 and the embedded PostgreSQL stopped with it.
    const pgPid = await postmasterPid(dataDir);
    expect(pgPid && alive(pgPid)).toBeTruthy();
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(alive(pgPid!)).toBe(false);

    const second = startProcess(dataDir, port);
    running.push(second);
    await waitFor(() => second.output().includes('controller ready'), 'second start', second);
    expect(await gql(port, `{ node(name: "KEEP-ME") { name storagePools { name } } }`)).toEqual({
      data: { node: { name: 'keep-me', storagePools: [{ name: 'DfltDisklessStorPool' }] } },
    });

    // kill -9 leaves PostgreSQL running and holding the data directory; the next start must cope.
    const orphan = await postmasterPid(dataDir);
    second.child.kill('SIGKILL');
    await second.exited;
    expect(orphan && alive(orphan)).toBeTruthy();
    const third = startProcess(dataDir, port);
    running.push(third);
    await waitFor(() => third.output().includes('controller ready'), 'start after kill -9', third);
    expect(alive(orphan!)).toBe(false);
    expect((await gql(port, `{ nodes { totalCount } }`)).data.nodes.totalCount).toBe(1);
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  });

  it('refuses bad configuration with a clear message', async () => {
    const bad = spawn(process.execPath, ['--import', 'tsx', 'src/bin/controller.ts', '--port', 'eighty'], { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: '' } });
    let err = '';
    bad.stderr.on('data', (d) => (err += d));
    const code = await new Promise((r) => bad.once('exit', r));
    expect(code).not.toBe(0);
    expect(err).toContain("--port: 'eighty' is not a TCP port");
  });
});
