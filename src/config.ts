/**
 * Configuration from environment variables. Every variable is checked at
 * start-up; a bad one stops the process with one line naming it and what it
 * allows. An empty value counts as unset.
 */
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { availableParallelism } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { CLIENT_NAME, RESERVED_CLIENTS } from './auth/caller.js';
import { API_KEY } from './auth/key-ring.js';
import { everyStep, STEP_NAMES, type PerStep, type StepName } from './domain/steps.js';
import { LOG_LEVELS, type LogLevel } from './shared-memory/log-level.js';

export { LOG_LEVELS, type LogLevel };

export interface Config {
  readonly host: string;
  readonly port: number;
  /** Worker threads in the step pool. */
  readonly threads: number;
  /** Courier slots shared by every thread. */
  readonly couriers: number;
  readonly orderTimeoutMs: number;
  /** From the start of the drain to exit, at most (the drain starts DRAIN_DELAY_MS after SIGTERM). */
  readonly shutdownTimeoutMs: number;
  /**
   * From SIGTERM to the start of the drain: /readyz answers 503 at once, but
   * orders are still served, while the load balancer stops routing here.
   */
  readonly drainDelayMs: number;
  /**
   * How long a canceled step may keep running before its thread is judged
   * (and terminated if it ignores cancellation or is stuck). At least twice
   * the threads' 25 ms cancellation watch.
   */
  readonly cancelGraceMs: number;
  /** Deadline of a compensation (a refund), which runs after its order has already been canceled. */
  readonly refundTimeoutMs: number;
  /**
   * How long an order's record is kept once it is done: its final outcome is replayed to a retry with the same order_id
   * and body.
   */
  readonly idempotencyTtlMs: number;
  /**
   * Memory the order records (and what is kept with them) may take, estimated, in bytes; once taken, new orders are
   * shed until records expire.
   */
  readonly orderRecordsMaxBytes: number;
  /** Heap limit of each worker thread; a thread over it dies alone and is replaced. */
  readonly threadMaxHeapMb: number;
  /** Orders running at once; beyond that an order is answered 503 overloaded at once. */
  readonly maxInflight: number;
  /** Pool tasks one worker thread runs at once (waiting ones included): a computing step, or the batches of the orders posted in one turn. */
  readonly threadMaxTasks: number;
  /** Pool tasks that may wait for a thread; beyond that their orders are answered 503 overloaded. */
  readonly poolQueueLimit: number;
  readonly logLevel: LogLevel;
  /**
   * Whether log lines are gathered into larger writes (at most a second
   * late) or each written at once: for a person watching, a line must
   * appear as it happens; for a log collector, a write per line costs.
   */
  readonly logBuffer: boolean;
  /** Whether /metrics is served and measurements are kept. */
  readonly metrics: boolean;
  /** Whether an order may carry `faults` for its steps to commit. */
  readonly faultInjection: boolean;
  /** Steps reach their threads, and their reports come back, through shared-memory rings (STEP_RING); off: by message. */
  readonly stepRing: boolean;
  /** From a request's first byte (or the connection's) to the end of its headers, at most. */
  readonly headersTimeoutMs: number;
  /** From a request's first byte to its last, body included; not the time spent answering it. */
  readonly requestTimeoutMs: number;
  /** How long an idle keep-alive connection is kept. */
  readonly keepAliveTimeoutMs: number;
  /** Connections served at once; a request on one beyond them is answered 503 overloaded and its connection closed. */
  readonly maxConnections: number;
  /**
   * Connections open at once, at most, refused ones included: beyond it a
   * new connection is closed as soon as it is accepted, so the process never
   * runs out of file descriptors. Undefined when the open-file limit is unknown.
   */
  readonly connectionHardLimit: number | undefined;
  /**
   * The durable mode (DATABASE_URL set): Postgres behind the order records, the provider's books and the courier pool.
   * Absent: everything in memory.
   */
  readonly durable?: DurableConfig;
  /**
   * Processes sharing the port (node:cluster), each an instance with its own threads; more than 1 needs `durable`.
   * Default 1.
   */
  readonly instances?: number;
  /** Who may call: API keys, or nobody needs one (open mode, loopback only). */
  readonly access: AccessConfig;
  /** Host names a request may be addressed to (the Host header, without its port), lower case; anything else is 421. */
  readonly allowedHosts: readonly string[];
  /**
   * Consecutive failures of a dependency (its outage, not the orders' asking) that open its circuit breaker; 0: no
   * breakers.
   */
  readonly breakerFailures: number;
  /** How long an open breaker turns orders away before it lets one probe order through. */
  readonly breakerOpenMs: number;
  /**
   * Per step, how many times it calls its dependency again after an unavailable answer (with backoff, while the
   * deadline allows).
   */
  readonly stepRetries: PerStep<number>;
  /** Each client's weight in every fair share (CLIENT_WEIGHTS); a client not named weighs 1. */
  readonly clientWeights: ReadonlyMap<string, number>;
  /**
   * The most of each scarce resource — courier slots, orders in flight, the
   * order records' memory — one client may hold while other clients exist
   * (CLIENT_MAX_SHARE, over 0 and at most 1); 1 turns every per-client cap off.
   */
  readonly clientMaxShare: number;
  /**
   * Orders per second each client may send (CLIENT_RATE_LIMIT), a burst of
   * one second's worth; 0: no limit. Absent: the access mode's default —
   * DEFAULT_CLIENT_RATE_LIMIT with keys, none in open mode (clientRateLimitOf).
   */
  readonly clientRateLimit?: number;
  /** Per client, its own rate limit instead (CLIENT_RATE_LIMITS); 0: none for that client. */
  readonly clientRateLimits: ReadonlyMap<string, number>;
  /** Where and how spans are exported (the standard OTEL_* variables); absent: no exporter, no SDK. */
  readonly tracing?: TracingConfig;
  /** The events clients are told of (GET /events) and the webhooks that carry them. */
  readonly events: EventsConfig;
}

