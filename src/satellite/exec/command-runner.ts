import { execa } from 'execa';

/**
 * One way to run host commands on the satellite: argv arrays only (never a shell string), a timeout, the exit codes
 * that count as success, and a failure that names the exact command. Providers build argv with pure functions in
 * their commands.ts and parse output with pure functions in parse.ts; tests substitute a scripted runner.
 */
export interface CommandSpec {
  /** Program and arguments, e.g. ['lvs', '--reportformat', 'json', 'vg0']. */
  argv: readonly string[];
  /** Kill the command after this long (default 60 s). */
  timeoutMs?: number;
  /** Exit codes that are not failures (default [0]). */
  allowedExitCodes?: readonly number[];
  /** Extra environment variables. */
  env?: Readonly<Record<string, string>>;
  /** What the command is for, used in failure messages, e.g. "create volume r0_00000". */
  purpose?: string;
}

export interface CommandResult {
  argv: readonly string[];
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface CommandRunner {
  /** Runs the command; resolves for an allowed exit code, otherwise rejects with a {@link CommandError}. */
  run(spec: CommandSpec): Promise<CommandResult>;
}

/** A command that failed, timed out or could not be started; `command` is the shell-quoted argv. */
export class CommandError extends Error {
  readonly command: string;
  readonly exitCode: number | null;
  readonly stderr: string;
  readonly stdout: string;
  readonly timedOut: boolean;

  constructor(init: { argv: readonly string[]; purpose?: string; exitCode: number | null; stdout: string; stderr: string; timedOut: boolean; cause?: string }) {
    const command = shellQuote(init.argv);
    const what = init.timedOut ? 'timed out' : init.exitCode === null ? `could not run (${init.cause ?? 'unknown reason'})` : `exited with ${init.exitCode}`;
    const detail = (init.stderr.trim() || init.stdout.trim()).split('\n').slice(-5).join('\n');
    super(`${init.purpose ? `${init.purpose}: ` : ''}\`${command}\` ${what}${detail ? `: ${detail}` : ''}`);
    this.name = 'CommandError';
    this.command = command;
    this.exitCode = init.exitCode;
    this.stderr = init.stderr;
    this.stdout = init.stdout;
    this.timedOut = init.timedOut;
  }
}

/** Quotes argv for display so a failure can be copied into a shell and run by hand. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export interface ExecaRunnerOptions {
  /** Called after every command, for logging. */
  onCommand?: (result: CommandResult | CommandError, spec: CommandSpec) => void;
  defaultTimeoutMs?: number;
}

/** The production runner, over execa. */
export class ExecaCommandRunner implements CommandRunner {
  constructor(private readonly options: ExecaRunnerOptions = {}) {}

  async run(spec: CommandSpec): Promise<CommandResult> {
    const [file, ...args] = spec.argv;
    if (!file) throw new Error('CommandRunner.run: empty argv');
    const started = performance.now();
    const result = await execa(file, args, {
      reject: false,
      stdin: 'ignore',
      timeout: spec.timeoutMs ?? this.options.defaultTimeoutMs ?? 60_000,
      env: { LC_ALL: 'C', LVM_SUPPRESS_FD_WARNINGS: '1', ...spec.env },
      stripFinalNewline: false,
    });
    const outcome: CommandResult = {
      argv: spec.argv,
      exitCode: result.exitCode ?? -1,
      stdout: String(result.stdout ?? ''),
      stderr: String(result.stderr ?? ''),
      durationMs: performance.now() - started,
    };
    const allowed = spec.allowedExitCodes ?? [0];
    if (result.timedOut || result.exitCode === undefined || !allowed.includes(result.exitCode)) {
      const error = new CommandError({
        argv: spec.argv,
        purpose: spec.purpose,
        exitCode: result.timedOut ? null : (result.exitCode ?? null),
        stdout: outcome.stdout,
        stderr: outcome.stderr,
        timedOut: Boolean(result.timedOut),
        cause: result.exitCode === undefined ? result.shortMessage : undefined,
      });
      this.options.onCommand?.(error, spec);
      throw error;
    }
    this.options.onCommand?.(outcome, spec);
    return outcome;
  }
}
