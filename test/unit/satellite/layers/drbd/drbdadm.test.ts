import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import type { DesiredDrbdResource } from '../../../../../src/common/protocol/drbd.js';
import { desiredDrbdResource } from '../../../../support/drbd.js';
import { CommandError } from '../../../../../src/satellite/exec/command-runner.js';
import { DrbdConfigError } from '../../../../../src/satellite/layers/drbd/backend.js';
import {
  adjustCommand,
  createMetadataCommand,
  drbdadmMessage,
  downCommand,
  dumpCommand,
  events2Command,
  isNoMetadata,
  metadataCheckCommand,
  primaryForceCommand,
  resizeCommand,
  secondaryCommand,
  toDrbdConfigError,
  validateCommand,
} from '../../../../../src/satellite/layers/drbd/drbdadm.js';
import {
  DrbdUtilsBackend,
  LineSplitter,
  restartDelayMs,
  type DrbdUtilsBackendOptions,
  type StreamExit,
  type StreamHandlers,
  type StreamSpawner,
} from '../../../../../src/satellite/layers/drbd/utils-backend.js';
import { FakeCommandRunner } from '../../../../fakes/fake-command-runner.js';

/*
 * The argv builders, the readers of drbd-utils' answers, and DrbdUtilsBackend over the scripted runner (STYLE rule 9:
 * exact argv sequences, failing on unexpected and uncalled commands). Answers are drbd-utils 9.22 output captured in
 * test/fixtures/commands/drbd/ (see the README there for how).
 */

const FIXTURES = new URL('../../../../fixtures/commands/drbd/', import.meta.url);

/** A captured case: exit code, stdout and stderr (empty when the capture left no file). */
function captured(name: string): { exitCode: number; stdout: string; stderr: string } {
  const read = (file: string): string => {
    try {
      return readFileSync(fileURLToPath(new URL(file, FIXTURES)), 'utf8');
    } catch {
      return '';
    }
  };
  const exit = read(`${name}.exit`).trim();
  if (exit === '') throw new Error(`fixture ${name}.exit is missing; re-run test/fixtures/commands/drbd/capture.sh`);
  return { exitCode: Number(exit), stdout: read(`${name}.stdout.txt`), stderr: read(`${name}.stderr.txt`) };
}

const RES = 'pvc-1';
const CONFIG = '/etc/blockplane/drbd.conf';

function resource(overrides: Partial<DesiredDrbdResource> = {}): DesiredDrbdResource {
  return desiredDrbdResource({
    name: RES,
    volumes: [
      { volumeNumber: 0, minor: 1000, sizeKib: '102400' },
      { volumeNumber: 1, minor: 1001, sizeKib: '102400' },
    ],
    ...overrides,
  });
}

function commandError(argv: readonly string[], answer: { exitCode: number; stdout: string; stderr: string }): CommandError {
  return new CommandError({ argv, exitCode: answer.exitCode, stdout: answer.stdout, stderr: answer.stderr, timedOut: false });
}

describe('argv builders', () => {
  it('validate and dump parse one file with -c', () => {
    expect(validateCommand('/tmp/pvc-1.res.tmp')).toEqual(['drbdadm', '-c', '/tmp/pvc-1.res.tmp', 'sh-nop']);
    expect(dumpCommand('/tmp/pvc-1.res', RES)).toEqual(['drbdadm', '-c', '/tmp/pvc-1.res', 'dump', RES]);
  });

  it('create-md: --max-peers before --, --force after it (for drbdmeta), <res>/<vol> last', () => {
    expect(createMetadataCommand(RES, 1, 7, {})).toEqual(['drbdadm', '--max-peers', '7', '--', '--force', 'create-md', 'pvc-1/1']);
    expect(createMetadataCommand(RES, 0, 31, { config: CONFIG })).toEqual(['drbdadm', '-c', CONFIG, '--max-peers', '31', '--', '--force', 'create-md', 'pvc-1/0']);
  });

  it('adjust, resize, primary --force and secondary, with and without -c', () => {
    expect(adjustCommand(RES, {})).toEqual(['drbdadm', 'adjust', RES]);
    expect(adjustCommand(RES, { config: CONFIG })).toEqual(['drbdadm', '-c', CONFIG, 'adjust', RES]);
    expect(resizeCommand(RES, 2, {})).toEqual(['drbdadm', 'resize', 'pvc-1/2']);
    expect(primaryForceCommand(RES, { config: CONFIG })).toEqual(['drbdadm', '-c', CONFIG, 'primary', '--force', RES]);
    expect(secondaryCommand(RES, {})).toEqual(['drbdadm', 'secondary', RES]);
  });

  it('down goes through drbdsetup, which needs no configuration', () => {
    expect(downCommand(RES)).toEqual(['drbdsetup', 'down', RES]);
  });

  it('metadata check: drbdmeta --force <minor> v09 <backing> internal dstate', () => {
    expect(metadataCheckCommand(1000, '/dev/vg0/pvc-1_00000')).toEqual(['drbdmeta', '--force', '1000', 'v09', '/dev/vg0/pvc-1_00000', 'internal', 'dstate']);
  });

  it('events2: the long-lived stream of all resources, LINSTOR\'s command', () => {
    expect(events2Command()).toEqual(['drbdsetup', 'events2', 'all']);
  });
});

