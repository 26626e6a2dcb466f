/**
 * The service's log lines, in one place: what a thread's death, a step's
 * crash or a lost client looks like to an operator. Structured JSON (pino);
 * stack traces and internal messages go here and never into a response.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config.js';
import { orderLogFields } from '../domain/order.js';
import type { RunEvents } from '../orders/order-desk.js';
import type { UnraisedAlarm } from '../orders/order-records.js';
import type { StepOutcome } from '../pipeline/steps.js';
import type { Reclaimed, StepLog } from '../threads/pooled-step-runner.js';
import type { ThreadExit } from '../threads/thread-registry.js';
import { logSink, type LogSink } from './log-sink.js';

/** At most this long between an info line and its write, when lines are buffered. */
const FLUSH_INTERVAL_MS = 1000;

export interface LogOutput {
  /** Gather lines into larger writes (LOG_BUFFER=on), or write each at once. */
  readonly buffered: boolean;
  /** Where the lines go: stdout unless a test says otherwise. */
  readonly fd?: number;
}

export function createLogger(level: LogLevel, { buffered, fd = 1 }: LogOutput): Logger {
  const sink = logSink(fd, { buffered });
  const logger = pino({ level, base: { pid: process.pid } }, buffered ? bufferedDestination(sink) : sink);
  sinks.set(logger, sink);
  return logger;
}

/** Each logger's sink, for the lines it could not write. */
const sinks = new WeakMap<Logger, LogSink>();

/** Lines `log` could not write (its reader gone, or not reading): log_lines_dropped_total. */
export function droppedLogLines(log: Logger): number {
  return sinks.get(log)?.droppedLines ?? 0;
}

/**
 * Lines are gathered into writes of 4 KiB — a line per request and per order
 * must not cost a write() each — and written within a second (a timer that
 * does not keep the process alive) and on exit. An error or fatal line is
 * written at once, with everything before it: it is the line an operator
 * needs, and the process may be killed right after it. All writes are
 * synchronous, so lines reach stdout in the order they were logged; none
 * waits on the reader (src/observability/log-sink.ts).
 */
function bufferedDestination(sink: LogSink): DestinationStream {
  setInterval(() => sink.flush(), FLUSH_INTERVAL_MS).unref();
  process.once('exit', () => sink.flush());
  const errorLevel = pino.levels.values['error']!;
  return {
    // pino then tells the destination each line's level (lastLevel) before writing it.
    [Symbol.for('pino.metadata')]: true,
    lastLevel: 0,
    write(line: string): void {
      sink.write(line);
      if (this.lastLevel >= errorLevel) sink.flush();
    },
  } as DestinationStream & { lastLevel: number };
}

/** What an audit line says: the event, and who did it — a client's name, the admin and its key's fingerprint, or a file. */
export interface AuditFields {
  readonly audit: string;
  readonly actor: string;
  readonly actor_key?: string;
  readonly [field: string]: unknown;
}

/**
 * An audit line: an admin's action, a change of keys. Written whatever the log
 * level is now (a logger of its own level, on the same destination, so in
 * order with the rest): turning the level down must not hide who did it. It
 * names the actor, never a key.
 */
export function audit(log: Logger, level: 'info' | 'warn' | 'error', fields: AuditFields, message: string): void {
  log.child({}, { level: 'info' })[level](fields, message);
}

/**
 * A line printed whatever LOG_LEVEL says, in the same JSON form as the log:
 * scripts and people wait for "listening on …".
 */
export function announce(fields: Record<string, unknown>, message: string): void {
  pino({ base: { pid: process.pid } }, logSink(1, { buffered: false })).info(fields, message);
}

export function stepLog(log: Logger): StepLog {
  return {
    stepCrashed: ({ requestId, traceId, orderId, step, threadId, detail }) =>
      log.error(
        { request_id: requestId, trace_id: traceId, order_id: orderId, step, thread_id: threadId, detail },
        'step failed with an internal error',
      ),
    threadLost: ({ requestId, traceId, orderId, step, threadId, blamed, retry, fate }) =>
      log.warn(
        {
          request_id: requestId,
          trace_id: traceId,
          order_id: orderId,
          step,
          thread_id: threadId,
          thread_fate: fate,
          blamed,
          retry,
        },
        blamed
          ? 'step brought its thread down'
          : retry
            ? 'step lost its thread; running it again on another'
            : 'step lost its thread',
      ),
    refused: ({ requestId, traceId, orderId, step, saturated, error }) =>
      saturated
        ? log.warn(
            { request_id: requestId, trace_id: traceId, order_id: orderId, step, reason: (error as Error).message },
            'no room for a step; its order is answered 503 overloaded',
          )
        : log.error(
            { request_id: requestId, trace_id: traceId, order_id: orderId, step, err: error },
            'worker pool refused a step',
          ),
  };
}

/** The alarm's words: what people and scripts (the chaos checker) look for. */
const ALARM = 'order failed and its payment could not be voided: a person must look';

const listed = (compensations: readonly StepOutcome[]): string[] =>
  compensations.map((step) => `${step.name}:${step.status}${step.effect ? `:${step.effect}` : ''}`);

/** The desk's alarm: an order on record as compensation_failed. `runEnded`: told of every run besides. */
export function runEvents(log: Logger, runEnded: RunEvents['runEnded']): RunEvents {
  return {
    runEnded,
    // Written whatever became of the client: the money is what matters.
    compensationFailed: ({ order, runNumber: run }, compensations, { requestId, traceId }) =>
      log.error(
        {
          request_id: requestId,
          trace_id: traceId,
          order_id: order.orderId,
          run,
          amount: order.amount,
          compensations: listed(compensations),
        },
        ALARM,
      ),
  };
}

/**
 * The same alarm, raised by recovery for a run whose instance was lost before it raised it: what the records hold of
 * it.
 */
export function unraisedAlarm(log: Logger): (alarm: UnraisedAlarm) => void {
  return ({ key, run, charged, refunded, compensations }) =>
    log.error(
      {
        ...orderLogFields(key),
        run,
        charged,
        refunded,
        compensations: listed(compensations),
        raised_for: 'a lost instance',
      },
      ALARM,
    );
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
    exit.cause === 'terminated'
      ? 'worker thread terminated; a new one takes its place'
      : 'worker thread died; a new one takes its place',
  );
}

/** A dependency's circuit breaker moved: opening is what an operator must see. */
export function logBreakerTransition(log: Logger, dependency: string, from: string, to: string, openMs: number): void {
  if (to === 'open')
    log.warn(
      { dependency, from, to, open_ms: openMs },
      'circuit breaker opened: new orders are refused until it lets a probe through',
    );
  else
    log.info(
      { dependency, from, to },
      to === 'closed'
        ? 'circuit breaker closed: the dependency answers again'
        : 'circuit breaker half-open: the next order is its probe',
    );
}
