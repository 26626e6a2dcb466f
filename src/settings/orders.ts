/**
 * The settings of the orders and of the step pool's threads: their
 * deadlines, how many at once, and what a thread may hold.
 * Declared as src/settings/settings.ts says.
 */
import { availableParallelism } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { STEP_NAMES } from '../domain/steps.js';
import { RECORDS_HEAP_SHARE } from './bounds.js';
import { integer, onOff } from './setting.js';

/** Steps per order, from the registry: the pool must hold every step of every order in flight. */
const STEPS_PER_ORDER = STEP_NAMES.length;
const heapMb = (): number => Math.floor(getHeapStatistics().heap_size_limit / 2 ** 20);

export const ORDERS = {
  THREADS: integer({
    field: 'threads',
    min: 1,
    max: 256,
    fallback: () => availableParallelism(),
    default: '`os.availableParallelism()`',
    about: 'worker threads in the step pool',
  }),
  COURIERS: integer({
    field: 'couriers',
    min: 1,
    max: 1024,
    fallback: 5,
    about: 'courier slots, shared by every thread',
  }),
  ORDER_TIMEOUT_MS: integer({
    field: 'orderTimeoutMs',
    min: 1,
    max: 600_000,
    fallback: 2000,
    about: "an order's deadline",
  }),
  ORDER_DEADLINE_MAX_MS: integer({
    field: 'orderDeadlineMaxMs',
    min: 1,
    max: 3_600_000,
    fallback: 300_000,
    about:
      'the longest deadline an order may ask for (`deadline_ms`, in place of `ORDER_TIMEOUT_MS`): minutes, for an order accepted now and answered later (Prefer: respond-async); longer asks are 400',
  }),
  CANCEL_GRACE_MS: integer({
    field: 'cancelGraceMs',
    min: 50,
    max: 60_000,
    fallback: 250,
    about:
      "how long a canceled step may keep running before its thread is judged (terminated if it ignores cancellation); at least twice the threads' 25 ms watch",
  }),
  REFUND_TIMEOUT_MS: integer({
    field: 'refundTimeoutMs',
    min: 1,
    max: 600_000,
    fallback: 1000,
    about:
      "a compensation's (a refund's) own deadline: it runs after its order was canceled, and its deadline counts from when a thread can take it (a thread that replaces a lost one may still be starting; that wait is bounded by `ORDER_TIMEOUT_MS`)",
  }),
  MAX_INFLIGHT: integer({
    field: 'maxInflight',
    min: 1,
    max: 100_000,
    fallback: 10_000,
    about:
      'orders at once; beyond, 503 `overloaded` at once (while tiers are in play, after a wait in the admission line)',
  }),
  THREAD_MAX_TASKS: integer({
    field: 'threadMaxTasks',
    min: 1,
    max: 1_000_000,
    fallback: (read) => read.number('MAX_INFLIGHT') * STEPS_PER_ORDER,
    default: '3 × `MAX_INFLIGHT`',
    about: 'steps one thread runs at once (each step is one task of the worker pool)',
  }),
  POOL_QUEUE_LIMIT: integer({
    field: 'poolQueueLimit',
    min: 0,
    max: 1_000_000,
    fallback: (read) => read.number('MAX_INFLIGHT') * STEPS_PER_ORDER,
    default: '3 × `MAX_INFLIGHT`',
    about:
      "batches of steps (an order's, or a step that computes) waiting in the pool's line for a thread that can take them; beyond, their orders get 503 `overloaded`",
  }),
  THREAD_MAX_HEAP_MB: integer({
    field: 'threadMaxHeapMb',
    min: 16,
    max: 65_536,
    fallback: 512,
    about: 'heap limit of each worker thread: a thread over it dies alone and is replaced',
  }),
  IDEMPOTENCY_TTL_MS: integer({
    field: 'idempotencyTtlMs',
    min: 0,
    max: 7 * 24 * 3_600_000,
    fallback: 600_000,
    about:
      "how long an order's record is kept once it is done: its final outcome replayed to a retry, `GET /orders/…` answered",
  }),
  ORDER_RECORDS_MAX_MB: integer({
    min: 0,
    max: () => Math.floor(heapMb() * RECORDS_HEAP_SHARE),
    fallback: () => Math.min(64, Math.floor(heapMb() * RECORDS_HEAP_SHARE)),
    why: () => `a quarter of the heap (${heapMb()} MB)`,
    default: '64',
    allowed: '0 – a quarter of the heap',
    about:
      'memory of the order records, the in-memory books of their orders included: about 90 bytes a done order (64 MB keep ten minutes of 1,000 orders/s), more while it runs; once full, new orders are shed (503 `overloaded`) until records expire — none is forgotten before `IDEMPOTENCY_TTL_MS`. (`IDEMPOTENCY_MAX_ENTRIES` is gone: set, it stops the process)',
  }),
  FAULT_INJECTION: onOff({
    field: 'faultInjection',
    fallback: false,
    about:
      'whether an order may carry `faults` for its steps to commit (see [design.md](design.md#fault-injection-watch-a-thread-die))',
  }),
};