describe('reading drbd-utils answers', () => {
  it('drbdadmMessage keeps the file:line messages and drops the module and __DRBD_NODE__ noise', () => {
    expect(drbdadmMessage(captured('drbdadm-sh-nop-duplicate-node-id').stderr)).toBe(
      "duplicate-node-id.res:27: conflicting use of node-id 'pvc-1:0' ...\nduplicate-node-id.res:17: node-id 'pvc-1:0' first used here.",
    );
    expect(drbdadmMessage(captured('drbdadm-sh-nop-unknown-option').stderr)).toBe(
      "unknown-option.res:8: Parse error: 'an option keyword' expected,\n\tbut got 'no-such-option'",
    );
    expect(drbdadmMessage(captured('drbdadm-sh-nop-valid').stderr)).toBe('');
  });

  it('toDrbdConfigError carries drbdadm\'s message and the resource name', () => {
    const answer = captured('drbdadm-sh-nop-duplicate-node-id');
    expect(answer.exitCode).toBe(10);
    const error = toDrbdConfigError(RES, commandError(validateCommand('duplicate-node-id.res'), answer));
    expect(error).toBeInstanceOf(DrbdConfigError);
    expect(error.resourceName).toBe(RES);
    expect(error.drbdadmMessage).toBe(
      "duplicate-node-id.res:27: conflicting use of node-id 'pvc-1:0' ...\nduplicate-node-id.res:17: node-id 'pvc-1:0' first used here.",
    );
    expect(error.message).toBe(`drbdadm refused the configuration of resource pvc-1: ${error.drbdadmMessage}`);
    expect(error.message).not.toContain('modinfo');
  });

  it('toDrbdConfigError falls back to the CommandError message when drbdadm said nothing useful', () => {
    const error = toDrbdConfigError(RES, commandError(['drbdadm', '-c', 'x.res', 'sh-nop'], { exitCode: 10, stdout: '', stderr: 'modinfo: ERROR: Module drbd not found.\n' }));
    expect(error.drbdadmMessage).toBe('`drbdadm -c x.res sh-nop` exited with 10: modinfo: ERROR: Module drbd not found.');
  });

  it('isNoMetadata: only exit 1 with "No valid meta data found" (blank device, DRBD 8 metadata)', () => {
    const argv = metadataCheckCommand(1000, '/dev/loop0');
    expect(isNoMetadata(commandError(argv, captured('drbdmeta-dstate-blank')))).toBe(true);
    expect(isNoMetadata(commandError(argv, captured('drbdmeta-dstate-v08')))).toBe(true);
    expect(isNoMetadata(commandError(argv, captured('drbdmeta-dstate-missing-device')))).toBe(false);
    // get-gi's answer on a blank device: exit 1 and nothing said, which must not count as "no metadata".
    expect(isNoMetadata(commandError(argv, { exitCode: 1, stdout: '', stderr: '' }))).toBe(false);
  });
});

describe('LineSplitter and restartDelayMs', () => {
  it('returns complete lines and keeps a partial one until its newline arrives', () => {
    const splitter = new LineSplitter();
    expect(splitter.push('exists resource name:pvc-1 role:Secon')).toEqual([]);
    expect(splitter.push('dary\nexists -\nchange res')).toEqual(['exists resource name:pvc-1 role:Secondary', 'exists -']);
    expect(splitter.push('ource name:pvc-1 role:Primary\n')).toEqual(['change resource name:pvc-1 role:Primary']);
    expect(splitter.push('\n')).toEqual(['']);
    expect(splitter.push('cut')).toEqual([]);
    expect(splitter.rest()).toBe('cut');
    expect(splitter.rest()).toBe('');
  });

  it('doubles the restart delay per consecutive failure, up to the maximum', () => {
    const backoff = { initialMs: 1000, maxMs: 30_000 };
    expect([0, 1, 2, 3, 4, 5, 6, 100].map((f) => restartDelayMs(f, backoff))).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });
});

