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
  /** When it was called (performance.now()), if calls are observed. */
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
}

export class Batcher<In, Out> {
  private queue: Array<Pending<In, Out>> = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    /** Sends a batch; resolves with one output per input, in the same order. */
    private readonly send: (inputs: readonly In[]) => Promise<readonly Out[]>,
    private readonly options: BatcherOptions<In>,
  ) {}

  call(input: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      this.queue.push(
        this.options.observe ? { input, resolve, reject, calledAt: performance.now() } : { input, resolve, reject },
      );
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || this.inFlight >= this.options.maxInFlight) return;
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

  private observed(batch: ReadonlyArray<Pending<In, Out>>, failed: boolean): void {
    const { observe } = this.options;
    if (!observe) return;
    const endedAt = performance.now();
    for (const { input, calledAt } of batch)
      observe(input, { startedAt: calledAt ?? endedAt, endedAt, batched: batch.length, failed });
  }
}
