import { execa } from 'execa';
import type { Logger } from 'pino';
import type { DesiredDrbdResource } from '../../../common/protocol/drbd.js';
import { CommandError, type CommandResult, type CommandRunner } from '../../exec/command-runner.js';
import type { DrbdBackend } from './backend.js';
import {
  adjustCommand,
  createMetadataCommand,
  DRBDADM_EXIT_CONFIG_INVALID,
  DRBDMETA_EXIT_NO_METADATA,
  downCommand,
  events2Command,
  isNoMetadata,
  metadataCheckCommand,
  primaryForceCommand,
  resizeCommand,
  secondaryCommand,
  toDrbdConfigError,
  validateCommand,
  type DrbdadmOptions,
} from './drbdadm.js';

/** Parsing one file: a few seconds even on a slow host. */
export const DRBD_VALIDATE_TIMEOUT_MS = 30_000;
/** drbdmeta reads one superblock. */
export const DRBD_METADATA_CHECK_TIMEOUT_MS = 30_000;
/**
 * create-md initialises the activity log and the bitmap of every peer slot; on a large, slow device that takes a
 * while (LINSTOR 1.34 lets it run as long as it does IO, giving up after 45 s without any).
 */
export const DRBD_CREATE_MD_TIMEOUT_MS = 600_000;
/** adjust runs several drbdsetup calls, each of which may wait up to 120 s for the kernel's answer. */
export const DRBD_ADJUST_TIMEOUT_MS = 300_000;
/** primary/secondary/resize/down: one state change each. */
export const DRBD_STATE_CHANGE_TIMEOUT_MS = 120_000;

/** Delay before restarting a dead events2 process: doubles per consecutive failure, from `initialMs` up to `maxMs`. */
export interface RestartBackoff {
  initialMs: number;
  maxMs: number;
}

/** LINSTOR waits a fixed 5 s; a doubling delay reacts faster to a one-off exit and stays quiet on a broken host. */
export const DEFAULT_EVENTS2_BACKOFF: RestartBackoff = { initialMs: 1_000, maxMs: 30_000 };

/** How a long-lived process ended. */
export interface StreamExit {
  exitCode: number | null;
  signal: string | null;
  /** Set when the process could not be started at all (e.g. `spawn drbdsetup ENOENT`). */
  spawnError: string | null;
}

/** Callbacks of a long-lived process; `onExit` comes exactly once, after all output. */
export interface StreamHandlers {
  /** The process started (not called when it could not be started). */
  onSpawn(): void;
  onStdout(chunk: string): void;
  onStderr(chunk: string): void;
  onExit(exit: StreamExit): void;
}

export interface StreamHandle {
  /** Asks the process to end (SIGTERM, SIGKILL if it ignores that); `onExit` follows. */
  kill(): void;
}

/**
 * Starts a long-lived process and streams its output. The CommandRunner covers commands that end; the events2 stream
 * never ends, so it has its own seam, substituted by a scripted fake in tests.
 */
export type StreamSpawner = (argv: readonly string[], handlers: StreamHandlers) => StreamHandle;

/**
 * The production {@link StreamSpawner}, over execa: argv only, stdin closed, `LC_ALL=C` (state names must not be
 * translated), output not buffered (the stream never ends, buffering would grow without limit).
 */
export const execaStreamSpawner: StreamSpawner = (argv, handlers) => {
  const [file, ...args] = argv;
  if (!file) throw new Error('execaStreamSpawner: empty argv');
  const subprocess = execa(file, args, { reject: false, stdin: 'ignore', buffer: false, env: { LC_ALL: 'C' } });
  subprocess.once('spawn', () => handlers.onSpawn());
  // setEncoding: a multi-byte character split across two chunks is joined before it reaches the line splitter.
  subprocess.stdout?.setEncoding('utf8');
  subprocess.stdout?.on('data', (chunk: string) => handlers.onStdout(chunk));
  subprocess.stderr?.setEncoding('utf8');
  subprocess.stderr?.on('data', (chunk: string) => handlers.onStderr(chunk));
  void subprocess.then((result) =>
    handlers.onExit({
      exitCode: result.exitCode ?? null,
      signal: result.signal ?? null,
      spawnError: result.exitCode === undefined && result.signal === undefined ? (result.shortMessage ?? 'the process could not be started') : null,
    }),
  );
  return { kill: () => void subprocess.kill() };
};