describe('DrbdUtilsBackend commands', () => {
  const log = pino({ level: 'silent' });
  let runner: FakeCommandRunner;
  afterEach(() => runner.assertDone());

  function backend(script: FakeCommandRunner, options: Partial<DrbdUtilsBackendOptions> = {}): DrbdUtilsBackend {
    runner = script;
    return new DrbdUtilsBackend({ runner, log, ...options });
  }

  it('is the drbd-utils backend', () => {
    expect(backend(new FakeCommandRunner()).name).toBe('drbd-utils');
  });

  it('validate: drbdadm -c <file> sh-nop, with __DRBD_NODE__ when a node name is configured', async () => {
    const b = backend(new FakeCommandRunner().expect(validateCommand('/tmp/pvc-1.res.new'), captured('drbdadm-sh-nop-valid')), { drbdNodeName: 'node-a' });
    await b.validate(RES, '/tmp/pvc-1.res.new');
    expect(runner.specs[0]?.env).toEqual({ __DRBD_NODE__: 'node-a' });
  });

  it('validate: without a node name drbdadm sees the real host name (no env)', async () => {
    const b = backend(new FakeCommandRunner().expect(validateCommand('/tmp/pvc-1.res.new')));
    await b.validate(RES, '/tmp/pvc-1.res.new');
    expect(runner.specs[0]?.env).toBeUndefined();
  });

  it('validate: a refused file (exit 10) becomes a DrbdConfigError with drbdadm\'s file:line message', async () => {
    const b = backend(new FakeCommandRunner().expect(validateCommand('unknown-option.res'), captured('drbdadm-sh-nop-unknown-option')));
    const error = await b.validate(RES, 'unknown-option.res').then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DrbdConfigError);
    expect((error as DrbdConfigError).drbdadmMessage).toBe("unknown-option.res:8: Parse error: 'an option keyword' expected,\n\tbut got 'no-such-option'");
  });

  it('validate: other failures (file unreadable, exit 20) stay CommandErrors', async () => {
    const b = backend(new FakeCommandRunner().expect(validateCommand('/missing.res'), { exitCode: 20, stderr: "Can not open '/missing.res'.\n.\n" }));
    await expect(b.validate(RES, '/missing.res')).rejects.toBeInstanceOf(CommandError);
  });

  it('hasMetadata: true when drbdmeta prints the disk state (captured on a device with DRBD 9 metadata)', async () => {
    const b = backend(new FakeCommandRunner().expect(metadataCheckCommand(1001, '/dev/vg0/pvc-1_00001'), captured('drbdmeta-dstate-v09')));
    expect(await b.hasMetadata(resource(), 1, '/dev/vg0/pvc-1_00001')).toBe(true);
    expect(runner.specs[0]?.allowedExitCodes).toEqual([0, 1]);
  });

  it.each(['drbdmeta-dstate-blank', 'drbdmeta-dstate-v08'])('hasMetadata: false for %s', async (name) => {
    const b = backend(new FakeCommandRunner().expect(metadataCheckCommand(1000, '/dev/loop0'), captured(name)));
    expect(await b.hasMetadata(resource(), 0, '/dev/loop0')).toBe(false);
  });

  it('hasMetadata: a missing device is an error, never "no metadata"', async () => {
    const b = backend(new FakeCommandRunner().expect(metadataCheckCommand(1000, '/dev/bp-no-such-device'), captured('drbdmeta-dstate-missing-device')));
    await expect(b.hasMetadata(resource(), 0, '/dev/bp-no-such-device')).rejects.toThrow('open(/dev/bp-no-such-device) failed: No such file or directory');
  });

  it('hasMetadata: exit 1 without the "no metadata" message is an error too', async () => {
    const b = backend(new FakeCommandRunner().expect(metadataCheckCommand(1000, '/dev/loop0'), { exitCode: 1, stderr: 'v09 bm_offset: expected 72, found 0\n' }));
    const error = await b.hasMetadata(resource(), 0, '/dev/loop0').then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).message).toContain('exited with 1: v09 bm_offset: expected 72, found 0');
  });

  it('hasMetadata: a volume the resource does not have fails before running anything', async () => {
    const b = backend(new FakeCommandRunner());
    await expect(b.hasMetadata(resource(), 7, '/dev/loop0')).rejects.toThrow('DRBD resource pvc-1 has no volume 7; the desired state lists volumes 0, 1');
  });

  it('createMetadata: drbdadm create-md with the resource\'s peer slots, -c and __DRBD_NODE__ when configured', async () => {
    const b = backend(new FakeCommandRunner().expect(['drbdadm', '-c', CONFIG, '--max-peers', '5', '--', '--force', 'create-md', 'pvc-1/1']), {
      drbdadmConfig: CONFIG,
      drbdNodeName: 'node-a',
    });
    await b.createMetadata(resource({ peerSlots: 5 }), 1);
    expect(runner.specs[0]?.env).toEqual({ __DRBD_NODE__: 'node-a' });
    expect(runner.specs[0]?.purpose).toBe('create DRBD metadata for pvc-1/1');
  });

  it('adjust and resize', async () => {
    const b = backend(new FakeCommandRunner().expect(['drbdadm', 'adjust', RES]).expect(['drbdadm', 'resize', 'pvc-1/0']));
    await b.adjust(resource());
    await b.resize(resource(), 0);
  });

  it('forceInitialSync: primary --force, then secondary', async () => {
    const b = backend(new FakeCommandRunner().expect(['drbdadm', 'primary', '--force', RES]).expect(['drbdadm', 'secondary', RES]));
    await b.forceInitialSync(resource(), [1, 0]);
    expect(runner.specs[0]?.purpose).toBe('make this node the initial sync source of pvc-1 (volumes 0, 1)');
  });

  it('forceInitialSync: no volumes, no commands', async () => {
    await backend(new FakeCommandRunner()).forceInitialSync(resource(), []);
  });

  it('forceInitialSync: a failed promotion does not demote (nothing was promoted)', async () => {
    const b = backend(new FakeCommandRunner().expect(['drbdadm', 'primary', '--force', RES], { exitCode: 11, stderr: 'pvc-1: State change failed: (-2) Need access to UpToDate data\n' }));
    await expect(b.forceInitialSync(resource(), [0])).rejects.toThrow('Need access to UpToDate data');
  });

  it('down: drbdsetup down succeeds for a resource the kernel does not have (captured without the module: exit 0)', async () => {
    const b = backend(new FakeCommandRunner().expect(['drbdsetup', 'down', RES], captured('drbdsetup-down-no-module')));
    await b.down(RES);
    expect(runner.specs[0]?.env).toBeUndefined();
  });

  it('down: a refusal (device in use) is an error', async () => {
    const b = backend(new FakeCommandRunner().expect(['drbdsetup', 'down', RES], { exitCode: 11, stderr: 'pvc-1: State change failed: (-12) Device is held open by someone\n' }));
    await expect(b.down(RES)).rejects.toThrow('Device is held open by someone');
  });
});

