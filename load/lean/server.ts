/**
 * The lean build: the card's stack — Express 5 and Piscina 5 — doing the seed contract and nothing else, so that the
 * comparison can set the service beside the floor its own stack allows (load/README.md). `POST /order` with a JSON
 * body; its three steps at once, one Piscina task each; five couriers in shared memory; the first failure cancels the
 * rest; a 10 s deadline; the Go service's answer and statuses. It imports nothing of the project, and the load suite
 * starts it with the service's own V8 flags.
 *
 *   node dist/load/lean/server.js        # HOST (127.0.0.1) and PORT (8080; 0 for any free one)
 *
 * Cancellation is twofold, as an errgroup's context is to a goroutine: a step on a thread sleeps on its order's
 * cancel word, which the first failure sets and notifies; a step still in Piscina's queue is taken out of it by its
 * task's AbortSignal. A signal is never aborted once its task is on a thread: Piscina would terminate the thread, and
 * every other order's steps on it with it.
 */
import { availableParallelism } from 'node:os';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Piscina, type PiscinaTask } from 'piscina';
import {
  CANCELED,
  COURIERS,
  FIRST_CANCEL_WORD,
  FREE_COURIERS,
  LIVE,
  MAX_IN_FLIGHT,
  WORDS,
  type StepEnd,
  type StepTask,
} from './shared-words.js';

/** The Go service's steps, in the order of every answer, with their default delays and how each fails. */
const STEPS = [
  { name: 'payment', defaultDelayMs: 150, failsWith: 'payment_declined', holdsCourier: false },
  { name: 'vendor', defaultDelayMs: 200, failsWith: 'vendor_unavailable', holdsCourier: false },
  { name: 'courier', defaultDelayMs: 100, failsWith: 'no_courier', holdsCourier: true },
] as const;

type ErrorKind = (typeof STEPS)[number]['failsWith'] | 'timeout' | 'internal' | 'overloaded';

/** The Go service's kind → status table (its errors.go), and the lean build's own refusal when it is full. */
const STATUS_OF: Readonly<Record<ErrorKind, number>> = {
  payment_declined: 400,
  vendor_unavailable: 503,
  no_courier: 503,
  timeout: 504,
  internal: 500,
  overloaded: 503,
};

/** The Go service's request deadline. */
const ORDER_TIMEOUT_MS = 10_000;

interface Order {
  readonly order_id: string;
  readonly amount: number;
  readonly fail_step?: string;
  readonly delay_ms?: Readonly<Record<string, number>>;
}

const FIELDS = new Set(['order_id', 'amount', 'fail_step', 'delay_ms']);
const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The order, or the Go service's words for why not: unknown fields and wrong types are "invalid JSON" there. */
function decode(body: unknown): Order | string {
  if (!isRecord(body)) return 'invalid JSON';
  for (const key in body) if (!FIELDS.has(key)) return 'invalid JSON';
  const { order_id, amount, fail_step, delay_ms } = body;
  if (order_id !== undefined && typeof order_id !== 'string') return 'invalid JSON';
  if (!Number.isSafeInteger(amount ?? 0) || (amount as number) < 0) return 'invalid JSON';
  if (fail_step !== undefined && typeof fail_step !== 'string') return 'invalid JSON';
  if (delay_ms !== undefined && (!isRecord(delay_ms) || !Object.values(delay_ms).every(Number.isSafeInteger)))
    return 'invalid JSON';
  if (!amount) return 'order_amount should be > 0';
  if (!order_id) return 'order_id is required';
  return body as unknown as Order;
}

const words = new Int32Array(new SharedArrayBuffer(WORDS * Int32Array.BYTES_PER_ELEMENT));
Atomics.store(words, FREE_COURIERS, COURIERS);
/** Cancel words not held by an order in flight. */
const freeCancelWords = Array.from({ length: MAX_IN_FLIGHT }, (_, i) => FIRST_CANCEL_WORD + i);

/** A step's task as the balancer sees it: whether it has been handed to a thread (its signal may no longer abort). */
interface QueuedStep {
  onThread: boolean;
  readonly controller: AbortController;
}

/**
 * Piscina's own balancer gives a task with a signal a thread of its own; this one lets every thread hold many sleeping
 * steps, the least busy first, and notes which steps have left the queue.
 */
function leastBusy(
  task: PiscinaTask,
  workers: Parameters<NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer'] & {}>[1],
) {
  let best: (typeof workers)[number] | null = null;
  let fewest = Infinity;
  for (const worker of workers) {
    // Piscina counts a thread running one task with a signal as full (Infinity): it runs one.
    const usage = worker.currentUsage === Infinity ? 1 : worker.currentUsage;
    if (!worker.terminating && !worker.destroyed && usage < fewest) [best, fewest] = [worker, usage];
  }
  if (best) (task as unknown as Record<symbol, QueuedStep>)[Piscina.queueOptionsSymbol]!.onThread = true;
  return best;
}