/** The delay before restart number `failures + 1` (0 consecutive failures: the initial delay). */
export function restartDelayMs(failures: number, backoff: RestartBackoff): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(failures, 30));
}

/**
 * Splits a byte stream's text into lines: complete lines are returned, a trailing partial line is kept until the
 * rest of it arrives.
 */
export class LineSplitter {
  private partial = '';

  /** The complete lines in `chunk` (with what was left over from before), without their `\n`. */
  push(chunk: string): string[] {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    return parts;
  }

  /** What is left: a last line without `\n` (empty when the stream ended on a line break). */
  rest(): string {
    const rest = this.partial;
    this.partial = '';
    return rest;
  }
}

export interface DrbdUtilsBackendOptions {
  runner: CommandRunner;
  log: Logger;
  /**
   * `-c <file>` for every drbdadm command except validate (which always names the file it checks): the
   * configuration that includes the generated .res files. Unset: drbdadm's default /etc/drbd.conf, which is what
   * production uses (see DrbdadmOptions.config).
   */
  drbdadmConfig?: string;
  /**
   * Sets `__DRBD_NODE__` for drbdadm: drbdadm 9.22 then treats the `on` section of that name as this machine's
   * ("found __DRBD_NODE__ in environment / PRETENDING that I am >>name<<" on stderr) instead of the one named like
   * gethostname(). Only for tests and hosts whose .res files use another name than the host name; production files
   * use the satellite's host name.
   */
  drbdNodeName?: string;
  /** Starts the events2 process (default {@link execaStreamSpawner}). */
  spawnStream?: StreamSpawner;
  /** Restart delays of the events2 process (default {@link DEFAULT_EVENTS2_BACKOFF}). */
  events2Backoff?: RestartBackoff;
}

/** The running events2 process. */
interface Events2Process {
  handle: StreamHandle;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
}

/**
 * The `drbd-utils` DRBD backend: the real drbdadm/drbdsetup/drbdmeta commands, run through the CommandRunner, and the
 * kernel's `drbdsetup events2 all` stream. Needs the DRBD 9 kernel module for everything but {@link validate} (which
 * only parses) and {@link hasMetadata} (which only reads the backing device).
 */
export class DrbdUtilsBackend implements DrbdBackend {
  readonly name = 'drbd-utils' as const;

  private readonly runner: CommandRunner;
  private readonly log: Logger;
  private readonly drbdadmOptions: DrbdadmOptions;
  private readonly env: Readonly<Record<string, string>> | undefined;
  private readonly spawnStream: StreamSpawner;
  private readonly backoff: RestartBackoff;

  private running = false;
  private process: Events2Process | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  /** Consecutive events2 runs that ended before completing their initial dump. */
  private failures = 0;
  private onLine: (line: string) => void = () => {};
  private onRestart: () => void = () => {};

  constructor(options: DrbdUtilsBackendOptions) {
    this.runner = options.runner;
    this.log = options.log;
    this.drbdadmOptions = options.drbdadmConfig !== undefined ? { config: options.drbdadmConfig } : {};
    this.env = options.drbdNodeName !== undefined ? { __DRBD_NODE__: options.drbdNodeName } : undefined;
    this.spawnStream = options.spawnStream ?? execaStreamSpawner;
    this.backoff = options.events2Backoff ?? DEFAULT_EVENTS2_BACKOFF;
  }

  /**
   * Starts `drbdsetup events2 all`; resolves once the process runs. Rejects when it cannot be started at all
   * (drbd-utils not installed); a process that starts and then ends (e.g. "Failed to modprobe drbd", exit 20) is
   * restarted with backoff for as long as the backend runs, calling `onRestart` right before each new process.
   */
  start(onLine: (line: string) => void, onRestart: () => void): Promise<void> {
    if (this.running) return Promise.reject(new Error('DrbdUtilsBackend.start: the events2 stream is already running'));
    this.running = true;
    this.failures = 0;
    this.onLine = onLine;
    this.onRestart = onRestart;
    return new Promise((resolve, reject) => {
      this.spawnEvents2({
        spawned: resolve,
        failed: (message) => {
          this.running = false;
          reject(new Error(message));
        },
      });
    });
  }

