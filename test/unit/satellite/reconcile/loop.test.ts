import { describe, expect, it } from '@jest/globals';
import pino from 'pino';
import type { ApplyReport, DesiredState } from '../../../../src/common/protocol/satellite.js';
import { ReconcileLoop, type Timers } from '../../../../src/satellite/reconcile/loop.js';

/** Timers that only fire when the test says so; records every delay asked for. */
class ManualTimers implements Timers {
  private next = 1;
  readonly pending = new Map<number, { fn: () => void; ms: number }>();
  readonly requested: number[] = [];

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { fn, ms });
    this.requested.push(ms);
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** Fires the only pending timer and returns its delay. */
  fire(): number {
    expect(this.pending.size).toBe(1);
    const [id, timer] = [...this.pending][0]!;
    this.pending.delete(id);
    timer.fn();
    return timer.ms;
  }
}

/** A promise the test resolves by hand. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const state = (revision: number): DesiredState => ({ node: 'n1', revision, pools: [], volumes: [], drbdResources: [] });
const report = (revision: number, converged: boolean): ApplyReport => ({ revision, converged, pools: [], volumes: [] });
const log = pino({ level: 'silent' });

/** A loop whose passes return what `outcome` says and record the revisions they ran with and the reports sent. */
function harness(outcome: (revision: number, pass: number) => boolean | Promise<boolean> | 'throw' = () => true, options: { refreshIntervalMs?: number } = {}) {
  const timers = new ManualTimers();
  const ran: number[] = [];
  const reports: ApplyReport[] = [];
  const passIds: unknown[] = [];
  const loop = new ReconcileLoop({
    reconcile: async (desired, passLog) => {
      ran.push(desired.revision);
      passIds.push((passLog.bindings() as { pass?: unknown }).pass);
      const result = await outcome(desired.revision, ran.length);
      if (result === 'throw') throw new Error('bug in the pass');
      return report(desired.revision, result);
    },
    report: async (r) => {
      reports.push(r);
    },
    log,
    timers,
    ...options,
  });
  return { loop, timers, ran, reports, passIds };
}

