import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { DesiredDrbdPeer, DesiredDrbdResource } from '../../../src/common/protocol/drbd.js';
import { desiredDrbdResource, drbdPeer } from '../../support/drbd.js';
import { ExecaCommandRunner } from '../../../src/satellite/exec/command-runner.js';
import { DrbdConfigError } from '../../../src/satellite/layers/drbd/backend.js';
import { dumpCommand } from '../../../src/satellite/layers/drbd/drbdadm.js';
import { renderResFile } from '../../../src/satellite/layers/drbd/res-file.js';
import { DrbdUtilsBackend, execaStreamSpawner, type StreamExit } from '../../../src/satellite/layers/drbd/utils-backend.js';

/**
 * Resource files rendered by renderResFile, checked by the REAL drbdadm 9.22 through the production
 * ExecaCommandRunner: `drbdadm -c <file> sh-nop` (DrbdUtilsBackend.validate) must accept every layout blockplane
 * writes, and `drbdadm -c <file> dump` must show drbdadm read it as meant. Parsing needs no DRBD kernel module.
 *
 * Which `on` section is "this host": drbdadm takes the one named like gethostname(), unless the environment variable
 * `__DRBD_NODE__` names another (drbdadm 9.22 prints "found __DRBD_NODE__ in environment / PRETENDING that I am
 * >>node-a<<"). The backend sets it from its `drbdNodeName` option, so the files here use fixed node names and do
 * not depend on this machine's host name. A resource whose local section is not found is still parsed, but reported
 * as "ignored", so each dump below also checks that drbdadm saw node-a as local.
 *
 * At the end, the events2 stream is started against the real drbdsetup, which on this machine (no kernel module)
 * exits at once: the backend must keep restarting it, and stop() must end that cleanly.
 */

const LOCAL = 'node-a';
const runner = new ExecaCommandRunner();
const log = pino({ level: process.env.BLOCKPLANE_TEST_LOG_LEVEL ?? 'silent' });
const backend = new DrbdUtilsBackend({ runner, log, drbdNodeName: LOCAL });
let dir = '';

beforeAll(async () => {
  // Never skip: a missing drbdadm must fail this test with the command that fixes it.
  try {
    await runner.run({ argv: ['drbdadm', '--version'] });
  } catch (error) {
    throw new Error(
      `The drbdadm parse test needs drbd-utils (drbdadm) and kmod, which are not usable here: ${(error as Error).message}. ` +
        'Install them with: apt-get install drbd-utils kmod',
    );
  }
  dir = await mkdtemp(path.join(tmpdir(), 'bp-drbdadm-'));
});

afterAll(async () => {
  await backend.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function peer(n: number, overrides: Partial<DesiredDrbdPeer> = {}): DesiredDrbdPeer {
  const node = `node-${String.fromCharCode(97 + n)}`;
  return drbdPeer(node, n, { hostname: node, address: `192.168.7.${10 + n}`, port: 7000 + n, ...overrides });
}

function resource(name: string, overrides: Partial<DesiredDrbdResource> = {}): DesiredDrbdResource {
  return desiredDrbdResource({ name, address: '192.168.7.10', options: { 'DrbdOptions/Resource/quorum': 'off' }, ...overrides });
}

/** Renders `desired` as node-a, writes it, and has the real drbdadm check it through the backend. */
async function validate(desired: DesiredDrbdResource, backingDisks = new Map<number, string | null>([[0, '/dev/vg0/data_00000']])): Promise<string> {
  const file = path.join(dir, `${desired.name}.res`);
  await writeFile(file, renderResFile({ resource: desired, hostname: LOCAL, backingDisks }));
  await backend.validate(desired.name, file);
  return file;
}

/** `drbdadm -c <file> dump <res>` as drbdadm parsed it (same __DRBD_NODE__ as the backend). */
async function dump(file: string, name: string): Promise<string> {
  const result = await runner.run({ argv: dumpCommand(file, name), env: { __DRBD_NODE__: LOCAL } });
  expect(result.stdout).toContain(`# resource ${name} on ${LOCAL}: not ignored, not stacked`);
  return result.stdout;
}

/** The part of a dump inside `on <host> { ... }`, as drbdadm prints it (unquoted, indented by four). */
function dumpedOn(text: string, host: string): string {
  const start = text.indexOf(`    on ${host} {`);
  if (start < 0) throw new Error(`no "on ${host}" in the dump:\n${text}`);
  return text.slice(start, text.indexOf('\n    }\n', start) + 6);
}

async function refusal(promise: Promise<unknown>): Promise<DrbdConfigError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DrbdConfigError) return error;
    throw error;
  }
  throw new Error('expected drbdadm to refuse the file, but it accepted it');
}