/** The event feed and the webhooks (src/events/). */
export interface EventsConfig {
  /** How long one delivery attempt may take before it counts as failed (WEBHOOK_TIMEOUT_MS). */
  readonly webhookTimeoutMs: number;
  /** Endpoints one client may register (WEBHOOKS_PER_CLIENT). */
  readonly webhooksPerClient: number;
  /**
   * Whether an endpoint may be plain http and resolve to a loopback, private, link-local or metadata address
   * (WEBHOOK_ALLOW_PRIVATE_TARGETS=on): for tests and private networks only.
   */
  readonly allowPrivateTargets: boolean;
  /** The first retry's delay, before jitter (WEBHOOK_RETRY_FIRST_MS); each next one is longer. */
  readonly retryFirstMs: number;
  /** How long an event is retried before its endpoint is judged dead and disabled (WEBHOOK_RETRY_WINDOW_MS). */
  readonly retryWindowMs: number;
  /** Events kept in memory at most, the in-memory mode's bound (EVENTS_MAX). */
  readonly eventsMax: number;
  /** How long events are kept, at least, in the durable mode (EVENT_RETENTION_DAYS). */
  readonly retentionDays: number;
}

/**
 * `open`: neither API_KEYS nor ADMIN_KEY — every request is the one anonymous
 * client and the admin, as on a laptop; allowed only on a loopback HOST
 * unless ALLOW_ANONYMOUS=on. `keys`: every request but the public ones
 * carries a key.
 */
export type AccessConfig =
  | { readonly mode: 'open' }
  | {
      readonly mode: 'keys';
      readonly clients: ReadonlyArray<{ readonly client: string; readonly key: string }>;
      /** Each accepted as the admin's (ADMIN_KEY, comma-separated, or ADMIN_KEY_FILE, one a line): rotated with no downtime. */
      readonly adminKeys: readonly string[];
      /** The key files they came from, if any: read again when they change (accessFromFiles). */
      readonly files?: KeyFiles;
    };

