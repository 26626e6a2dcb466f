/**
 * The service's log lines, in one place: what a thread's death, a step's
 * crash or a lost client looks like to an operator. Structured JSON (pino);
 * stack traces and internal messages go here and never into a response.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config.js';
import type { PipelineEvents } from '../pipeline/order-pipeline.js';
import type { Reclaimed, StepLog } from '../threads/pooled-step-runner.js';
import type { ThreadExit } from '../threads/thread-registry.js';

export function createLogger(level: LogLevel): Logger {
  // Buffered, written in the background: a line per request and per order
  // must not cost the event loop a write() each. Flushed on exit.
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 1, sync: false, minLength: 4096 }));
}

/**
 * A line printed whatever LOG_LEVEL says, in the same JSON form as the log:
 * scripts and people wait for "listening on …".
 */
export function announce(fields: Record<string, unknown>, message: string): void {
  pino({ base: { pid: process.pid } }, pino.destination({ dest: 1, sync: true })).info(fields, message);
}

export function stepLog(log: Logger): StepLog {
  return {
    stepCrashed: ({ requestId, orderId, step, threadId, detail }) =>
      log.error({ request_id: requestId, order_id: orderId, step, thread_id: threadId, detail }, 'step failed with an internal error'),
    threadLost: ({ requestId, orderId, step, threadId, blamed, retry, fate }) =>
      log.warn(
        { request_id: requestId, order_id: orderId, step, thread_id: threadId, thread_fate: fate, blamed, retry },
        blamed ? 'step brought its thread down' : retry ? 'step lost its thread; running it again on another' : 'step lost its thread',
      ),
    refused: ({ requestId, orderId, step, saturated, error }) =>
      saturated
        ? log.warn({ request_id: requestId, order_id: orderId, step, reason: (error as Error).message }, 'no room for a step; its order is answered 503 overloaded')
        : log.error({ request_id: requestId, order_id: orderId, step, err: error }, 'worker pool refused a step'),
  };
}

export function pipelineEvents(log: Logger): PipelineEvents {
  return {
    // Written whatever became of the client: the money is what matters.
    compensationFailed: ({ order, run }, compensations, { requestId }) =>
      log.error(
        { request_id: requestId, order_id: order.orderId, run, amount: order.amount, compensations: compensations.map((step) => `${step.name}:${step.status}${step.effect ? `:${step.effect}` : ''}`) },
        'order failed and its payment could not be voided: a person must look',
      ),
  };
}

export function logThreadExit(log: Logger, exit: ThreadExit<Reclaimed>): void {
  if (exit.cause === 'closed') return;
  log.warn(
    {
      thread_id: exit.threadId,
      cause: exit.cause,
      exit_code: exit.exitCode,
      reason: exit.reason,
      err: exit.error,
      reclaimed_running_steps: exit.reclaimed.tracker?.running ?? 0,
      reclaimed_courier_slots: exit.reclaimed.courierSlots,
    },
    exit.cause === 'terminated' ? 'worker thread terminated; a new one takes its place' : 'worker thread died; a new one takes its place',
  );
}