  /** Stops the events2 process (and any pending restart); resolves once it has exited. No line is delivered after. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const current = this.process;
    if (!current) return;
    current.handle.kill();
    await current.exited;
  }

  /**
   * `drbdadm -c <resFilePath> sh-nop` (with `__DRBD_NODE__` when configured).
   * @throws DrbdConfigError with drbdadm's file:line messages when drbdadm refuses the file (exit 10)
   * @throws CommandError for everything else (drbdadm missing, file unreadable)
   */
  async validate(resourceName: string, resFilePath: string): Promise<void> {
    try {
      await this.runner.run({
        argv: validateCommand(resFilePath),
        env: this.env,
        timeoutMs: DRBD_VALIDATE_TIMEOUT_MS,
        purpose: `check the DRBD configuration of ${resourceName}`,
      });
    } catch (error) {
      if (error instanceof CommandError && error.exitCode === DRBDADM_EXIT_CONFIG_INVALID) throw toDrbdConfigError(resourceName, error);
      throw error;
    }
  }

  /**
   * `drbdmeta --force <minor> v09 <backing> internal dstate`. Only a clear "No valid meta data found" counts as no
   * metadata: any other failure throws, because answering "no" by mistake would let create-md overwrite a replica.
   * Call it while the volume is not attached (before the first adjust), as LINSTOR does.
   */
  async hasMetadata(resource: DesiredDrbdResource, volumeNumber: number, backingDevice: string): Promise<boolean> {
    const argv = metadataCheckCommand(this.minorOf(resource, volumeNumber), backingDevice);
    const purpose = `check for DRBD metadata on ${backingDevice} (${resource.name}/${volumeNumber})`;
    const result = await this.runner.run({ argv, purpose, timeoutMs: DRBD_METADATA_CHECK_TIMEOUT_MS, allowedExitCodes: [0, DRBDMETA_EXIT_NO_METADATA] });
    if (result.exitCode === 0) return true;
    const error = commandError(result, purpose);
    if (isNoMetadata(error)) return false;
    throw error;
  }

  /** `drbdadm --max-peers <peerSlots> -- --force create-md <res>/<vol>`. */
  async createMetadata(resource: DesiredDrbdResource, volumeNumber: number): Promise<void> {
    await this.drbdadm(
      createMetadataCommand(resource.name, volumeNumber, resource.peerSlots, this.drbdadmOptions),
      `create DRBD metadata for ${resource.name}/${volumeNumber}`,
      DRBD_CREATE_MD_TIMEOUT_MS,
    );
  }

  /** `drbdadm adjust <res>`. */
  async adjust(resource: DesiredDrbdResource): Promise<void> {
    await this.drbdadm(adjustCommand(resource.name, this.drbdadmOptions), `adjust DRBD resource ${resource.name}`, DRBD_ADJUST_TIMEOUT_MS);
  }

  /**
   * `drbdadm primary --force <res>`, then `drbdadm secondary <res>`. DRBD forces a whole resource, not single volumes:
   * `volumeNumbers` only decides whether to do it at all (nothing listed: nothing to do).
   */
  async forceInitialSync(resource: DesiredDrbdResource, volumeNumbers: number[]): Promise<void> {
    if (volumeNumbers.length === 0) return;
    const which = `${resource.name} (volumes ${[...volumeNumbers].sort((a, b) => a - b).join(', ')})`;
    await this.drbdadm(primaryForceCommand(resource.name, this.drbdadmOptions), `make this node the initial sync source of ${which}`, DRBD_STATE_CHANGE_TIMEOUT_MS);
    await this.drbdadm(secondaryCommand(resource.name, this.drbdadmOptions), `demote ${resource.name} after the forced promotion`, DRBD_STATE_CHANGE_TIMEOUT_MS);
  }

  /** `drbdadm resize <res>/<vol>`. */
  async resize(resource: DesiredDrbdResource, volumeNumber: number): Promise<void> {
    await this.drbdadm(resizeCommand(resource.name, volumeNumber, this.drbdadmOptions), `resize DRBD volume ${resource.name}/${volumeNumber}`, DRBD_STATE_CHANGE_TIMEOUT_MS);
  }

  /**
   * `drbdsetup down <res>` (see downCommand): exit 0 also when the kernel does not know the resource, so a resource
   * that is not up needs no special case. Fails when DRBD refuses, e.g. while the device is open.
   */
  async down(resourceName: string): Promise<void> {
    await this.runner.run({ argv: downCommand(resourceName), timeoutMs: DRBD_STATE_CHANGE_TIMEOUT_MS, purpose: `take DRBD resource ${resourceName} down` });
  }