export interface DurableConfig {
  readonly databaseUrl: string;
  /** An instance's lease, renewed every third of it: after it, a lost instance's orders are taken over. */
  readonly leaseMs: number;
  /** Connections to Postgres per instance. */
  readonly poolSize: number;
  /** The reads' own share of Postgres (GET /orders/{id}), beside poolSize: never a connection the orders need. */
  readonly reads?: {
    readonly connections: number;
    readonly waitMs: number;
    readonly waitingMax: number;
  };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

/** `why`: said after the range, when a bound is derived from other settings or the machine. */
function integer(env: Env, name: string, min: number, max: number, fallback: number, why?: string): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(
      `${name} must be an integer from ${min} to ${max}${why ? ` (${why})` : ''}, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw))
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}

function host(env: Env): string {
  const raw = env['HOST'];
  if (raw === undefined || raw === '') return '127.0.0.1';
  if (/\s/.test(raw)) throw new ConfigError(`HOST must be a host name or IP address, got ${JSON.stringify(raw)}`);
  return raw;
}

/** Steps per order, from the registry: the pool must hold every step of every order in flight. */
const STEPS_PER_ORDER = STEP_NAMES.length;

/** Kept at shutdown beyond what a canceled order needs, for the answers to be written. */
export const SHUTDOWN_MARGIN_MS = 250;

/**
 * How long a canceled order can take to end: its steps stop, or their thread
 * is killed, within a grace period; then its payment is voided, under the
 * refund's deadline — and a refund that ignores that has a grace period too.
 */
export function windDownMs(config: Pick<Config, 'cancelGraceMs' | 'refundTimeoutMs'>): number {
  return 2 * config.cancelGraceMs + config.refundTimeoutMs;
}

/**
 * What revoking a courier slot takes beyond CANCEL_GRACE_MS: a stuck
 * thread, terminated once its grace has passed, exits (the chaos harness
 * measured revocations of 253–271 ms with CANCEL_GRACE_MS=250).
 */
export const THREAD_EXIT_MS = 50;

/**
 * How long before Postgres would let its lease go an instance gives it up
 * itself (docs/durability.md, 3.7): a fifth of the lease, and never less
 * than a revocation takes — once the lease is given up, every courier slot
 * lent under it must be back before Postgres lets another instance take
 * its row, and a stuck thread lets go only when terminated, CANCEL_GRACE_MS
 * after the cancellation, plus its exit.
 */
export function leaseMarginMs({
  leaseMs,
  cancelGraceMs,
}: {
  readonly leaseMs: number;
  readonly cancelGraceMs: number;
}): number {
  return Math.max(leaseMs / 5, cancelGraceMs + THREAD_EXIT_MS);
}

/**
 * The shortest LEASE_MS: one whose margin is at most half of it. After each
 * renewal leaves, an instance counts on its lease for LEASE_MS less the
 * margin, and renews every third of LEASE_MS: with half left, the next
 * renewal is due a third in and has a sixth of the lease (100 ms at the
 * shortest lease the default CANCEL_GRACE_MS allows) to come back. With
 * less, a round trip slowed by a busy machine gives the lease up with
 * nothing wrong; past two thirds, no renewal can ever come back in time and
 * the instance would give its lease up every period.
 */
export function shortestLeaseMs(cancelGraceMs: number): number {
  return Math.max(500, 2 * (cancelGraceMs + THREAD_EXIT_MS));
}

/** The order records may take at most this share of the main thread's heap. */
const RECORDS_HEAP_SHARE = 0.25;

/**
 * This process's open-file limit (the soft one, which is what accept() runs into), or undefined if unknown or
 * unlimited.
 */
function openFileLimit(): number | undefined {
  try {
    const match = /^Max open files\s+(\d+)\s/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Descriptors kept for everything but client connections: stdio, the event
 * loops of the main and worker threads (about 4 per thread, measured), the
 * listening socket, a replacement thread starting, /proc reads for metrics.
 */
function descriptorReserve(threads: number): number {
  return 128 + 8 * threads;
}

/** Where the open-file limit is unknown, connections served by default. */
const FALLBACK_MAX_CONNECTIONS = 16_384;

/**
 * The connection limits from the open-file limit: every descriptor but the
 * reserve may hold a connection (the hard limit); 90% of them are served, the
 * rest is room to answer 503 to connections beyond MAX_CONNECTIONS instead of
 * closing them unanswered.
 */
function connectionLimits(
  env: Env,
  threads: number,
  fdLimit: number | undefined,
): Pick<Config, 'maxConnections' | 'connectionHardLimit'> {
  if (fdLimit === undefined)
    return {
      maxConnections: integer(env, 'MAX_CONNECTIONS', 1, 10_000_000, FALLBACK_MAX_CONNECTIONS),
      connectionHardLimit: undefined,
    };
  const hardLimit = fdLimit - descriptorReserve(threads);
  if (hardLimit < 1)
    throw new ConfigError(
      `the open-file limit (${fdLimit}) leaves no descriptor for connections with THREADS=${threads}; raise it (ulimit -n)`,
    );
  try {
    return {
      maxConnections: integer(env, 'MAX_CONNECTIONS', 1, hardLimit, Math.max(1, Math.floor(hardLimit * 0.9))),
      connectionHardLimit: hardLimit,
    };
  } catch (error) {
    throw new ConfigError(
      `${(error as Error).message} (the open-file limit ${fdLimit} less ${descriptorReserve(threads)} for the process itself; raise it with ulimit -n)`,
    );
  }
}

/** Whether `host` (HOST) can only be reached from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const KEY_RULE = `at least 32 characters of A-Z a-z 0-9 _ -`;

/**
 * API_KEYS (`client:key,client:key`), ADMIN_KEY and ALLOW_ANONYMOUS. A key is
 * never repeated in an error (the line goes to a log): an entry is named by
 * its position and its client.
 */
function parseAccess(env: Env, host: string): AccessConfig {
  const rawKeys = env['API_KEYS'] ?? '';
  const adminKeys = (env['ADMIN_KEY'] ?? '')
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '');
  const allowAnonymous = oneOf(env, 'ALLOW_ANONYMOUS', ['on', 'off'], 'off') === 'on';
  if (rawKeys === '' && adminKeys.length === 0) {
    if (!isLoopback(host) && !allowAnonymous) {
      throw new ConfigError(
        `HOST=${host} can be reached from other machines, and no API keys are set: set API_KEYS (and ADMIN_KEY), or ALLOW_ANONYMOUS=on to let anyone who can reach it in as the one anonymous client and the admin`,
      );
    }
    return { mode: 'open' };
  }
  if (allowAnonymous)
    throw new ConfigError('ALLOW_ANONYMOUS=on is for running without keys; API_KEYS or ADMIN_KEY is set');
  adminKeys.forEach((key, i) => {
    if (!API_KEY.test(key))
      throw new ConfigError(
        `ADMIN_KEY${adminKeys.length > 1 ? ` entry ${i + 1}` : ''} must be ${KEY_RULE} (its value is not shown)`,
      );
  });
  const clients: Array<{ client: string; key: string }> = [];
  rawKeys
    .split(',')
    .filter((entry) => entry.trim() !== '')
    .forEach((entry, i) => {
      const at = entry.indexOf(':');
      // Without a colon the entry may be a bare key: nothing of it may be named.
      const client = at < 0 ? '' : entry.slice(0, at).trim();
      const key = at < 0 ? '' : entry.slice(at + 1).trim();
      const which = `API_KEYS entry ${i + 1}${CLIENT_NAME.test(client) ? ` (client ${JSON.stringify(client)})` : ''}`;
      if (at < 0 || !CLIENT_NAME.test(client))
        throw new ConfigError(
          `${which} must be client:key, the client 1-64 characters of A-Z a-z 0-9 _ . - (its value is not shown)`,
        );
      if (RESERVED_CLIENTS.includes(client))
        throw new ConfigError(
          `${which}: the client name ${JSON.stringify(client)} is reserved (${RESERVED_CLIENTS.join(', ')})`,
        );
      if (!API_KEY.test(key)) throw new ConfigError(`${which}: the key must be ${KEY_RULE} (its value is not shown)`);
      if (clients.some((other) => other.client === client))
        throw new ConfigError(`${which}: client ${JSON.stringify(client)} is named twice`);
      if (clients.some((other) => other.key === key) || adminKeys.includes(key))
        throw new ConfigError(`${which}: the key is given twice (to another client, or as ADMIN_KEY)`);
      clients.push({ client, key });
    });
  const files: KeyFiles = {
    ...(env['API_KEYS_FILE'] ? { apiKeys: env['API_KEYS_FILE'] } : {}),
    ...(env['ADMIN_KEY_FILE'] ? { adminKeys: env['ADMIN_KEY_FILE'] } : {}),
  };
  return { mode: 'keys', clients, adminKeys, ...(files.apiKeys || files.adminKeys ? { files } : {}) };
}

/**
 * ALLOWED_HOSTS, or by default the loopback names and the address listened on. A bare IPv6 address is taken in
 * brackets, as a Host header names it: a pod's manifest puts its IP in with `$(POD_IP)`, whichever family it is.
 */
function allowedHosts(env: Env, host: string): string[] {
  const raw = env['ALLOWED_HOSTS'];
  if (raw !== undefined && raw !== '') {
    const hosts = raw
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .map((name) => (isIPv6(name) ? `[${name}]` : name));
    for (const name of hosts)
      if (!/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)$/.test(name))
        throw new ConfigError(
          `ALLOWED_HOSTS must be host names or addresses, comma-separated (IPv6 in brackets), got ${JSON.stringify(name)}`,
        );
    return hosts;
  }
  const listened = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const wildcard = host === '0.0.0.0' || host === '::' || host === '[::]';
  return [...new Set(['localhost', '127.0.0.1', '[::1]', ...(wildcard ? [] : [listened.toLowerCase()])])];
}

function databaseUrl(env: Env): string | undefined {
  const raw = env['DATABASE_URL'];
  if (raw === undefined || raw === '') return undefined;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') || url.hostname === '') {
    throw new ConfigError('DATABASE_URL must be a postgres://user:password@host:port/database URL, got something else');
  }
  return raw;
}

/**
 * The durable mode's settings, or undefined without DATABASE_URL (then its other variables are refused, so a typo is
 * not silently ignored).
 */
function durable(env: Env, cancelGraceMs: number): DurableConfig | undefined {
  const url = databaseUrl(env);
  if (url === undefined) {
    for (const name of ['LEASE_MS', 'DB_POOL_SIZE', 'DB_READ_CONNECTIONS', 'DB_READ_WAIT_MS', 'DB_READS_WAITING_MAX'])
      if (env[name]) throw new ConfigError(`${name} needs DATABASE_URL (the durable mode)`);
    return undefined;
  }
  const shortest = shortestLeaseMs(cancelGraceMs);
  const leaseMs = integer(
    env,
    'LEASE_MS',
    shortest,
    600_000,
    Math.max(5000, shortest),
    `at least 2 × (CANCEL_GRACE_MS + ${THREAD_EXIT_MS}): an instance gives its lease up CANCEL_GRACE_MS + ${THREAD_EXIT_MS} ms early, for a stuck thread's couriers to come back first, and renews it in the other half`,
  );
  return {
    databaseUrl: url,
    leaseMs,
    poolSize: integer(env, 'DB_POOL_SIZE', 2, 100, 10),
    reads: {
      connections: integer(env, 'DB_READ_CONNECTIONS', 1, 100, 2),
      waitMs: integer(env, 'DB_READ_WAIT_MS', 1, 10_000, 500),
      waitingMax: integer(env, 'DB_READS_WAITING_MAX', 0, 100_000, 100),
    },
  };
}

