import { describe, expect, it } from '@jest/globals';
import { AsyncQueue } from '../../../../src/controller/events/queue.js';

async function drain<T>(queue: AsyncQueue<T>, count: number): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < count; i++) out.push((await queue.next()).value as T);
  return out;
}

describe('AsyncQueue', () => {
  it('drops the oldest value when the buffer is full (push)', async () => {
    const q = new AsyncQueue<number>(undefined, 3);
    [1, 2, 3, 4].forEach((n) => q.push(n));
    expect(await drain(q, 3)).toEqual([2, 3, 4]);
  });

  it('keeps only the newest value per key in its place while the consumer is behind (pushLatest)', async () => {
    const q = new AsyncQueue<string>();
    q.pushLatest('a', 'a1');
    q.pushLatest('b', 'b1');
    q.pushLatest('a', 'a2');
    q.push('plain');
    q.pushLatest('b', 'b2');
    expect(await drain(q, 3)).toEqual(['a2', 'b2', 'plain']);
    // Once delivered, a key starts over at the end.
    q.pushLatest('a', 'a3');
    expect(await drain(q, 1)).toEqual(['a3']);
  });

  it('hands a keyed value to a waiting consumer at once, and a full buffer never loses the newest value of a key', async () => {
    const q = new AsyncQueue<string>(undefined, 2);
    const waiting = q.next();
    q.pushLatest('a', 'a1');
    expect((await waiting).value).toBe('a1');
    q.pushLatest('a', 'a2');
    q.pushLatest('b', 'b1');
    q.pushLatest('c', 'c1'); // full: the oldest entry (a) goes
    q.pushLatest('c', 'c2');
    expect(await drain(q, 2)).toEqual(['b1', 'c2']);
  });

  it('looks like an async generator to graphql-ws: throw() ends it, runs onEnd once and rejects with the error', async () => {
    let ended = 0;
    const q = new AsyncQueue<string>(() => ended++);
    q.push('left over');
    const waiting = new AsyncQueue<string>(() => ended++);
    const pending = waiting.next();
    await expect(q.throw(new Error('client went away'))).rejects.toThrow('client went away');
    await expect(waiting.throw('gone')).rejects.toThrow('gone');
    expect(ended).toBe(2);
    expect(await q.next()).toEqual({ value: undefined, done: true });
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(typeof q.throw).toBe('function');
  });
});
