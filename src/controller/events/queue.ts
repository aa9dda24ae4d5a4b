/**
 * A push-driven async iterator with a bounded buffer. Unlike an async generator, `return()` takes effect at once
 * even while a consumer waits in `next()`: graphql-ws ends subscriptions with return() when a client goes away,
 * and an async generator parked in an `await` would keep that (and the connection's cleanup) pending forever.
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private readonly buffer: T[] = [];
  private waiter: ((result: IteratorResult<T>) => void) | undefined;
  private ended = false;

  /** `onEnd` runs once when the consumer returns or the producer ends the queue. */
  constructor(
    private readonly onEnd: () => void = () => undefined,
    private readonly maxBuffer = 10_000,
  ) {}

  get closed(): boolean {
    return this.ended;
  }

  /** Adds a value; the oldest is dropped when the buffer is full (a slow consumer never blocks producers). */
  push(value: T): void {
    if (this.ended) return;
    if (this.waiter) {
      const wake = this.waiter;
      this.waiter = undefined;
      wake({ value, done: false });
      return;
    }
    if (this.buffer.length >= this.maxBuffer) this.buffer.shift();
    this.buffer.push(value);
  }

  /** Ends the iteration (after the buffered values are consumed, pending next() calls see done). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd();
    const wake = this.waiter;
    this.waiter = undefined;
    wake?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    const value = this.buffer.shift();
    if (value !== undefined) return Promise.resolve({ value, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiter = resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.buffer.length = 0;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }
}