/**
 * The secrets a file may hold instead of a variable (X_FILE for X), as an
 * orchestrator mounts them: a variable is seen by anyone who may inspect the
 * process or its pod spec. A key file holds one entry a line (`client:key`
 * for API_KEYS_FILE, a key for ADMIN_KEY_FILE); blank lines and lines
 * starting with # are skipped. Nothing a file holds is ever put in an error.
 */
const SECRET_FILES = { API_KEYS: 'lines', ADMIN_KEY: 'lines', DATABASE_URL: 'whole' } as const;

/** API_KEYS_FILE and ADMIN_KEY_FILE, as given. */
export interface KeyFiles {
  readonly apiKeys?: string;
  readonly adminKeys?: string;
}

/**
 * The keys as the key files hold them now, with the variables the files did
 * not replace as they were at start-up; checked as at start-up (a ConfigError
 * if not fit: the keys in use are then kept).
 */
export function accessFromFiles(
  access: Extract<AccessConfig, { mode: 'keys' }> & { files: KeyFiles },
  host: string,
): Extract<AccessConfig, { mode: 'keys' }> {
  const { files } = access;
  const env: Record<string, string> = {
    ...(files.apiKeys
      ? { API_KEYS_FILE: files.apiKeys }
      : { API_KEYS: access.clients.map(({ client, key }) => `${client}:${key}`).join(',') }),
    ...(files.adminKeys ? { ADMIN_KEY_FILE: files.adminKeys } : { ADMIN_KEY: access.adminKeys.join(',') }),
  };
  const reloaded = parseAccess(withSecretsFromFiles(env), host);
  if (reloaded.mode !== 'keys') throw new ConfigError('the key files hold no key: the keys in use are kept');
  return reloaded;
}

