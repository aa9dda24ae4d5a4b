/**
 * The kernel lane's agent: runs INSIDE a guest (as root, chrooted into the host's root shared read-only over 9p; see
 * guest-init.sh) and serves requests from a test on the host over the virtio-serial port given as argv[2], one JSON
 * line each way (protocol.ts). It calls the satellite's own code: storage providers built by createProvider, the
 * production ExecaCommandRunner, selectDrbdBackend + DrbdLayer. Nothing is faked: commands reach the guest's real
 * lvm2, losetup and drbd-utils, which reach the guest's real Debian kernel.
 *
 * Built by guest.ts with esbuild into one self-contained file (node in the guest then loads one file over 9p instead
 * of the module graph, and tsx's esbuild service need not start under TCG); logs go to stderr, the guest's serial
 * console.
 */
import { open, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { DrbdStateReport } from '../../src/common/protocol/drbd.js';
import { ExecaCommandRunner } from '../../src/satellite/exec/command-runner.js';
import { DrbdLayer } from '../../src/satellite/layers/drbd/drbd-layer.js';
import { selectDrbdBackend } from '../../src/satellite/layers/drbd/select.js';
import { createProvider } from '../../src/satellite/layers/storage/factory.js';
import type { StorageProvider } from '../../src/satellite/layers/storage/provider.js';
import { Drbd84Backend } from './drbd84.js';
import { decode, encode, STORAGE_METHODS, type AgentReady, type AgentRequest, type AgentResponse, type DrbdObserved } from './protocol.js';

const portPath = process.argv[2];
if (!portPath) {
  process.stderr.write('usage: agent.mjs <virtio-serial port device>\n');
  process.exit(2);
}

const log = pino({ level: process.env.BLOCKPLANE_LANE_LOG_LEVEL ?? 'info', base: { guest: os.hostname() } }, pino.destination(2));
const runner = new ExecaCommandRunner({
  onCommand: (result, spec) => {
    if ('durationMs' in result) log.debug({ argv: result.argv, exitCode: result.exitCode, ms: Math.round(result.durationMs) }, spec.purpose ?? 'command');
    else log.info({ command: result.command, exitCode: result.exitCode, timedOut: result.timedOut }, `${spec.purpose ?? 'command'} failed`);
  },
});

interface DrbdSession {
  layer: DrbdLayer;
  reports: DrbdStateReport[];
  lines: string[];
}
let drbd: DrbdSession | null = null;

async function handle(request: AgentRequest): Promise<unknown> {
  switch (request.op) {
    case 'exec': {
      const result = await runner.run({ argv: request.argv, timeoutMs: request.timeoutMs, allowedExitCodes: request.allowedExitCodes, purpose: 'lane exec' });
      return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr, durationMs: Math.round(result.durationMs) };
    }
    case 'storage': {
      if (!STORAGE_METHODS.includes(request.method)) throw new Error(`unknown storage method '${String(request.method)}'`);
      // A new provider per call, as the satellite's reconcile pass may build one: no state survives between calls.
      const provider = createProvider(request.pool, { runner });
      const method = provider[request.method] as (this: StorageProvider, ...args: unknown[]) => Promise<unknown>;
      return (await method.apply(provider, request.args)) ?? null;
    }
    case 'drbd-start': {
      if (drbd) throw new Error('the DRBD layer is already started');
      const resDir = path.join(request.stateDir, 'drbd.d');
      // The production composition (src/bin/satellite.ts): selectDrbdBackend writes the include file
      // /etc/drbd.d/blockplane-resources.res and returns the DrbdUtilsBackend; the 8.4 adapter wraps it.
      const inner = await selectDrbdBackend({ choice: 'drbd-utils', runner, log, hostname: request.hostname, resDir, stateDir: request.stateDir });
      const reports: DrbdStateReport[] = [];
      const lines: string[] = [];
      const backend = new Drbd84Backend(inner, { runner, onLine: (line) => lines.push(line) });
      const layer = new DrbdLayer({
        backend,
        resDir,
        hostname: request.hostname,
        log,
        report: async (report) => {
          reports.push(report);
        },
      });
      await layer.start();
      drbd = { layer, reports, lines };
      return null;
    }
    case 'drbd-apply':
      return requireDrbd().layer.apply(request.resource, new Map(request.backing));
    case 'drbd-remove-unwanted':
      return Object.fromEntries(await requireDrbd().layer.removeUnwanted(request.desired));
    case 'drbd-observed': {
      const session = requireDrbd();
      const since = request.since ?? { reports: 0, lines: 0 };
      const resources = [...new Set(session.reports.flatMap((r) => r.resources.map((s) => s.resource)))].sort();
      const observed: DrbdObserved = {
        reports: session.reports.slice(since.reports),
        lines: session.lines.slice(since.lines),
        next: { reports: session.reports.length, lines: session.lines.length },
        state: resources.map((name) => session.layer.stateOf(name)).filter((s) => s !== null),
      };
      return observed;
    }
    case 'drbd-stop':
      await requireDrbd().layer.stop();
      drbd = null;
      return null;
    case 'shutdown':
      throw new Error('shutdown is handled by the request loop');
  }
}

function requireDrbd(): DrbdSession {
  if (!drbd) throw new Error('the DRBD layer is not started (send drbd-start first)');
  return drbd;
}

async function main(): Promise<void> {
  // One open for both directions: virtio_console lets only one opener have a port at a time.
  const port = await open(portPath!, 'r+');
  let writing = Promise.resolve();
  const send = (message: AgentResponse | AgentReady): void => {
    const line = `${encode(message)}\n`;
    writing = writing.then(() => port.write(line).then(() => undefined));
  };
  const procDrbd = await readFile('/proc/drbd', 'utf8').catch(() => null);
  const uptime = Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]);
  send({ event: 'ready', hostname: os.hostname(), kernel: os.release(), drbd: procDrbd?.split('\n')[0] ?? null, uptimeSeconds: uptime });
  log.info({ port: portPath }, 'kernel-lane agent ready');

  const buffer = Buffer.alloc(64 * 1024);
  let partial = '';
  let stopping = false;
  while (!stopping) {
    const { bytesRead } = await port.read(buffer, 0, buffer.length, null);
    if (bytesRead === 0) {
      // The host closed its end (qemu's chardev disconnected): nobody is left to answer.
      log.warn('the host closed the agent port');
      break;
    }
    const lines = (partial + buffer.subarray(0, bytesRead).toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      let id = -1;
      let request: AgentRequest;
      try {
        const parsed = decode(line) as { id: number; request: AgentRequest };
        id = parsed.id;
        request = parsed.request;
      } catch (error) {
        log.error({ line, err: error }, 'unreadable request');
        continue;
      }
      if (request.op === 'shutdown') {
        // Answered only once the DRBD layer stopped, so the host knows the guest is done when the answer comes.
        if (drbd) await drbd.layer.stop().catch((error: unknown) => log.warn({ err: error }, 'stopping the DRBD layer failed'));
        drbd = null;
        send({ id, ok: true, result: null });
        stopping = true;
        break;
      }
      // Requests run concurrently (a test may poll state while an apply runs); answers carry the request's id.
      void handle(request).then(
        (result) => send({ id, ok: true, result }),
        (error: unknown) => {
          const e = error instanceof Error ? error : new Error(String(error));
          log.info({ op: request.op, err: e }, 'request failed');
          send({ id, ok: false, error: { name: e.name, message: e.message } });
        },
      );
    }
  }
  await writing;
  await port.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    log.fatal({ err: error }, 'kernel-lane agent failed');
    process.exit(1);
  },
);
