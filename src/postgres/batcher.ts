/**
 * Calls of one statement made at about the same time, sent as one: every
 * call made during a turn of the event loop is sent together when the turn
 * ends (setImmediate), and while `maxInFlight` batches are on their way, new
 * calls wait and go together in the next. Alone, a call goes out at the end
 * of the turn it was made in — no timer, no added latency; under load, one
 * round trip, one transaction and one commit serve many orders, which is
 * where the time went (each statement cost the main thread a write, a read
 * and their wake-ups, and Postgres a transaction and a commit).
 *
 * Every call of a batch gets its own answer, in order; a batch that fails
 * fails each of its calls with the same error. `order` sorts a batch before
 * it is sent: batches that lock rows take them in one order, so two batches
 * can never wait for each other (no deadlock).
 */

interface Pending<In, Out> {
  readonly input: In;
  readonly resolve: (output: Out) => void;
  readonly reject: (error: unknown) => void;
  /** When it was called (performance.now()), if calls are observed or bounded in their wait. */
  readonly calledAt?: number;
}

/** One call as its caller saw it: from the call to its answer, and the batch it went in. */
export interface CallDone {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly batched: number;
  readonly failed: boolean;
}

export interface BatcherOptions<In> {
  /** Calls per batch, at most. */
  readonly maxBatch: number;
  /** Batches on their way at once, at most. */
  readonly maxInFlight: number;
  /** The order calls are sent in (rows locked in this order). */
  readonly order?: (a: In, b: In) => number;
  /** Told of every call once answered (its order's trace); without: calls are not timed. */
  readonly observe?: (input: In, done: CallDone) => void;
  /** A call not sent within `ms` fails with `error()`, unsent; without: calls wait for their turn however long. */
  readonly maxWait?: { readonly ms: number; readonly error: () => unknown };
}

export class Batcher<In, Out> {
  private queue: Array<Pending<In, Out>> = [];
  private inFlight = 0;
  private scheduled = false;
  /** Fails the calls that waited past maxWait; armed only while calls wait for a batch in flight to end. */
  private expiry: NodeJS.Timeout | undefined;

  constructor(
    /** Sends a batch; resolves with one output per input, in the same order. */
    private readonly send: (inputs: readonly In[]) => Promise<readonly Out[]>,
    private readonly options: BatcherOptions<In>,
  ) {}

  /** Calls made that the next flush will not send: they wait for a batch on its way to be answered. */
  get backlog(): number {
    const room = (this.options.maxInFlight - this.inFlight) * this.options.maxBatch;
    return Math.max(0, this.queue.length - room);
  }

  call(input: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      const timed = this.options.observe !== undefined || this.options.maxWait !== undefined;
      this.queue.push(timed ? { input, resolve, reject, calledAt: performance.now() } : { input, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    if (this.inFlight >= this.options.maxInFlight) return this.armExpiry();
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queue.length > 0 && this.inFlight < this.options.maxInFlight) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      const { order } = this.options;
      if (order) batch.sort((a, b) => order(a.input, b.input));
      this.inFlight++;
      this.send(batch.map((pending) => pending.input))
        .then(
          (outputs) => {
            this.observed(batch, false);
            batch.forEach((pending, i) => pending.resolve(outputs[i]!));
          },
          (error: unknown) => {
            this.observed(batch, true);
            batch.forEach((pending) => pending.reject(error));
          },
        )
        .finally(() => {
          this.inFlight--;
          this.schedule();
        });
    }
  }

  /** Until the oldest waiting call's wait is up: then fail every call whose wait is up, and arm again for the next. */
  private armExpiry(): void {
    const { maxWait } = this.options;
    const oldest = this.queue[0];
    if (!maxWait || this.expiry || !oldest) return;
    this.expiry = setTimeout(
      () => {
        this.expiry = undefined;
        const now = performance.now();
        let expired = 0;
        while (expired < this.queue.length && this.queue[expired]!.calledAt! + maxWait.ms <= now) expired++;
        for (const pending of this.queue.splice(0, expired)) pending.reject(maxWait.error());
        this.schedule();
      },
      Math.max(0, oldest.calledAt! + maxWait.ms - performance.now()),
    );
  }

  private observed(batch: ReadonlyArray<Pending<In, Out>>, failed: boolean): void {
    const { observe } = this.options;
    if (!observe) return;
    const endedAt = performance.now();
    for (const { input, calledAt } of batch)
      observe(input, { startedAt: calledAt ?? endedAt, endedAt, batched: batch.length, failed });
  }
}