function withSecretsFromFiles(env: Env): Env {
  const resolved: Record<string, string | undefined> = { ...env };
  for (const [name, shape] of Object.entries(SECRET_FILES)) {
    const file = env[`${name}_FILE`];
    if (file === undefined || file === '') continue;
    if (env[name]) throw new ConfigError(`${name} and ${name}_FILE are both set: set one`);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(
        `${name}_FILE cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}), got ${JSON.stringify(file)}`,
      );
    }
    resolved[name] = shape === 'whole' ? text.trim() : entriesOf(text).join(',');
  }
  return resolved;
}

/** A key file's entries: its lines, trimmed, but for blank ones and comments. */
export function entriesOf(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** What loadConfig reads of the machine besides the environment. */
export interface Machine {
  /** RLIMIT_NOFILE, read from /proc by default; undefined if unknown. */
  readonly openFileLimit: number | undefined;
  /** Whether stdout is a terminal (someone is watching the log): LOG_BUFFER's default is then off. */
  readonly stdoutIsTerminal?: boolean;
}

export function loadConfig(
  given: Env = process.env,
  machine: Machine = { openFileLimit: openFileLimit(), stdoutIsTerminal: process.stdout.isTTY === true },
): Config {
  const env = withSecretsFromFiles(given);
  const listenOn = host(env);
  if (env['IDEMPOTENCY_MAX_ENTRIES'])
    throw new ConfigError(
      'IDEMPOTENCY_MAX_ENTRIES is gone: the order records are bounded by memory, ORDER_RECORDS_MAX_MB',
    );
  const maxInflight = integer(env, 'MAX_INFLIGHT', 1, 100_000, 10_000);
  const threads = integer(env, 'THREADS', 1, 256, availableParallelism());
  const headersTimeoutMs = integer(env, 'HEADERS_TIMEOUT_MS', 1, 600_000, 10_000);
  const requestTimeoutMs = integer(env, 'REQUEST_TIMEOUT_MS', 1, 600_000, 30_000);
  // Node refuses to start a server whose headers may take longer than the whole request.
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new ConfigError(
      `HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS (${requestTimeoutMs}), got ${JSON.stringify(String(headersTimeoutMs))}`,
    );
  }
  const cancelGraceMs = integer(env, 'CANCEL_GRACE_MS', 50, 60_000, 250);
  const refundTimeoutMs = integer(env, 'REFUND_TIMEOUT_MS', 1, 600_000, 1000);
  // Shutdown must leave a canceled order time to void its payment: never cut a refund off.
  const shortestShutdown = windDownMs({ cancelGraceMs, refundTimeoutMs }) + SHUTDOWN_MARGIN_MS;
  const heapMb = Math.floor(getHeapStatistics().heap_size_limit / 2 ** 20);
  return {
    host: listenOn,
    port: integer(env, 'PORT', 0, 65535, 8080),
    threads,
    couriers: integer(env, 'COURIERS', 1, 1024, 5),
    orderTimeoutMs: integer(env, 'ORDER_TIMEOUT_MS', 1, 600_000, 2000),
    shutdownTimeoutMs: integer(
      env,
      'SHUTDOWN_TIMEOUT_MS',
      shortestShutdown,
      600_000,
      Math.max(10_000, shortestShutdown),
      'to let a canceled order void its payment: 2 × CANCEL_GRACE_MS + REFUND_TIMEOUT_MS + 250',
    ),
    drainDelayMs: integer(env, 'DRAIN_DELAY_MS', 0, 600_000, inKubernetes(env) ? KUBERNETES_DRAIN_DELAY_MS : 0),
    cancelGraceMs,
    refundTimeoutMs,
    idempotencyTtlMs: integer(env, 'IDEMPOTENCY_TTL_MS', 0, 7 * 24 * 3_600_000, 600_000),
    orderRecordsMaxBytes:
      integer(
        env,
        'ORDER_RECORDS_MAX_MB',
        0,
        Math.floor(heapMb * RECORDS_HEAP_SHARE),
        Math.min(64, Math.floor(heapMb * RECORDS_HEAP_SHARE)),
        `a quarter of the heap (${heapMb} MB)`,
      ) *
      2 ** 20,
    threadMaxHeapMb: integer(env, 'THREAD_MAX_HEAP_MB', 16, 65_536, 512),
    maxInflight,
    threadMaxTasks: integer(env, 'THREAD_MAX_TASKS', 1, 1_000_000, maxInflight * STEPS_PER_ORDER),
    poolQueueLimit: integer(env, 'POOL_QUEUE_LIMIT', 0, 1_000_000, maxInflight * STEPS_PER_ORDER),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    logBuffer: oneOf(env, 'LOG_BUFFER', ['on', 'off'], machine.stdoutIsTerminal === true ? 'off' : 'on') === 'on',
    metrics: oneOf(env, 'METRICS', ['on', 'off'], 'on') === 'on',
    faultInjection: oneOf(env, 'FAULT_INJECTION', ['on', 'off'], 'off') === 'on',
    stepRing: oneOf(env, 'STEP_RING', ['on', 'off'], 'on') === 'on',
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: integer(env, 'KEEP_ALIVE_TIMEOUT_MS', 1, 600_000, 5000),
    ...connectionLimits(env, threads, machine.openFileLimit),
    ...durableAndInstances(env, cancelGraceMs),
    access: parseAccess(env, listenOn),
    allowedHosts: allowedHosts(env, listenOn),
    breakerFailures: integer(env, 'BREAKER_FAILURES', 0, 1000, 5),
    breakerOpenMs: integer(env, 'BREAKER_OPEN_MS', 1, 3_600_000, 5000),
    stepRetries: stepRetries(env),
    clientWeights: clientNumbers(env, 'CLIENT_WEIGHTS', 'weight', 1, MAX_CLIENT_WEIGHT),
    clientMaxShare: clientMaxShare(env),
    ...(env['CLIENT_RATE_LIMIT'] ? { clientRateLimit: integer(env, 'CLIENT_RATE_LIMIT', 0, MAX_RATE_LIMIT, 0) } : {}),
    clientRateLimits: clientNumbers(env, 'CLIENT_RATE_LIMITS', 'orders per second', 0, MAX_RATE_LIMIT),
    ...tracingConfig(env),
    events: eventsConfig(env),
  };
}