const pool = new Piscina<StepTask, StepEnd>({
  filename: new URL('./step-thread.js', import.meta.url).href,
  name: 'runStep',
  minThreads: availableParallelism(),
  maxThreads: availableParallelism(),
  idleTimeout: Infinity,
  concurrentTasksPerWorker: MAX_IN_FLIGHT * STEPS.length,
  // Between tasks a thread waits in its event loop, where its sleeping steps are, never blocked on a word.
  atomics: 'disabled',
  workerData: words.buffer,
  loadBalancer: leastBusy,
});

interface StepResult {
  readonly name: string;
  readonly status: 'ok' | 'error' | 'canceled';
  readonly duration_ms: number;
  readonly detail?: string;
}

/** Runs the order's steps at once; the first failure (or the deadline) cancels the rest; resolves once all ended. */
async function processOrder(order: Order, cancelWord: number): Promise<{ steps: StepResult[]; error?: ErrorKind }> {
  let error: ErrorKind | undefined;
  const queued: QueuedStep[] = [];
  const cancel = (kind: ErrorKind): void => {
    if (error !== undefined) return;
    error = kind;
    Atomics.store(words, cancelWord, CANCELED);
    Atomics.notify(words, cancelWord);
    // The steps waiting for a courier sleep on the couriers' word: each looks at its own cancel word again.
    Atomics.notify(words, FREE_COURIERS);
    for (const step of queued) if (!step.onThread) step.controller.abort();
  };
  const deadline = setTimeout(cancel, ORDER_TIMEOUT_MS, 'timeout');
  const steps = await Promise.all(
    STEPS.map(async (step): Promise<StepResult> => {
      const started = performance.now();
      const delay = order.delay_ms?.[step.name];
      const task: StepTask = {
        delayMs: delay !== undefined && delay > 0 ? delay : step.defaultDelayMs,
        fails: order.fail_step === step.name,
        holdsCourier: step.holdsCourier,
        cancelWord,
      };
      const queuedStep: QueuedStep = { onThread: false, controller: new AbortController() };
      queued.push(queuedStep);
      let end: StepEnd | 'lost';
      try {
        end = await pool.run(
          { ...task, [Piscina.queueOptionsSymbol]: queuedStep },
          {
            signal: queuedStep.controller.signal,
          },
        );
      } catch {
        end = queuedStep.controller.signal.aborted ? 'canceled' : 'lost';
      }
      if (end === 'failed') cancel(step.failsWith);
      if (end === 'lost') cancel('internal');
      const duration_ms = Math.round(performance.now() - started);
      if (end === 'ok') return { name: step.name, status: 'ok', duration_ms };
      if (end === 'canceled') return { name: step.name, status: 'canceled', duration_ms };
      return { name: step.name, status: 'error', duration_ms, detail: end === 'failed' ? step.failsWith : 'internal' };
    }),
  );
  clearTimeout(deadline);
  return error === undefined ? { steps } : { steps, error };
}

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.use(express.json());

app.post('/order', async (req: Request, res: Response) => {
  const order = decode(req.body);
  if (typeof order === 'string') {
    res.status(400).json({ status: 'error', error: { kind: 'bad_request', message: order } });
    return;
  }
  const cancelWord = freeCancelWords.pop();
  if (cancelWord === undefined) {
    res.status(STATUS_OF.overloaded).json({ status: 'error', order_id: order.order_id, error: { kind: 'overloaded' } });
    return;
  }
  Atomics.store(words, cancelWord, LIVE);
  const { steps, error } = await processOrder(order, cancelWord).finally(() => freeCancelWords.push(cancelWord));
  res
    .status(error === undefined ? 200 : STATUS_OF[error])
    .json(
      error === undefined
        ? { status: 'ok', order_id: order.order_id, steps }
        : { status: 'error', order_id: order.order_id, steps, error: { kind: error, message: 'order failed' } },
    );
});

// A body that is not JSON: express.json()'s error, answered as the Go service answers it.
app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
  if (res.headersSent) return next(err);
  const status = (err as { status?: unknown }).status;
  res
    .status(typeof status === 'number' && status >= 400 && status < 500 ? status : 500)
    .json({ status: 'error', error: { kind: 'bad_request', message: 'invalid JSON' } });
});

const host = process.env['HOST'] ?? '127.0.0.1';
const server = app.listen(Number(process.env['PORT'] ?? 8080), host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : '?';
  console.log(`listening on http://${host}:${port}`);
});
