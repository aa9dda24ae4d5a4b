import type { Logger } from 'pino';
import type { ApplyReport, DesiredState } from '../../common/protocol/satellite.js';
import { errorMessage } from './reconcile.js';

/** The timer functions the loop uses; tests pass fakes to step through backoff without waiting. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The process's timers. */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface ReconcileLoopOptions {
  /** One pass over the desired state; resolves with the report, throws only on a bug. */
  reconcile: (desired: DesiredState, log: Logger) => Promise<ApplyReport>;
  /** Delivers a pass's report; a rejection counts as a failed pass (retried with backoff). */
  report: (report: ApplyReport, log: Logger) => Promise<void>;
  log: Logger;
  /** After a converged pass, run the next one after this long (capacity refresh). Default 30 s; 0 disables. */
  refreshIntervalMs?: number;
  /** First retry delay after a failed pass (default 1 s); doubles per consecutive failure. */
  initialBackoffMs?: number;
  /** Longest retry delay (default 60 s). */
  maxBackoffMs?: number;
  timers?: Timers;
}

/**
 * The satellite's reconcile scheduler (STYLE rule 7): at most one pass at a time, always over the latest desired
 * state.
 * - A new desired state while a pass runs coalesces into one follow-up pass with the latest state (however many
 *   arrived meanwhile).
 * - A pass that did not converge (or whose report could not be delivered, or that threw) is retried after 1 s, 2 s,
 *   4 s ... at most 60 s; the backoff restarts on convergence and on every new desired state, because new input
 *   deserves a prompt attempt.
 * - After a converged pass the next one runs after `refreshIntervalMs`, so capacity stays current; it is cheap when
 *   nothing changed (reads only). While a retry is pending the retry serves as the refresh.
 * - Every pass gets a log id (`pass`), and no exception ends the loop.
 */
export class ReconcileLoop {
  private desired: DesiredState | null = null;
  private running: Promise<void> | null = null;
  private followUp = false;
  /** Consecutive failed passes since the last convergence or new desired state. */
  private failures = 0;
  private timer: { handle: unknown; kind: 'retry' | 'refresh'; ms: number } | null = null;
  private passes = 0;
  private stopped = false;
  private readonly timers: Timers;
  private readonly refreshIntervalMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(private readonly options: ReconcileLoopOptions) {
    this.timers = options.timers ?? realTimers;
    this.refreshIntervalMs = options.refreshIntervalMs ?? 30_000;
    this.initialBackoffMs = options.initialBackoffMs ?? 1_000;
    this.maxBackoffMs = options.maxBackoffMs ?? 60_000;
  }

  /** The desired state the loop works on (the latest one given), or null before the first. */
  get current(): DesiredState | null {
    return this.desired;
  }

  /** What is scheduled next, for logs and tests: a retry or refresh after `ms`, or nothing. */
  get scheduled(): { kind: 'retry' | 'refresh'; ms: number } | null {
    return this.timer && { kind: this.timer.kind, ms: this.timer.ms };
  }

  /** Number of passes started so far (also the log id of the latest pass). */
  get passCount(): number {
    return this.passes;
  }

  /** Takes a new desired state: resets the backoff and runs a pass now, or right after the running one. */
  setDesired(state: DesiredState): void {
    if (this.stopped) return;
    this.desired = state;
    this.failures = 0;
    this.cancelTimer();
    this.kick();
  }

  /**
   * Runs a pass over the current desired state now unless one is running (its report is fresh anyway) or a retry is
   * pending (the backoff must hold; the retry refreshes too). For a forced capacity refresh.
   */
  refresh(): void {
    if (this.stopped || !this.desired || this.running || this.timer?.kind === 'retry') return;
    this.cancelTimer();
    this.kick();
  }

  /** Resolves when no pass is running (a scheduled retry or refresh may still be pending). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops scheduling and waits for the running pass to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer();
    await this.idle();
  }

  private kick(): void {
    if (this.running) {
      this.followUp = true;
      return;
    }
    this.running = this.runPasses().finally(() => {
      this.running = null;
    });
  }

  private async runPasses(): Promise<void> {
    let converged = false;
    try {
      do {
        this.followUp = false;
        converged = await this.runOnePass(this.desired!);
      } while (this.followUp && !this.stopped);
    } catch (error) {
      // runOnePass catches everything it calls; this is the last line so that the loop itself never dies.
      converged = false;
      this.options.log.error({ err: error }, 'reconcile loop failed; retrying');
    }
    if (this.stopped) return;
    if (converged) {
      this.failures = 0;
      if (this.refreshIntervalMs > 0) this.schedule('refresh', this.refreshIntervalMs);
    } else {
      const ms = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(this.failures, 30));
      this.failures++;
      this.schedule('retry', ms);
    }
  }

  /** One pass and its report; true when it converged and the report was delivered. */
  private async runOnePass(desired: DesiredState): Promise<boolean> {
    const id = ++this.passes;
    const log = this.options.log.child({ pass: id, revision: desired.revision });
    const started = performance.now();
    let report: ApplyReport;
    try {
      report = await this.options.reconcile(desired, log);
    } catch (error) {
      log.error({ err: error }, 'reconcile pass failed with an internal error');
      report = { revision: desired.revision, converged: false, pools: [], volumes: [], fatal: errorMessage(error) };
    }
    const failed = report.pools.filter((p) => p.error !== null).length + report.volumes.filter((v) => v.state === 'FAILED').length;
    log[report.converged ? 'debug' : 'warn'](
      { converged: report.converged, failed, pools: report.pools.length, volumes: report.volumes.length, ms: Math.round(performance.now() - started) },
      'reconcile pass done',
    );
    try {
      await this.options.report(report, log);
    } catch (error) {
      log.warn({ err: error }, 'could not deliver the report; retrying the pass');
      return false;
    }
    return report.converged && !report.fatal;
  }

  private schedule(kind: 'retry' | 'refresh', ms: number): void {
    this.cancelTimer();
    const handle = this.timers.setTimeout(() => {
      if (this.timer?.handle !== handle) return;
      this.timer = null;
      if (!this.stopped && this.desired) this.kick();
    }, ms);
    this.timer = { handle, kind, ms };
    if (kind === 'retry') this.options.log.info({ inMs: ms, failures: this.failures }, 'reconcile pass did not converge; retry scheduled');
  }

  private cancelTimer(): void {
    if (this.timer) this.timers.clearTimeout(this.timer.handle);
    this.timer = null;
  }
}