/** The Standard Webhooks retry window: about three days of retries before an endpoint is given up. */
const THREE_DAYS_MS = 3 * 24 * 3_600_000;

function eventsConfig(env: Env): EventsConfig {
  return {
    webhookTimeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 1, 600_000, 10_000),
    webhooksPerClient: integer(env, 'WEBHOOKS_PER_CLIENT', 0, 1000, 10),
    allowPrivateTargets: oneOf(env, 'WEBHOOK_ALLOW_PRIVATE_TARGETS', ['on', 'off'], 'off') === 'on',
    // At most 10 s before jitter lowers it: the first retry comes within 10 s.
    retryFirstMs: integer(env, 'WEBHOOK_RETRY_FIRST_MS', 1, 10_000, 5000),
    retryWindowMs: integer(env, 'WEBHOOK_RETRY_WINDOW_MS', 1, 30 * 24 * 3_600_000, THREE_DAYS_MS),
    eventsMax: integer(env, 'EVENTS_MAX', 1, 10_000_000, 100_000),
    retentionDays: integer(env, 'EVENT_RETENTION_DAYS', 1, 3650, 30),
  };
}

/**
 * DRAIN_DELAY_MS's default in a pod: endpoints, kube-proxy and ingress
 * controllers hear of a terminating pod a few seconds after it got SIGTERM,
 * and keep routing new connections to it until then.
 */
