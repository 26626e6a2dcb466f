/**
 * A delivery thread's side of delivery-thread.ts: the side thread's port
 * (src/side-threads/side-thread-port.ts), below the order path's priority,
 * with the recorder that tells the main thread of each attempt.
 */
import { sideThreadPort, type ThreadPort } from '../side-threads/side-thread-port.js';
import type { AttemptPosted, DeliveryThreadData } from './delivery-thread.js';
import type { DeliveryRecorder } from './delivery-traces.js';

export interface DeliveryThreadPort<Data> extends ThreadPort<Data> {
  /** Undefined with tracing off. */
  readonly recorder: DeliveryRecorder | undefined;
}

/**
 * The thread's niceness: below the order path's. On a machine whose cores are busy, a backlog of deliveries must not
 * take CPU from the orders (they wait in the outbox, and are sent when there is time); on an idle one it changes
 * nothing.
 */
const DELIVERY_NICENESS = 10;

export function deliveryThreadPort<Data>(): DeliveryThreadPort<Data> {
  const port = sideThreadPort<DeliveryThreadData<Data>>({ niceness: DELIVERY_NICENESS });
  const { recordAttempts, data } = port.data;
  return {
    ...port,
    data,
    recorder: recordAttempts
      ? {
          attempted: (attempt) => port.post({ attempt, timeOrigin: performance.timeOrigin } satisfies AttemptPosted),
        }
      : undefined,
  };
}
