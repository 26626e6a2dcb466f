/**
 * The clients: each sends its plans (order-plans.ts) one after another until
 * told to stop — the copies of an order to their instances at once, then
 * retries to the next instance while the answer is not final (a hang-up, a
 * timeout, a connection refused or reset, a 503 interrupted…), as a client
 * that wants its order through would. Every request and how it ended goes
 * into the history, and so does each cancel a plan sends. Orders sent from
 * outside the clients' loops (the
 * nemesis's thread faults, the final probe) go through here too.
 */
import { readAnswer } from './answers.js';
import type { AttemptEnd, OrderBody, Recorder, Why } from './history.js';
import { call } from './http.js';
import type { Supervisor } from './instances.js';
import { drawPlan, type OrderPlan, type Timing } from './order-plans.js';
import type { Seeded } from './seeded.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const PREFER_ASYNC = { prefer: 'respond-async' } as const;
/** A cancel waits up to 5 s for its order's end, then answers 202: more than that is an instance that cannot answer. */
const CANCEL_TIMEOUT_MS = 8000;

/** Why to send an order again after `end`, or undefined if its answer is final (or not an order's answer at all). */
function retryReason(end: AttemptEnd): Why | undefined {
  switch (end.kind) {
    case 'hung_up':
      return 'retry_after_hang_up';
    case 'timed_out':
      return 'retry_after_timeout';
    case 'failed':
      return 'retry_after_error';
    case 'answered': {
      const reading = readAnswer(end)!;
      return reading.final || reading.status < 500 ? undefined : 'retry_after_not_final';
    }
  }
}

export class Workload {
  private stopped = false;
  private readonly running = new Set<Promise<unknown>>();
  /** Orders planned by the clients so far. */
  planned = 0;

  constructor(
    private readonly supervisor: Supervisor,
    private readonly recorder: Recorder,
    private readonly timing: Timing,
    private readonly idPrefix: string,
  ) {}

  /** `clients` clients, the i-th drawing its plans from `rand.fork('client i')`. */
  start(clients: number, rand: Seeded): void {
    for (let c = 1; c <= clients; c++) void this.track(this.client(c, rand.fork(`client ${c}`)));
  }

  /** No new order, no new retry; resolves once every request under way has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    while (this.running.size > 0) await Promise.all(this.running);
  }

  /** `bodies` sent at once to instance `target`, once each (no retry), for the history like any other order. */
  sendOnce(bodies: readonly OrderBody[], target: number, why: Why, timeoutMs: number): Promise<AttemptEnd[]> {
    return this.track(
      Promise.all(
        bodies.map((body) => {
          this.recorder.order(body);
          return this.send(body, target, why, timeoutMs);
        }),
      ),
    );
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
    return work;
  }

  private async client(c: number, rand: Seeded): Promise<void> {
    for (let n = 1; !this.stopped; n++) {
      const plan = drawPlan(rand, `${this.idPrefix}-${c}-${n}`, this.supervisor.size, this.timing);
      this.planned++;
      await this.execute(plan);
      await sleep(plan.thinkMs);
    }
  }

  private async execute(plan: OrderPlan): Promise<void> {
    this.recorder.order(plan.body);
    if (plan.cancel) void this.track(this.cancelLater(plan.body.order_id, plan.cancel.afterMs, plan.cancel.target));
    const prefer = plan.respondAsync ? PREFER_ASYNC : undefined;
    const copies = plan.targets.map((target, copy) =>
      this.send(
        plan.body,
        target,
        copy === 0 ? 'first' : 'duplicate',
        plan.timeoutMs,
        copy === 0 ? plan.hangUpAfterMs : undefined,
        prefer,
      ),
    );
    let last = (await Promise.all(copies))[0]!;
    for (let attempt = 2; attempt <= plan.maxAttempts; attempt++) {
      const why = retryReason(last);
      if (why === undefined || this.stopped) return;
      await sleep(plan.retryPauseMs);
      if (this.stopped) return;
      last = await this.send(
        plan.body,
        (plan.targets[0]! + attempt - 1) % this.supervisor.size,
        why,
        plan.timeoutMs,
        undefined,
        prefer,
      );
    }
  }

  /** POST /orders/{id}/cancel to `target`, `afterMs` after the order was first sent; into the history. */
  private async cancelLater(orderId: string, afterMs: number, target: number): Promise<void> {
    await sleep(afterMs);
    if (this.stopped) return;
    const sentMs = this.recorder.now();
    const end = await call({
      port: this.supervisor.portOf(target),
      method: 'POST',
      path: `/orders/${encodeURIComponent(orderId)}/cancel`,
      timeoutMs: CANCEL_TIMEOUT_MS,
    });
    this.recorder.cancel({
      orderId,
      instance: this.supervisor.nameOf(target),
      sentMs,
      endedMs: this.recorder.now(),
      end,
    });
  }

  private async send(
    body: OrderBody,
    target: number,
    why: Why,
    timeoutMs: number,
    hangUpAfterMs?: number,
    headers?: Readonly<Record<string, string>>,
  ): Promise<AttemptEnd> {
    const sentMs = this.recorder.now();
    const { pid, state } = this.supervisor.processOf(target);
    const end = await call({
      port: this.supervisor.portOf(target),
      method: 'POST',
      path: '/order',
      body: JSON.stringify(body),
      timeoutMs,
      ...(hangUpAfterMs === undefined ? {} : { hangUpAfterMs }),
      ...(headers ? { headers } : {}),
    });
    this.recorder.attempt({
      orderId: body.order_id,
      why,
      instance: this.supervisor.nameOf(target),
      pid,
      state,
      sentMs,
      endedMs: this.recorder.now(),
      end,
    });
    return end;
  }
}