/** A scripted events2 process: the test decides when it starts, what it prints and when it ends. */
interface FakeProcess {
  argv: readonly string[];
  handlers: StreamHandlers;
  killed: boolean;
  spawn(): void;
  print(chunk: string): void;
  exit(exit?: Partial<StreamExit>): void;
}

class FakeStreams {
  readonly processes: FakeProcess[] = [];

  readonly spawner: StreamSpawner = (argv, handlers) => {
    const process: FakeProcess = {
      argv,
      handlers,
      killed: false,
      spawn: () => handlers.onSpawn(),
      print: (chunk) => handlers.onStdout(chunk),
      exit: (exit = {}) => handlers.onExit({ exitCode: 20, signal: null, spawnError: null, ...exit }),
    };
    this.processes.push(process);
    return { kill: () => void (process.killed = true) };
  };

  get last(): FakeProcess {
    const last = this.processes.at(-1);
    if (!last) throw new Error('no events2 process was started');
    return last;
  }
}

describe('DrbdUtilsBackend events2 stream', () => {
  const log = pino({ level: 'silent' });
  const backoff = { initialMs: 100, maxMs: 400 };
  let streams: FakeStreams;
  let events: string[];
  let backend: DrbdUtilsBackend;

  beforeEach(() => {
    jest.useFakeTimers();
    streams = new FakeStreams();
    events = [];
    backend = new DrbdUtilsBackend({ runner: new FakeCommandRunner(), log, spawnStream: streams.spawner, events2Backoff: backoff });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  async function start(): Promise<void> {
    const started = backend.start(
      (line) => events.push(line),
      () => events.push('<restart>'),
    );
    streams.last.spawn();
    await started;
  }

  it('runs drbdsetup events2 all and resolves once it runs', async () => {
    await start();
    expect(streams.processes.map((p) => p.argv)).toEqual([['drbdsetup', 'events2', 'all']]);
  });

  it('delivers whole lines, joining lines split across chunks', async () => {
    await start();
    streams.last.print('exists resource name:pvc-1 role:Secondary suspended:no\nexists dev');
    streams.last.print('ice name:pvc-1 volume:0 minor:1000 disk:UpToDate client:no\n');
    streams.last.print('exists -\n');
    expect(events).toEqual(['exists resource name:pvc-1 role:Secondary suspended:no', 'exists device name:pvc-1 volume:0 minor:1000 disk:UpToDate client:no', 'exists -']);
  });

  it('restarts an ended stream after the backoff delay, calling onRestart before the new process starts', async () => {
    await start();
    streams.last.print('exists -\n');
    streams.last.print('change resource name:pvc-1 role:Pri');
    streams.last.exit({ exitCode: null, signal: 'SIGKILL' });
    jest.advanceTimersByTime(99);
    expect(streams.processes).toHaveLength(1);
    jest.advanceTimersByTime(1);
    expect(streams.processes).toHaveLength(2);
    // The partial line of the dead process is dropped; the restart comes before anything of the new process.
    streams.last.spawn();
    streams.last.print('exists resource name:pvc-1 role:Primary\nexists -\n');
    expect(events).toEqual(['exists -', '<restart>', 'exists resource name:pvc-1 role:Primary', 'exists -']);
  });

  it('doubles the delay while the stream keeps failing before its dump ends, and starts over after a dump', async () => {
    await start();
    const delays: number[] = [];
    for (let attempt = 0; attempt < 4; attempt += 1) {
      const before = streams.processes.length;
      streams.last.exit({ exitCode: 20 });
      let waited = 0;
      while (streams.processes.length === before) {
        jest.advanceTimersByTime(1);
        waited += 1;
      }
      delays.push(waited);
      streams.last.spawn();
    }
    expect(delays).toEqual([100, 200, 400, 400]);
    // A stream that completes its initial dump worked: the next failure waits the initial delay again.
    streams.last.print('exists -\n');
    streams.last.exit({ exitCode: 20 });
    jest.advanceTimersByTime(100);
    expect(streams.processes).toHaveLength(6);
  });

  it('stop kills the process, waits for it, and restarts nothing; no line is delivered after stop', async () => {
    await start();
    const process = streams.last;
    const stopped = backend.stop();
    expect(process.killed).toBe(true);
    process.print('change resource name:pvc-1 role:Primary\n');
    process.exit({ exitCode: null, signal: 'SIGTERM' });
    await stopped;
    jest.advanceTimersByTime(10_000);
    expect(streams.processes).toHaveLength(1);
    expect(events).toEqual([]);
  });

  it('stop during a pending restart cancels the restart', async () => {
    await start();
    streams.last.exit({ exitCode: 20 });
    await backend.stop();
    jest.advanceTimersByTime(10_000);
    expect(streams.processes).toHaveLength(1);
    expect(events).toEqual([]);
  });

  it('start rejects when drbdsetup cannot be started at all, saying what to install', async () => {
    const started = backend.start(
      () => {},
      () => {},
    );
    streams.last.exit({ exitCode: null, spawnError: 'Command failed with ENOENT: drbdsetup events2 all\nspawn drbdsetup ENOENT' });
    await expect(started).rejects.toThrow('Cannot start the DRBD state stream `drbdsetup events2 all`: Command failed with ENOENT');
    await expect(started).rejects.toThrow('Install drbd-utils (apt-get install drbd-utils).');
    jest.advanceTimersByTime(10_000);
    expect(streams.processes).toHaveLength(1);
  });

  it('start twice is refused', async () => {
    await start();
    await expect(backend.start(() => {}, () => {})).rejects.toThrow('already running');
  });

  it('a line the consumer cannot process restarts the stream with a fresh dump', async () => {
    const started = backend.start(
      (line) => {
        if (line === 'bad') throw new Error('cannot parse');
        events.push(line);
      },
      () => events.push('<restart>'),
    );
    streams.last.spawn();
    await started;
    streams.last.print('exists -\nbad\nnever delivered\n');
    expect(streams.last.killed).toBe(true);
    // Output the dying process still prints belongs to the state being thrown away.
    streams.last.print('change resource name:pvc-1 role:Primary\n');
    streams.last.exit({ exitCode: null, signal: 'SIGTERM' });
    jest.advanceTimersByTime(100);
    expect(streams.processes).toHaveLength(2);
    expect(events).toEqual(['exists -', '<restart>']);
  });
});
