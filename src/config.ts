/**
 * Configuration from environment variables. Every variable is checked at
 * start-up; a bad one stops the process with one line naming it and what it
 * allows. An empty value counts as unset.
 */
import { availableParallelism } from 'node:os';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  readonly host: string;
  readonly port: number;
  /** Worker threads in the step pool. */
  readonly threads: number;
  /** Courier slots shared by every thread. */
  readonly couriers: number;
  readonly orderTimeoutMs: number;
  /** From SIGTERM to exit, at most. */
  readonly shutdownTimeoutMs: number;
  /**
   * How long a canceled step may keep running before its thread is judged
   * (and terminated if it ignores cancellation or is stuck). At least twice
   * the threads' 25 ms cancellation watch.
   */
  readonly cancelGraceMs: number;
  /** Deadline of a compensation (a refund), which runs after its order has already been canceled. */
  readonly refundTimeoutMs: number;
  /** How long a final order outcome is replayed to a retry with the same order_id and body. */
  readonly idempotencyTtlMs: number;
  /** Order outcomes remembered for replay, at most; the oldest go first. */
  readonly idempotencyMaxEntries: number;
  /** Heap limit of each worker thread; a thread over it dies alone and is replaced. */
  readonly threadMaxHeapMb: number;
  /** Orders running at once; beyond that an order is answered 503 overloaded at once. */
  readonly maxInflight: number;
  /** Step tasks one worker thread runs at once (waiting ones included). */
  readonly threadMaxTasks: number;
  /** Step tasks that may wait for a thread; beyond that their orders are answered 503 overloaded. */
  readonly poolQueueLimit: number;
  readonly logLevel: LogLevel;
  /** Whether /metrics is served and measurements are kept. */
  readonly metrics: boolean;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

function integer(env: Env, name: string, min: number, max: number, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}

function host(env: Env): string {
  const raw = env['HOST'];
  if (raw === undefined || raw === '') return '127.0.0.1';
  if (/\s/.test(raw)) throw new ConfigError(`HOST must be a host name or IP address, got ${JSON.stringify(raw)}`);
  return raw;
}

/** Steps per order: the pool must hold every step of every order in flight. */
const STEPS_PER_ORDER = 3;

export function loadConfig(env: Env = process.env): Config {
  const maxInflight = integer(env, 'MAX_INFLIGHT', 1, 100_000, 10_000);
  return {
    host: host(env),
    port: integer(env, 'PORT', 0, 65535, 8080),
    threads: integer(env, 'THREADS', 1, 256, availableParallelism()),
    couriers: integer(env, 'COURIERS', 1, 1024, 5),
    orderTimeoutMs: integer(env, 'ORDER_TIMEOUT_MS', 1, 600_000, 2000),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 0, 600_000, 10_000),
    cancelGraceMs: integer(env, 'CANCEL_GRACE_MS', 50, 60_000, 250),
    refundTimeoutMs: integer(env, 'REFUND_TIMEOUT_MS', 1, 600_000, 1000),
    idempotencyTtlMs: integer(env, 'IDEMPOTENCY_TTL_MS', 0, 7 * 24 * 3_600_000, 600_000),
    idempotencyMaxEntries: integer(env, 'IDEMPOTENCY_MAX_ENTRIES', 0, 10_000_000, 100_000),
    threadMaxHeapMb: integer(env, 'THREAD_MAX_HEAP_MB', 16, 65_536, 512),
    maxInflight,
    threadMaxTasks: integer(env, 'THREAD_MAX_TASKS', 1, 1_000_000, maxInflight * STEPS_PER_ORDER),
    poolQueueLimit: integer(env, 'POOL_QUEUE_LIMIT', 0, 1_000_000, maxInflight * STEPS_PER_ORDER),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    metrics: oneOf(env, 'METRICS', ['on', 'off'], 'on') === 'on',
  };
}
