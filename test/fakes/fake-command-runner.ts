import { CommandError, shellQuote, type CommandResult, type CommandRunner, type CommandSpec } from '../../src/satellite/exec/command-runner.js';

/** One command the code under test is expected to run next, and what the fake answers. */
export interface ScriptedCommand {
  /** The exact argv expected. */
  argv: readonly string[];
  stdout?: string;
  stderr?: string;
  /** Default 0. A code outside the spec's allowed exit codes rejects with a CommandError, like the real runner. */
  exitCode?: number;
  /** Runs when the command is "executed", before answering: e.g. change fake host state the way the tool would. */
  effect?: () => void | Promise<void>;
}

/**
 * A scripted {@link CommandRunner} for satellite tests (STYLE rule 9): commands must arrive in exactly the scripted
 * order with exactly the scripted argv. Anything else fails loudly, both where it happens (the run rejects) and at the
 * end (`assertDone()` reports it even if the code under test swallowed the rejection), and `assertDone()` also fails
 * when scripted commands were never run.
 */
export class FakeCommandRunner implements CommandRunner {
  /** Every spec the code under test passed to `run`, in order, including unexpected ones. */
  readonly specs: CommandSpec[] = [];
  private readonly script: ScriptedCommand[];
  private readonly surprises: string[] = [];

  constructor(script: readonly ScriptedCommand[] = []) {
    this.script = [...script];
  }

  /** Appends a command to the script; chainable. */
  expect(argv: readonly string[], answer: Omit<ScriptedCommand, 'argv'> = {}): this {
    this.script.push({ argv, ...answer });
    return this;
  }

  /** The argv of every command run so far. */
  get commands(): (readonly string[])[] {
    return this.specs.map((s) => s.argv);
  }

  async run(spec: CommandSpec): Promise<CommandResult> {
    this.specs.push(spec);
    const next = this.script[0];
    if (!next || !sameArgv(next.argv, spec.argv)) {
      const message = next
        ? `FakeCommandRunner: unexpected command \`${shellQuote(spec.argv)}\`; the script expects \`${shellQuote(next.argv)}\` next`
        : `FakeCommandRunner: unexpected command \`${shellQuote(spec.argv)}\`; the script is used up`;
      this.surprises.push(message);
      throw new Error(message);
    }
    this.script.shift();
    await next.effect?.();
    const result: CommandResult = {
      argv: spec.argv,
      exitCode: next.exitCode ?? 0,
      stdout: next.stdout ?? '',
      stderr: next.stderr ?? '',
      durationMs: 0,
    };
    if (!(spec.allowedExitCodes ?? [0]).includes(result.exitCode)) {
      throw new CommandError({ ...result, purpose: spec.purpose, timedOut: false });
    }
    return result;
  }

  /** Throws unless every scripted command ran and nothing unexpected was asked for. */
  assertDone(): void {
    const problems = [...this.surprises];
    if (this.script.length > 0) {
      problems.push(`${this.script.length} scripted command(s) never ran: ${this.script.map((c) => `\`${shellQuote(c.argv)}\``).join(', ')}`);
    }
    if (problems.length > 0) throw new Error(problems.join('\n'));
  }
}

function sameArgv(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((arg, i) => arg === b[i]);
}
