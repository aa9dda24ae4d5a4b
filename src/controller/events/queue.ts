/**
 * A push-driven async iterator with a bounded buffer. Unlike an async generator, `return()` takes effect at once
 * even while a consumer waits in `next()`: graphql-ws ends subscriptions with return() when a client goes away,
 * and an async generator parked in an `await` would keep that (and the connection's cleanup) pending forever.
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private readonly buffer: { value: T; key?: string }[] = [];
  /** Buffered entries pushed with a key, by key (see pushLatest). */
  private readonly keyed = new Map<string, { value: T; key?: string }>();
  private waiter: { resolve: (result: IteratorResult<T>) => void; reject: (error: Error) => void } | undefined;
  private ended = false;
  /** Why the producer ended the queue, when it failed (see end). */
  private failure: Error | undefined;

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
      wake.resolve({ value, done: false });
      return;
    }
    if (this.buffer.length >= this.maxBuffer) this.forget(this.buffer.shift());
    this.buffer.push({ value });
  }

  /**
   * Adds the newest value for `key`: when a value for the same key still waits in the buffer, it is replaced in its
   * place. A slow consumer then gets the latest state of every key rather than a backlog, and never loses the last
   * one (which dropping the oldest could do). The buffer holds at most one value per key.
   */
  pushLatest(key: string, value: T): void {
    if (this.ended) return;
    const waiting = this.keyed.get(key);
    if (waiting) {
      waiting.value = value;
      return;
    }
    if (this.waiter) {
      this.push(value);
      return;
    }
    if (this.buffer.length >= this.maxBuffer) this.forget(this.buffer.shift());
    const entry = { value, key };
    this.buffer.push(entry);
    this.keyed.set(key, entry);
  }

  private forget(entry: { key?: string } | undefined): void {
    if (entry?.key !== undefined) this.keyed.delete(entry.key);
  }

  /**
   * Ends the iteration: after the buffered values are consumed, next() says done, or rejects with `error` when the
   * producer failed (graphql-ws then sends the subscriber an error message instead of completing).
   */
  end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = error;
    this.onEnd();
    const wake = this.waiter;
    this.waiter = undefined;
    if (wake && error) wake.reject(error);
    else wake?.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    const entry = this.buffer.shift();
    if (entry !== undefined) {
      this.forget(entry);
      return Promise.resolve({ value: entry.value, done: false });
    }
    if (this.ended) return this.failure ? Promise.reject(this.failure) : Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.buffer.length = 0;
    this.keyed.clear();
    this.failure = undefined;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }
}

/**
 * Returns an `enqueue(read)` that runs reads one after the other and pushes their results into `queue` in that
 * order, so values come out in the order their triggering events arrived. A failed read is skipped: the next event
 * brings the object again.
 */
export function chainedReads<T>(queue: AsyncQueue<T>): (read: () => Promise<T[]>) => void {
  let chain = Promise.resolve();
  return (read) => {
    chain = chain.then(read).then(
      (values) => values.forEach((v) => queue.push(v)),
      () => undefined,
    );
  };
}