export const KUBERNETES_DRAIN_DELAY_MS = 5000;

/**
 * Whether this process runs in a Kubernetes pod: the kubelet sets
 * KUBERNETES_SERVICE_HOST in every container. Elsewhere (a laptop, the
 * tests, `npm run dev`) nothing routes by readiness, and a delay would only
 * slow every Ctrl-C down.
 */
function inKubernetes(env: Env): boolean {
  return Boolean(env['KUBERNETES_SERVICE_HOST']);
}

/** Orders per second per client when keys are configured and CLIENT_RATE_LIMIT is not set. */
export const DEFAULT_CLIENT_RATE_LIMIT = 100;
/** CLIENT_MAX_SHARE when not set. */
export const DEFAULT_CLIENT_MAX_SHARE = 0.6;
const MAX_CLIENT_WEIGHT = 1000;
const MAX_RATE_LIMIT = 1_000_000;

/**
 * Orders per second a client may send, 0 for none: its own limit, else CLIENT_RATE_LIMIT, else the access mode's
 * default.
 */
export function clientRateLimitOf(
  config: Pick<Config, 'clientRateLimit' | 'clientRateLimits' | 'access'>,
  client: string,
): number {
  return (
    config.clientRateLimits.get(client) ??
    config.clientRateLimit ??
    (config.access.mode === 'keys' ? DEFAULT_CLIENT_RATE_LIMIT : 0)
  );
}

/** Whether any client has a rate limit: without one, no order is counted at all. */
export function anyClientRateLimit(config: Pick<Config, 'clientRateLimit' | 'clientRateLimits' | 'access'>): boolean {
  return clientRateLimitOf(config, '') > 0 || [...config.clientRateLimits.values()].some((limit) => limit > 0);
}

/**
 * CLIENT_MAX_SHARE: a decimal over 0 and at most 1, to the thousandth (shares are kept in thousandths in shared
 * memory).
 */
function clientMaxShare(env: Env): number {
  const raw = env['CLIENT_MAX_SHARE'];
  if (raw === undefined || raw === '') return DEFAULT_CLIENT_MAX_SHARE;
  const share = /^(0|1)?(\.\d{1,3})?$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(share > 0 && share <= 1))
    throw new ConfigError(
      `CLIENT_MAX_SHARE must be a number over 0 and at most 1, to three decimals (1: no per-client caps), got ${JSON.stringify(raw)}`,
    );
  return share;
}

/** `client:n` pairs, comma-separated (CLIENT_WEIGHTS, CLIENT_RATE_LIMITS): each client a valid name, at most once. */
function clientNumbers(env: Env, name: string, what: string, min: number, max: number): ReadonlyMap<string, number> {
  const numbers = new Map<string, number>();
  const raw = env[name];
  if (raw === undefined || raw === '') return numbers;
  const rule = `${name} must be client:${what.replaceAll(' ', '_')} pairs, comma-separated, each client at most once and each ${what} an integer from ${min} to ${max}`;
  for (const entry of raw.split(',')) {
    const match = /^\s*([^:\s]+)\s*:\s*(\d+)\s*$/.exec(entry);
    const client = match?.[1] ?? '';
    const value = Number(match?.[2]);
    if (!match || !CLIENT_NAME.test(client) || numbers.has(client) || value < min || value > max)
      throw new ConfigError(`${rule}, got ${JSON.stringify(raw)}`);
    numbers.set(client, value);
  }
  return numbers;
}