  private async drbdadm(argv: string[], purpose: string, timeoutMs: number): Promise<CommandResult> {
    return this.runner.run({ argv, env: this.env, purpose, timeoutMs });
  }

  private minorOf(resource: DesiredDrbdResource, volumeNumber: number): number {
    const volume = resource.volumes.find((v) => v.volumeNumber === volumeNumber);
    if (!volume) throw new Error(`DRBD resource ${resource.name} has no volume ${volumeNumber}; the desired state lists volumes ${resource.volumes.map((v) => v.volumeNumber).join(', ') || 'none'}`);
    return volume.minor;
  }

  /**
   * Starts one events2 process. `first` is set for the process of start(): its fate settles start()'s promise.
   * Events of a process that is no longer the current one (after stop) are ignored.
   */
  private spawnEvents2(first?: { spawned: () => void; failed: (message: string) => void }): void {
    const argv = events2Command();
    const splitter = new LineSplitter();
    const stderrTail: string[] = [];
    let spawned = false;
    let sawDumpEnd = false;
    /** Set once a line failed: the rest of this process's output belongs to the state being thrown away. */
    let discarded = false;
    let markExited: () => void = () => {};
    const exited = new Promise<void>((resolve) => (markExited = resolve));
    // Registered before spawning, so that even handlers called synchronously by the spawner see it as current.
    const proc: Events2Process = { handle: { kill: () => {} }, exited };
    this.process = proc;
    const current = (): boolean => this.process === proc && this.running;

    proc.handle = this.spawnStream(argv, {
      onSpawn: () => {
        spawned = true;
        this.log.debug({ argv }, 'DRBD events2 stream started');
        first?.spawned();
      },
      onStdout: (chunk) => {
        if (!current() || discarded) return;
        for (const line of splitter.push(chunk)) {
          if (line === 'exists -') {
            // A stream that completed its initial dump works: the next failure starts the backoff from the beginning.
            sawDumpEnd = true;
            this.failures = 0;
          }
          try {
            this.onLine(line);
          } catch (error) {
            // The consumer's state may now be inconsistent: start over with a fresh dump, as LINSTOR does after a
            // line it cannot process.
            this.log.error({ err: error, line }, 'processing a DRBD events2 line failed; restarting the stream');
            discarded = true;
            proc.handle.kill();
            return;
          }
        }
      },
      onStderr: (chunk) => {
        for (const line of chunk.split('\n').filter((l) => l.trim() !== '')) {
          stderrTail.push(line);
          if (stderrTail.length > 5) stderrTail.shift();
          if (current()) this.log.warn({ line }, 'DRBD events2 stderr');
        }
      },
      onExit: (exit) => {
        const wasCurrent = current();
        if (this.process === proc) this.process = null;
        markExited();
        const rest = splitter.rest();
        if (rest !== '') this.log.debug({ partialLine: rest }, 'DRBD events2 ended in the middle of a line; the partial line is dropped');
        if (first && !spawned) {
          // start() is still waiting: it fails, whether the process could not start or stop() came first.
          first.failed(
            exit.spawnError !== null
              ? `Cannot start the DRBD state stream \`${argv.join(' ')}\`: ${exit.spawnError}. Install drbd-utils (apt-get install drbd-utils).`
              : `The DRBD state stream \`${argv.join(' ')}\` was stopped before it started.`,
          );
          return;
        }
        if (!wasCurrent) return;
        if (!sawDumpEnd) this.failures += 1;
        const delay = restartDelayMs(Math.max(0, this.failures - 1), this.backoff);
        this.log.warn(
          { exitCode: exit.exitCode, signal: exit.signal, spawnError: exit.spawnError, stderr: stderrTail.join('\n'), restartInMs: delay },
          'DRBD events2 stream ended; restarting it',
        );
        this.restartTimer = setTimeout(() => {
          this.restartTimer = null;
          if (!this.running) return;
          // Before the new process: its initial dump replaces everything the consumer knew.
          this.onRestart();
          this.spawnEvents2();
        }, delay);
      },
    });
  }
}

/** A CommandError for a run whose exit code was allowed but whose answer turned out to be a failure after all. */
function commandError(result: CommandResult, purpose: string): CommandError {
  return new CommandError({ argv: result.argv, purpose, exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr, timedOut: false });
}