describe('drbdadm accepts every layout renderResFile writes', () => {
  it.each([1, 2, 3, 4])('%i diskful replica(s), one connection per peer', async (replicas) => {
    const name = `r${replicas}`;
    const peers = Array.from({ length: replicas - 1 }, (_, i) => peer(i + 1));
    const file = await validate(resource(name, { peers }));
    const text = await dump(file, name);
    expect(text.match(/^ {4}connection \{$/gm) ?? []).toHaveLength(replicas - 1);
    for (const p of peers) {
      expect(dumpedOn(text, p.hostname)).toContain(`node-id ${p.nodeId};`);
      expect(text).toContain(`host ${p.hostname}         address         ipv4 ${p.address}:${p.port};`);
    }
    expect(dumpedOn(text, LOCAL)).toMatch(/disk\s+\/dev\/vg0\/data_00000;/);
  });

  it('several volumes, sorted, with their minors', async () => {
    const file = await validate(
      resource('multi', { volumes: [{ volumeNumber: 1, minor: 1011, sizeKib: '1' }, { volumeNumber: 0, minor: 1010, sizeKib: '1' }], peers: [peer(1)] }),
      new Map([[0, '/dev/vg0/multi_00000'], [1, '/dev/vg0/multi_00001']]),
    );
    const local = dumpedOn(await dump(file, 'multi'), LOCAL);
    expect(local).toMatch(/volume 0 \{\s+device\s+minor 1010;\s+disk\s+\/dev\/vg0\/multi_00000;/);
    expect(local).toMatch(/volume 1 \{\s+device\s+minor 1011;\s+disk\s+\/dev\/vg0\/multi_00001;/);
  });

  it('a diskless local replica (disk none), connected to the diskful peers only', async () => {
    const file = await validate(resource('client', { diskless: true, nodeId: 2, peers: [peer(1), peer(3), peer(4, { diskless: true })] }), new Map());
    const text = await dump(file, 'client');
    expect(dumpedOn(text, LOCAL)).toMatch(/disk\s+none;/);
    expect(dumpedOn(text, 'node-e')).toMatch(/disk\s+none;/);
    expect(text.match(/^ {4}connection \{$/gm) ?? []).toHaveLength(2);
    expect(text).not.toContain('host node-e');
  });

  it('a tie-breaker layout: 2 diskful + 1 diskless tie-breaker, with quorum', async () => {
    const options = { 'DrbdOptions/Resource/quorum': 'majority', 'DrbdOptions/Resource/on-no-quorum': 'io-error' };
    // As the diskful node-a, with the tie-breaker node-c as a peer...
    const diskful = await validate(resource('tb', { options, peers: [peer(1), peer(2, { diskless: true, tieBreaker: true })] }));
    const text = await dump(diskful, 'tb');
    expect(dumpedOn(text, 'node-c')).toMatch(/disk\s+none;/);
    expect(text.match(/^ {4}connection \{$/gm) ?? []).toHaveLength(2);
    // ...and as the tie-breaker itself (node-a diskless), connected to both diskful peers.
    const tieBreaker = await validate(resource('tb2', { options, diskless: true, tieBreaker: true, peers: [peer(1), peer(2)] }), new Map());
    expect(dumpedOn(await dump(tieBreaker, 'tb2'), LOCAL)).toMatch(/disk\s+none;/);
  });

  it('quorum options land in the options section', async () => {
    const file = await validate(
      resource('quorum', { options: { 'DrbdOptions/Resource/quorum': 'majority', 'DrbdOptions/Resource/on-no-quorum': 'io-error' }, peers: [peer(1), peer(2)] }),
    );
    expect(await dump(file, 'quorum')).toMatch(/options \{\s+on-no-quorum\s+io-error;\s+quorum\s+majority;\s+\}/);
  });

  it('options of every namespace, peer-device options inside the connections', async () => {
    const file = await validate(
      resource('opts', {
        peers: [peer(1)],
        options: {
          'DrbdOptions/Resource/auto-promote': 'yes',
          'DrbdOptions/Net/max-buffers': '8000',
          'DrbdOptions/Net/protocol': 'A',
          'DrbdOptions/Disk/on-io-error': 'detach',
          'DrbdOptions/PeerDevice/c-max-rate': '100M',
          'DrbdOptions/Handlers/split-brain': '/usr/lib/drbd/notify-split-brain.sh root',
        },
      }),
    );
    const text = await dump(file, 'opts');
    expect(text).toMatch(/options \{\s+auto-promote\s+yes;\s+\}/);
    const net = /\n {4}net \{\n([^}]*)\n {4}\}/.exec(text)?.[1] ?? '';
    expect(net.split('\n').map((l) => l.trim().split(/\s+/).join(' ')).sort()).toEqual([
      'cram-hmac-alg sha1;',
      'max-buffers 8000;',
      'protocol A;',
      'shared-secret Zm9vYmFyYmF6cXV4cXV1;',
    ]);
    expect(text).toMatch(/\n {4}disk \{\s+on-io-error\s+detach;\s+\}/);
    expect(text).toMatch(/connection \{\s+host node-a[^\n]*\n\s+host node-b[^\n]*\n(\s+net \{[^}]*\}\n)?\s+disk \{\s+c-max-rate\s+100M;\s+\}/);
    expect(text).toMatch(/handlers \{\s+split-brain\s+"?\/usr\/lib\/drbd\/notify-split-brain.sh root"?;/);
  });

  it('IPv6 addresses', async () => {
    const file = await validate(resource('v6', { address: 'fd00::a', peers: [peer(1, { address: 'fd00::b' })] }));
    const text = await dump(file, 'v6');
    expect(text).toContain('address         ipv6 [fd00::a]:7000;');
    expect(text).toContain('address         ipv6 [fd00::b]:7001;');
  });
});

describe('drbdadm refuses broken files, and the backend passes its message on', () => {
  it('a duplicate node-id', async () => {
    const error = await refusal(validate(resource('dup', { peers: [peer(1), peer(2, { nodeId: 1 })] })));
    expect(error.resourceName).toBe('dup');
    expect(error.drbdadmMessage).toMatch(/dup\.res:\d+: conflicting use of node-id 'dup:1' \.\.\./);
    expect(error.drbdadmMessage).toMatch(/dup\.res:\d+: node-id 'dup:1' first used here\./);
    // Only drbdadm's own lines: no module noise, no __DRBD_NODE__ notice.
    expect(error.drbdadmMessage).not.toMatch(/modinfo|PRETENDING|__DRBD_NODE__/);
  });

  it('an option DRBD does not know (DrbdOptions/Net/no-such-option)', async () => {
    const error = await refusal(validate(resource('unknown', { peers: [peer(1)], options: { 'DrbdOptions/Net/no-such-option': 'yes' } })));
    expect(error.drbdadmMessage).toMatch(/unknown\.res:\d+: Parse error: 'an option keyword' expected,\n\tbut got 'no-such-option'/);
    expect(error.message).toContain('drbdadm refused the configuration of resource unknown: ');
  });

  it('an option value DRBD does not accept', async () => {
    const error = await refusal(validate(resource('badvalue', { options: { 'DrbdOptions/Resource/quorum': 'sometimes' } })));
    expect(error.drbdadmMessage).toContain("Parse error: while parsing value ('sometimes')\nfor quorum. Value is not valid.");
  });

  it('an option in the wrong section (a disk option under DrbdOptions/Net)', async () => {
    const error = await refusal(validate(resource('wrongsection', { options: { 'DrbdOptions/Net/on-io-error': 'detach' } })));
    expect(error.drbdadmMessage).toMatch(/wrongsection\.res:\d+: Parse error: 'an option keyword' expected,\n\tbut got 'on-io-error'/);
  });
});

describe('the events2 stream against the real drbdsetup (no kernel module here)', () => {
  it('starts, keeps restarting the stream that exits at once, and stops cleanly', async () => {
    const restarts: number[] = [];
    const streamBackend = new DrbdUtilsBackend({ runner, log, events2Backoff: { initialMs: 20, maxMs: 50 } });
    await streamBackend.start(
      () => {},
      () => restarts.push(Date.now()),
    );
    const deadline = Date.now() + 10_000;
    while (restarts.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await streamBackend.stop();
    expect(restarts.length).toBeGreaterThanOrEqual(2);
  });

  it('the execa spawner reports output, the exit code and a start failure', async () => {
    const seen = await new Promise<{ spawned: boolean; stdout: string; stderr: string; exit: StreamExit }>((resolve) => {
      let spawned = false;
      let stdout = '';
      let stderr = '';
      execaStreamSpawner(['drbdsetup', 'events2', 'all'], {
        onSpawn: () => (spawned = true),
        onStdout: (chunk) => (stdout += chunk),
        onStderr: (chunk) => (stderr += chunk),
        onExit: (exit) => resolve({ spawned, stdout, stderr, exit }),
      });
    });
    expect(seen).toEqual({ spawned: true, stdout: '', stderr: expect.stringContaining('Failed to modprobe drbd'), exit: { exitCode: 20, signal: null, spawnError: null } });

    const missing = await new Promise<StreamExit>((resolve) => {
      execaStreamSpawner(['bp-no-such-program-drbdsetup'], { onSpawn: () => {}, onStdout: () => {}, onStderr: () => {}, onExit: resolve });
    });
    expect(missing.exitCode).toBeNull();
    expect(missing.spawnError).toContain('ENOENT');
  });
});
