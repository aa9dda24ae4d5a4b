/**
 * Gives users' requests precedence over satellite work when both compete for the controller's CPU and database
 * connections. The API marks the mutations it is serving (foreground); the satellite hub runs its work (ingesting
 * pass reports, building and sending desired states, recording DRBD_INITIALIZED) through `background()`:
 * - while no mutation is in flight, background work starts at once, as much of it as arrives;
 * - while mutations are in flight, at most `busyConcurrency` background tasks run at a time, in arrival order. It
 *   keeps moving (no starvation), just slower, and catches up when the burst is over;
 * - no task waits longer than `maxWaitMs` (default 2 s): then it starts anyway. A satellite gives up on a report the
 *   controller has not confirmed within its report timeout (15 s) and sends another; held back longer, the old one
 *   would still be ingested after the satellite moved on.
 * Work already running is never interrupted; only starts are held back. Everything background work waits for is
 * bounded per node (one report in flight per satellite, one pending desired state per node, coalesced), so the
 * queue stays small.
 *
 * Measured (S2 benchmark, 1,000 spawns at concurrency 100 on 20,000 replicas): the satellites' own traffic caused by
 * the burst (pass reports, desired states, DRBD state) was about ten statements per spawn against the spawn's one,
 * and it ran alongside the spawns, so a spawn batch waited for the database and the event loop behind it.
 */
export class LoadGate {
  private foreground = 0;
  private running = 0;
  private readonly waiting: { start: () => void; timer: ReturnType<typeof setTimeout> }[] = [];
  private started = 0;
  private held = 0;
  private overdue = 0;

  constructor(
    private readonly busyConcurrency = 2,
    private readonly maxWaitMs = 2000,
  ) {
    if (!Number.isInteger(busyConcurrency) || busyConcurrency < 1) throw new Error(`LoadGate: busyConcurrency must be a positive integer, not ${busyConcurrency}`);
  }

  /** A foreground request started; call the returned function (once; more calls do nothing) when it ended. */
  foregroundStarted(): () => void {
    this.foreground++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.foreground--;
      this.release();
    };
  }

  /** Runs `work` when the gate allows (see the class comment); resolves or rejects with it. */
  async background<T>(work: () => Promise<T>): Promise<T> {
    if (this.waiting.length > 0 || !this.allowed()) {
      this.held++;
      await new Promise<void>((resolve) => {
        const entry = {
          start: () => {
            clearTimeout(entry.timer);
            resolve();
          },
          timer: setTimeout(() => {
            // Waited long enough: starts now, whatever runs.
            const i = this.waiting.indexOf(entry);
            if (i < 0) return;
            this.waiting.splice(i, 1);
            this.overdue++;
            this.running++;
            entry.start();
          }, this.maxWaitMs),
        };
        entry.timer.unref?.();
        this.waiting.push(entry);
      });
    } else {
      this.running++;
    }
    this.started++;
    try {
      return await work();
    } finally {
      this.running--;
      this.release();
    }
  }

  /** For logs, metrics and tests. */
  stats(): { foreground: number; running: number; waiting: number; started: number; held: number; overdue: number } {
    return { foreground: this.foreground, running: this.running, waiting: this.waiting.length, started: this.started, held: this.held, overdue: this.overdue };
  }

  private allowed(): boolean {
    return this.foreground === 0 || this.running < this.busyConcurrency;
  }

  private release(): void {
    while (this.waiting.length > 0 && this.allowed()) {
      this.running++;
      this.waiting.shift()!.start();
    }
  }
}
