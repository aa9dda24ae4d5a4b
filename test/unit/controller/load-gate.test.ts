import { describe, expect, it } from '@jest/globals';
import { LoadGate } from '../../../src/controller/load-gate.js';

/** A background task the test finishes by hand; `started` tells whether the gate let it begin. */
function task(gate: LoadGate, log: string[], name: string) {
  let finish!: () => void;
  const state = { started: false, done: undefined as Promise<string> | undefined };
  state.done = gate.background(async () => {
    state.started = true;
    log.push(`start ${name}`);
    await new Promise<void>((resolve) => (finish = resolve));
    return name;
  });
  return { state, finish: () => finish() };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('LoadGate', () => {
  it('runs background work at once, as much as arrives, while no mutation is in flight', async () => {
    const gate = new LoadGate(1);
    const log: string[] = [];
    const tasks = ['a', 'b', 'c'].map((n) => task(gate, log, n));
    await tick();
    expect(tasks.map((t) => t.state.started)).toEqual([true, true, true]);
    tasks.forEach((t) => t.finish());
    expect(await Promise.all(tasks.map((t) => t.state.done))).toEqual(['a', 'b', 'c']);
    expect(gate.stats()).toMatchObject({ running: 0, waiting: 0, started: 3, held: 0 });
  });

  it('holds back starts beyond busyConcurrency while a mutation is in flight, in arrival order, and catches up after it', async () => {
    const gate = new LoadGate(2);
    const log: string[] = [];
    const end = gate.foregroundStarted();
    const tasks = ['a', 'b', 'c', 'd'].map((n) => task(gate, log, n));
    await tick();
    expect(log).toEqual(['start a', 'start b']);
    expect(gate.stats()).toMatchObject({ foreground: 1, running: 2, waiting: 2 });
    // Still busy: one finishing lets the next one (in order) start, not more.
    tasks[0]!.finish();
    await tick();
    expect(log).toEqual(['start a', 'start b', 'start c']);
    // The mutation ends: everything waiting starts.
    end();
    end(); // a second call does nothing
    await tick();
    expect(log).toEqual(['start a', 'start b', 'start c', 'start d']);
    expect(gate.stats().foreground).toBe(0);
    tasks.slice(1).forEach((t) => t.finish());
    await Promise.all(tasks.map((t) => t.state.done));
    expect(gate.stats()).toMatchObject({ running: 0, waiting: 0, started: 4, held: 2 });
  });

  it('lets work that was running go on when a mutation starts, and frees its slot when it fails', async () => {
    const gate = new LoadGate(1);
    const log: string[] = [];
    const early = [task(gate, log, 'a'), task(gate, log, 'b')];
    await tick();
    const end = gate.foregroundStarted();
    const failing = gate.background(async () => {
      throw new Error('database gone');
    });
    const late = task(gate, log, 'c');
    await tick();
    expect(log).toEqual(['start a', 'start b']); // two already running; nothing new while both are
    early[0]!.finish();
    early[1]!.finish();
    await expect(failing).rejects.toThrow('database gone');
    await tick();
    expect(late.state.started).toBe(true);
    late.finish();
    await late.state.done;
    end();
    expect(gate.stats()).toMatchObject({ running: 0, waiting: 0 });
  });

  it('starts a task that waited maxWaitMs anyway (a satellite gives up on a report after its timeout)', async () => {
    const gate = new LoadGate(1, 50);
    const log: string[] = [];
    const end = gate.foregroundStarted();
    const a = task(gate, log, 'a');
    const b = task(gate, log, 'b');
    await tick();
    expect(log).toEqual(['start a']);
    await new Promise((r) => setTimeout(r, 120));
    expect(log).toEqual(['start a', 'start b']);
    expect(gate.stats()).toMatchObject({ running: 2, waiting: 0, overdue: 1 });
    a.finish();
    b.finish();
    await Promise.all([a.state.done, b.state.done]);
    end();
    expect(gate.stats()).toMatchObject({ running: 0, waiting: 0 });
  });

  it('refuses a concurrency that is not a positive integer', () => {
    expect(() => new LoadGate(0)).toThrow('positive integer');
  });
});