/** Retries per step by default, and at most. */
const DEFAULT_STEP_RETRIES = 2;
const MAX_STEP_RETRIES = 10;

/** STEP_RETRIES: `step:n` pairs, comma-separated; a step not named keeps the default. */
function stepRetries(env: Env): PerStep<number> {
  const retries: Record<StepName, number> = { ...everyStep(DEFAULT_STEP_RETRIES) };
  const raw = env['STEP_RETRIES'];
  if (raw === undefined || raw === '') return retries;
  const rule = `STEP_RETRIES must be step:retries pairs, comma-separated, each step one of ${STEP_NAMES.join(', ')} at most once and retries an integer from 0 to ${MAX_STEP_RETRIES}`;
  const named = new Set<string>();
  for (const entry of raw.split(',')) {
    const match = /^\s*([a-z]+)\s*:\s*(\d+)\s*$/.exec(entry);
    const step = match?.[1];
    const count = Number(match?.[2]);
    if (!match || !(STEP_NAMES as readonly string[]).includes(step!) || named.has(step!) || count > MAX_STEP_RETRIES)
      throw new ConfigError(`${rule}, got ${JSON.stringify(raw)}`);
    named.add(step!);
    retries[step as StepName] = count;
  }
  return retries;
}

function durableAndInstances(env: Env, cancelGraceMs: number): Pick<Config, 'durable' | 'instances'> {
  const store = durable(env, cancelGraceMs);
  const instances = integer(env, 'INSTANCES', 1, 64, 1);
  if (instances > 1 && store === undefined)
    throw new ConfigError(
      `INSTANCES=${instances} needs DATABASE_URL: instances share their orders, couriers and money through Postgres`,
    );
  return { ...(store ? { durable: store } : {}), instances };
}

/** The OTLP encodings over HTTP the exporter speaks (gRPC is not among them: it would bring a second HTTP stack). */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
/** OTEL_TRACES_SAMPLER's values (the specification's, less the Jaeger remote sampler). */
export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

export interface TracingConfig {
  /** Where spans are posted: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, or OTEL_EXPORTER_OTLP_ENDPOINT's /v1/traces. */
  readonly tracesUrl: string;
  readonly protocol: (typeof OTLP_PROTOCOLS)[number];
  /** OTEL_SERVICE_NAME: the service.name of every span. */
  readonly serviceName: string;
  readonly sampler: (typeof TRACE_SAMPLERS)[number];
  /** OTEL_TRACES_SAMPLER_ARG: the ratio of traces kept by the traceidratio samplers, 0 to 1. */
  readonly samplerRatio: number;
}

/**
 * The standard variables of the OpenTelemetry SDK (its environment specification). Tracing runs only with an endpoint
 * to send spans to, and not with OTEL_SDK_DISABLED=true: otherwise nothing of the SDK is even loaded.
 */
function tracingConfig(env: Env): { tracing?: TracingConfig } {
  if (oneOf(env, 'OTEL_SDK_DISABLED', ['true', 'false'], 'false') === 'true') return {};
  const base = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  const traces = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];
  const tracesUrl = traces ? traces : base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined;
  if (tracesUrl === undefined) return {};
  let url: URL | undefined;
  try {
    url = new URL(tracesUrl);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new ConfigError(
      `OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL (the collector's OTLP/HTTP port, 4318), got ${JSON.stringify(tracesUrl)}`,
    );
  const protocol = oneOf(env, 'OTEL_EXPORTER_OTLP_PROTOCOL', [...OTLP_PROTOCOLS, 'grpc'], 'http/protobuf');
  if (protocol === 'grpc')
    throw new ConfigError(
      'OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported: use http/protobuf (port 4318) or http/json',
    );
  const rawRatio = env['OTEL_TRACES_SAMPLER_ARG'];
  const samplerRatio = rawRatio === undefined || rawRatio === '' ? 1 : Number(rawRatio);
  if (!Number.isFinite(samplerRatio) || samplerRatio < 0 || samplerRatio > 1)
    throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, got ${JSON.stringify(rawRatio)}`);
  return {
    tracing: {
      tracesUrl,
      protocol,
      serviceName: env['OTEL_SERVICE_NAME'] || 'order-threads',
      sampler: oneOf(env, 'OTEL_TRACES_SAMPLER', TRACE_SAMPLERS, 'parentbased_always_on'),
      samplerRatio,
    },
  };
}
