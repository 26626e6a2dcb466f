/**
 * A thread that delivers webhooks, as the main thread holds it: a side
 * thread (src/side-threads/), started again if it dies, that also tells of
 * each attempt, for its span (tracing), on the main thread's clock. Delivery
 * — the sends, their signatures and JSON, and in the durable mode the
 * queue's claims, reads and marks — costs about as much CPU per event as an
 * order's own path; on a thread of its own it never takes the order path's
 * (docs/decisions/side-threads.md).
 *
 * The thread's side is delivery-thread-port.ts.
 */
import type { Logger } from 'pino';
import { SideThread } from '../side-threads/side-thread.js';
import type { DeliveryAttempt, DeliveryRecorder } from './delivery-traces.js';

/** What every delivery thread is given, beside its own data. */
export interface DeliveryThreadData<Data> {
  /** Whether attempts are told to the main thread (tracing on). */
  readonly recordAttempts: boolean;
  readonly data: Data;
}

/** An attempt, as the thread posts it: its times are on the thread's clock. */
export interface AttemptPosted {
  readonly attempt: DeliveryAttempt;
  readonly timeOrigin: number;
}

export interface DeliveryThreadOptions<Data> {
  readonly workerFile: URL;
  readonly name: string;
  readonly data: Data;
  readonly log: Logger;
  readonly recorder: DeliveryRecorder | undefined;
  /** Called with each new thread before it starts: what it must be told first. */
  readonly onSpawn?: (post: (message: unknown) => void) => void;
  /** What the thread posts (`post` on its side), its attempts aside. */
  readonly onPost?: (message: unknown) => void;
}

export type DeliveryThread<Data> = SideThread<DeliveryThreadData<Data>>;

export function deliveryThread<Data>({
  data,
  recorder,
  onPost,
  ...options
}: DeliveryThreadOptions<Data>): DeliveryThread<Data> {
  return new SideThread({
    ...options,
    data: { recordAttempts: recorder !== undefined, data },
    restart: true,
    onPost: (message) => {
      if (!isAttempt(message)) return onPost?.(message);
      const shift = message.timeOrigin - performance.timeOrigin;
      const { attempt } = message;
      recorder?.attempted({ ...attempt, startedAt: attempt.startedAt + shift, endedAt: attempt.endedAt + shift });
    },
  });
}

function isAttempt(message: unknown): message is AttemptPosted {
  return typeof message === 'object' && message !== null && 'attempt' in message && 'timeOrigin' in message;
}