describe('ReconcileLoop', () => {
  it('runs a pass per desired state, reports it with a fresh log id, then schedules a capacity refresh', async () => {
    const { loop, timers, ran, reports, passIds } = harness(() => true, { refreshIntervalMs: 30_000 });
    loop.setDesired(state(1));
    await loop.idle();
    expect(ran).toEqual([1]);
    expect(reports).toEqual([report(1, true)]);
    expect(loop.scheduled).toEqual({ kind: 'refresh', ms: 30_000 });

    expect(timers.fire()).toBe(30_000);
    await loop.idle();
    expect(ran).toEqual([1, 1]);
    expect(passIds).toEqual([1, 2]);
    expect(loop.scheduled).toEqual({ kind: 'refresh', ms: 30_000 });
  });

  it('does nothing before the first desired state', async () => {
    const { loop, timers, ran } = harness();
    loop.refresh();
    await loop.idle();
    expect(ran).toEqual([]);
    expect(timers.pending.size).toBe(0);
  });

  it('coalesces desired states that arrive during a pass into one follow-up pass with the latest', async () => {
    const gate = deferred<boolean>();
    const { loop, ran, reports } = harness((_rev, pass) => (pass === 1 ? gate.promise : true));
    loop.setDesired(state(1));
    loop.setDesired(state(2));
    loop.setDesired(state(3));
    loop.refresh(); // ignored: a pass is running
    loop.setDesired(state(4));
    gate.resolve(true);
    await loop.idle();
    expect(ran).toEqual([1, 4]);
    expect(reports.map((r) => r.revision)).toEqual([1, 4]);
  });

  it('never runs two passes at once', async () => {
    let active = 0;
    let maxActive = 0;
    const { loop } = harness(async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setImmediate(r));
      active--;
      return true;
    });
    for (let i = 1; i <= 20; i++) {
      loop.setDesired(state(i));
      if (i % 3 === 0) await new Promise((r) => setImmediate(r));
    }
    await loop.idle();
    expect(maxActive).toBe(1);
    expect(loop.current?.revision).toBe(20);
  });

  it('retries a failed pass after 1 s, 2 s, 4 s ... at most 60 s, and resets the backoff on convergence', async () => {
    let failing = true;
    const { loop, timers, ran } = harness(() => !failing);
    loop.setDesired(state(1));
    await loop.idle();
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      expect(loop.scheduled?.kind).toBe('retry');
      delays.push(timers.fire());
      await loop.idle();
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    expect(ran).toEqual(Array(9).fill(1));

    failing = false;
    timers.fire();
    await loop.idle();
    expect(loop.scheduled).toEqual({ kind: 'refresh', ms: 30_000 });
    failing = true;
    timers.fire();
    await loop.idle();
    expect(loop.scheduled).toEqual({ kind: 'retry', ms: 1_000 });
  });

  it('resets the backoff on a new desired state and runs it at once', async () => {
    const { loop, timers, ran } = harness(() => false);
    loop.setDesired(state(1));
    await loop.idle();
    timers.fire();
    await loop.idle();
    timers.fire();
    await loop.idle();
    expect(loop.scheduled).toEqual({ kind: 'retry', ms: 4_000 });

    loop.setDesired(state(2));
    await loop.idle();
    expect(ran).toEqual([1, 1, 1, 2]);
    // The pending 4 s retry was replaced by the new state's own backoff.
    expect(timers.pending.size).toBe(1);
    expect(loop.scheduled).toEqual({ kind: 'retry', ms: 1_000 });
  });

  it('does not let a capacity refresh run ahead of a pending retry', async () => {
    const { loop, timers, ran } = harness(() => false);
    loop.setDesired(state(1));
    await loop.idle();
    loop.refresh();
    await loop.idle();
    expect(ran).toEqual([1]);
    expect(loop.scheduled).toEqual({ kind: 'retry', ms: 1_000 });
    expect(timers.pending.size).toBe(1);
  });

  it('survives a pass that throws: reports it as fatal and retries with backoff', async () => {
    let pass = 0;
    const { loop, timers, reports } = harness(() => (++pass === 1 ? 'throw' : true));
    loop.setDesired(state(5));
    await loop.idle();
    expect(reports).toEqual([{ revision: 5, converged: false, pools: [], volumes: [], fatal: 'bug in the pass' }]);
    expect(loop.scheduled).toEqual({ kind: 'retry', ms: 1_000 });
    timers.fire();
    await loop.idle();
    expect(reports[1]).toEqual(report(5, true));
  });

  it('retries a converged pass whose report could not be delivered', async () => {
    const timers = new ManualTimers();
    let deliveries = 0;
    const loop = new ReconcileLoop({
      reconcile: async (desired) => report(desired.revision, true),
      report: async () => {
        if (++deliveries === 1) throw new Error('controller unreachable');
      },
      log,
      timers,
    });
    loop.setDesired(state(1));
    await loop.idle();
    expect(loop.scheduled).toEqual({ kind: 'retry', ms: 1_000 });
    timers.fire();
    await loop.idle();
    expect(deliveries).toBe(2);
    expect(loop.scheduled).toEqual({ kind: 'refresh', ms: 30_000 });
  });

  it('stops: waits for the running pass, cancels what is scheduled and ignores later requests', async () => {
    const gate = deferred<boolean>();
    const { loop, timers, ran } = harness((_rev, pass) => (pass === 1 ? gate.promise : true));
    loop.setDesired(state(1));
    const stopped = loop.stop();
    loop.setDesired(state(2));
    gate.resolve(false);
    await stopped;
    expect(ran).toEqual([1]);
    expect(timers.pending.size).toBe(0);
    loop.refresh();
    await loop.idle();
    expect(ran).toEqual([1]);
  });
});
