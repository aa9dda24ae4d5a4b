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


  it('ends with an error when the producer fails: buffered values first, then next() rejects (also a waiting one)', async () => {
    const q = new AsyncQueue<string>();
    q.push('before');
    q.end(new Error('source failed'));
    expect(await q.next()).toEqual({ value: 'before', done: false });
    await expect(q.next()).rejects.toThrow('source failed');
    const waiting = new AsyncQueue<string>();
    const pending = waiting.next();
    waiting.end(new Error('gone'));
    await expect(pending).rejects.toThrow('gone');
    // A consumer that returns sees done, not the failure.
    const returned = new AsyncQueue<string>();
    returned.end(new Error('late'));
    await returned.return();
    expect(await returned.next()).toEqual({ value: undefined, done: true });
  });
});
