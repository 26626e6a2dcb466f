/**
 * A delivery thread's side of delivery-thread.ts: its logger (lines go to
 * the main thread's, filtered here by its level), the recorder that tells
 * the main thread of each attempt, and the messages — posts and requests
 * from the main thread, `close` — handed to the thread's code.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import pino, { type Logger } from 'pino';
import type { DeliveryRecorder } from './delivery-traces.js';
import type { FromDeliveryThread, ThreadBasics, ThreadFailure, ToDeliveryThread } from './delivery-thread.js';

export interface ThreadHandlers {
  /** A message the main thread posted. */
  readonly onPost?: (message: unknown) => void;
  /** A request; its answer, or its rejection, is sent back. */
  readonly onRequest?: (body: unknown) => Promise<unknown>;
  /** Stop delivering; `closed` is sent once this resolves. */
  readonly onClose: () => Promise<void>;
}

export interface ThreadPort<Data> {
  readonly data: Data;
  readonly log: Logger;
  /** Undefined with tracing off. */
  readonly recorder: DeliveryRecorder | undefined;
  /** Post to the main thread (its `onPost`). */
  post(message: unknown): void;
  /** Begin taking messages; `start` runs the thread's deliveries, `started` (or `failed`) is said when it is done. */
  serve(handlers: ThreadHandlers, start: () => Promise<void>): void;
}

/**
 * The thread's niceness: below the order path's. On a machine whose cores are busy, a backlog of deliveries must not
 * take CPU from the orders (they wait in the outbox, and are sent when there is time); on an idle one it changes
 * nothing. On Linux, a thread's own (setpriority of the calling task); elsewhere it may apply to the process or
 * fail, and is left alone.
 */
const DELIVERY_NICENESS = 10;

export function threadPort<Data>(): ThreadPort<Data> {
  if (process.platform === 'linux') {
    try {
      setPriority(0, DELIVERY_NICENESS);
    } catch {
      // Not allowed here: delivery runs at the process's priority.
    }
  }
  const port = parentPort!;
  const basics = workerData as ThreadBasics & { readonly data: Data };
  const send = (message: FromDeliveryThread): void => port.postMessage(message);
  const log = pino(
    { level: basics.logLevel, base: undefined, timestamp: false },
    { write: (line: string) => send({ log: line }) },
  );
  return {
    data: basics.data,
    log,
    recorder: basics.recordAttempts
      ? { attempted: (attempt) => send({ attempt, timeOrigin: performance.timeOrigin }) }
      : undefined,
    post: (message) => send({ post: message }),
    serve(handlers, start) {
      port.on('message', (message: ToDeliveryThread) => {
        if ('post' in message) handlers.onPost?.(message.post);
        else if ('request' in message) {
          const id = message.request;
          (handlers.onRequest?.(message.body) ?? Promise.reject(new Error('no requests here'))).then(
            (value) => send({ reply: id, value }),
            (error: unknown) => send({ reply: id, error: (error as Error).message }),
          );
        } else void handlers.onClose().finally(() => send({ closed: true }));
      });
      start().then(
        () => send({ started: true }),
        (error: unknown) => send({ failed: crossing(error) }),
      );
    },
  };
}

/** What of a failure crosses to the main thread: its text, and its code if it has one (an SQLSTATE says the most). */
function crossing(error: unknown): ThreadFailure {
  const code = (error as { code?: unknown } | null)?.code;
  return {
    message: error instanceof Error ? error.message : String(error),
    ...(typeof code === 'string' ? { code } : {}),
  };
}
