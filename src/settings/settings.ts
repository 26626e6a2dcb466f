/**
 * Every environment variable the service reads, declared once, grouped by
 * capability. A declaration gives the rule (and so the start-up error line),
 * the default, the guide's words and, for a plain value, the Config field
 * that holds it; `npm run openapi` writes the guide's settings page (docs/settings.md)
 * from here and test/unit/settings.test.ts fails until it has.
 *
 * A new setting: one entry in its group, after any setting its bounds read;
 * with a `field`, it is in Config at once. A group is parsed in the order
 * written, groups in the order of SETTING_GROUPS.
 */
import { isIPv6 } from 'node:net';
import { availableParallelism } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { z } from 'zod';
import { CLIENT_NAME } from '../auth/caller.js';
import { everyStep, STEP_NAMES, type PerStep } from '../domain/steps.js';
import { DEFAULT_RECOVERIES_MAX } from '../domain/lifecycle.js';
import { isTier, TIERS, type Tier } from '../domain/tier.js';
import { DEFAULT_TIER_CEILINGS, type TierCeilings } from '../fairness/tiers.js';
import { LOG_LEVELS } from '../shared-memory/log-level.js';
import {
  connectionHardLimit,
  descriptorReserve,
  FALLBACK_MAX_CONNECTIONS,
  KUBERNETES_DRAIN_DELAY_MS,
  RECORDS_HEAP_SHARE,
  SHUTDOWN_MARGIN_MS,
  shortestLeaseMs,
  THREAD_EXIT_MS,
  THREE_DAYS_MS,
  windDownMs,
} from './bounds.js';
import { custom, integer, oneOf, onOff, optionalInteger, secretFile, text, type Read } from './setting.js';

/** Steps per order, from the registry: the pool must hold every step of every order in flight. */
const STEPS_PER_ORDER = STEP_NAMES.length;
const heapMb = (): number => Math.floor(getHeapStatistics().heap_size_limit / 2 ** 20);
const hardLimit = (read: Read): number | undefined =>
  connectionHardLimit(read.machine.openFileLimit, read.number('THREADS'));

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
    about: "a compensation's (a refund's) own deadline: it runs after its order was canceled",
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
    about:
      'pool tasks one thread runs at once: a step that computes is a task of its own; the other steps of every order posted in one turn travel to a thread as one task',
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

export const HTTP = {
  HOST: custom({
    field: 'host',
    rule: 'a host name or IP address',
    schema: z.string().regex(/^\S+$/),
    fallback: '127.0.0.1',
    default: '127.0.0.1',
    allowed: 'a host name or address',
    about: 'the address listened on',
  }),
  PORT: integer({ field: 'port', min: 0, max: 65535, fallback: 8080, about: '0 picks a free port' }),
  HEADERS_TIMEOUT_MS: integer({
    field: 'headersTimeoutMs',
    min: 1,
    max: 600_000,
    fallback: 10_000,
    allowed: '1–600000, ≤ `REQUEST_TIMEOUT_MS`',
    about:
      "a request's headers must have arrived by then (from the connection's or the request's first byte); else 408",
  }),
  REQUEST_TIMEOUT_MS: integer({
    field: 'requestTimeoutMs',
    min: 1,
    max: 600_000,
    fallback: 30_000,
    about: 'the whole request, body included, must have arrived by then; else 408. Answering it is not counted',
  }),
  KEEP_ALIVE_TIMEOUT_MS: integer({
    field: 'keepAliveTimeoutMs',
    min: 1,
    max: 600_000,
    fallback: 5000,
    about: 'an idle keep-alive connection is closed after it (Node adds 1 s of grace)',
  }),
  MAX_CONNECTIONS: integer({
    field: 'maxConnections',
    min: 1,
    max: (read) => hardLimit(read) ?? 10_000_000,
    fallback: (read) => {
      const limit = hardLimit(read);
      return limit === undefined ? FALLBACK_MAX_CONNECTIONS : Math.max(1, Math.floor(limit * 0.9));
    },
    hint: (read) => {
      const fdLimit = read.machine.openFileLimit;
      if (fdLimit === undefined) return undefined;
      return `the open-file limit ${fdLimit} less ${descriptorReserve(read.number('THREADS'))} for the process itself; raise it with ulimit -n`;
    },
    default: '90% of (open-file limit − 128 − 8 × `THREADS`); 16384 if the limit is unknown',
    allowed: '1 – open-file limit − 128 − 8 × `THREADS`',
    about: 'connections served at once; see [connection limits](deploying.md#connection-limits)',
  }),
  ALLOWED_HOSTS: custom({
    field: 'allowedHosts',
    rule: 'host names or addresses, comma-separated (IPv6 in brackets)',
    schema: z
      .string()
      .transform((raw) =>
        raw
          .split(',')
          .map((name) => name.trim().toLowerCase())
          .map((name) => (isIPv6(name) ? `[${name}]` : name)),
      )
      .pipe(z.array(z.string().regex(/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)$/))),
    fallback: (read: Read): string[] => defaultAllowedHosts(read.text('HOST')),
    default: 'the loopback names and the address listened on',
    allowed: 'host names or addresses, comma-separated; a bare IPv6 address is taken as `[address]`',
    about:
      "what the `Host` header may name; anything else is 421 (the probes excepted, not `/metrics`: a scrape by the pod's IP needs that IP here, as deploy/ puts it)",
  }),
};

/** The loopback names and the address listened on, as a Host header names it. */
function defaultAllowedHosts(host: string): string[] {
  const listened = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const wildcard = host === '0.0.0.0' || host === '::' || host === '[::]';
  return [...new Set(['localhost', '127.0.0.1', '[::1]', ...(wildcard ? [] : [listened.toLowerCase()])])];
}

/** `name:n` pairs, comma-separated, each name at most once and allowed by `named`. */
function pairs(named: (name: string) => boolean, min: number, max: number) {
  return z.string().transform((raw, context) => {
    const found = new Map<string, number>();
    for (const entry of raw.split(',')) {
      const match = /^\s*([^:\s]+)\s*:\s*(\d+)\s*$/.exec(entry);
      const name = match?.[1] ?? '';
      const value = Number(match?.[2]);
      if (!match || !named(name) || found.has(name) || value < min || value > max) {
        context.addIssue({ code: 'custom', message: 'pairs' });
        return z.NEVER;
      }
      found.set(name, value);
    }
    return found;
  });
}

const MAX_CLIENT_WEIGHT = 1000;
const MAX_RATE_LIMIT = 1_000_000;
/** Orders per second per client when keys are configured and CLIENT_RATE_LIMIT is not set. */
export const DEFAULT_CLIENT_RATE_LIMIT = 100;
/** CLIENT_MAX_SHARE when not set. */
export const DEFAULT_CLIENT_MAX_SHARE = 0.6;
const KEY_RULE = 'a key ≥ 32 of A-Z a-z 0-9 _ -';

export const CLIENTS = {
  API_KEYS: text({
    needs: 'keys',
    secret: true,
    default: 'unset',
    allowed: `\`client:key,…\`; a client 1–64 of A-Z a-z 0-9 _ . -, ${KEY_RULE}`,
    about: 'the clients and their keys; never logged, never repeated in an error',
  }),
  ADMIN_KEY: text({
    needs: 'keys',
    secret: true,
    default: 'unset',
    allowed: '≥ 32 of A-Z a-z 0-9 _ -; several comma-separated',
    about:
      'the admin surface: `/threads`, `/metrics`, `/admin/…`, `faults`; each key given is accepted, so a new one can be handed out before the old one is removed',
  }),
  API_KEYS_FILE: secretFile(
    { variable: 'API_KEYS', shape: 'lines' },
    {
      needs: 'keys',
      default: 'unset',
      allowed: 'a readable file, one `client:key` a line',
      about:
        "`API_KEYS` read from this file instead (blank lines and `#` lines skipped); both set is refused. Read again when the file (or its folder: a Secret's symlink swap) changes, and on SIGHUP (with `INSTANCES`, sent to the primary): a key added works and a removed one is refused within a second, with an audit line (`keys_reloaded`) naming the clients added, removed or rekeyed, never a key; a file without fit keys is refused and the keys in use kept, and so is one that held keys and holds none now (`keys_reload_refused`), unless `KEY_FILES_ALLOW_EMPTY=on`",
    },
  ),
  ADMIN_KEY_FILE: secretFile(
    { variable: 'ADMIN_KEY', shape: 'lines' },
    {
      needs: 'keys',
      default: 'unset',
      allowed: 'a readable file, one key a line',
      about:
        '`ADMIN_KEY` read from this file instead, every key in it accepted; both set is refused. Read again on change and on SIGHUP, as `API_KEYS_FILE`',
    },
  ),
  KEY_FILES_ALLOW_EMPTY: onOff({
    field: 'keyFilesAllowEmpty',
    needs: 'keys',
    fallback: false,
    about:
      'on: a key file read again that held keys and holds none now (emptied, or comments only) is meant, and revokes them; off: it is refused, the keys in use kept, with an error audit line (`keys_reload_refused`) — an emptied file is more often a writer caught halfway, or a mistake, than a wish to lock every client or the admin out',
  }),
  ALLOW_ANONYMOUS: onOff({
    needs: 'open',
    fallback: false,
    about: 'open mode (neither key set) on an address other machines reach; refused otherwise',
  }),
  CLIENT_WEIGHTS: custom({
    field: 'clientWeights',
    rule: `client:weight pairs, comma-separated, each client at most once and each weight an integer from 1 to ${MAX_CLIENT_WEIGHT}`,
    schema: pairs((name) => CLIENT_NAME.test(name), 1, MAX_CLIENT_WEIGHT),
    fallback: (): ReadonlyMap<string, number> => new Map(),
    default: 'every client 1',
    allowed: '`client:weight,…`, integers 1–1000',
    about:
      "each client's weight in every fair share (see [bulkheads](clients-and-money.md#bulkheads-one-client-never-takes-the-others-down))",
  }),
  CLIENT_TIERS: custom({
    field: 'clientTiers',
    rule: `client:tier pairs, comma-separated, each client at most once and each tier one of ${TIERS.join(', ')}`,
    schema: z.string().transform((raw, context) => {
      const tiers = new Map<string, Tier>();
      for (const entry of raw.split(',')) {
        const match = /^\s*([^:\s]+)\s*:\s*(\S+)\s*$/.exec(entry);
        const client = match?.[1] ?? '';
        const tier = match?.[2] ?? '';
        if (!match || !CLIENT_NAME.test(client) || tiers.has(client) || !isTier(tier)) {
          context.addIssue({ code: 'custom', message: 'pairs' });
          return z.NEVER;
        }
        tiers.set(client, tier);
      }
      return tiers;
    }),
    fallback: (): ReadonlyMap<string, Tier> => new Map(),
    default: 'every client standard',
    allowed: '`client:tier,…`, tiers critical, standard, free',
    about:
      "each client's priority tier: who keeps headroom and goes first in every queue when there is not enough (a key's own tier, set with `npm run keys -- tier`, comes first)",
  }),
  TIER_CEILINGS: custom({
    field: 'tierCeilings',
    rule: "tier:percent pairs, comma-separated, each tier (free, standard) at most once and each percent an integer from 1 to 100, standard's never below free's",
    schema: z.string().transform((raw, context) => {
      const ceilings: Record<Tier, number> = { ...DEFAULT_TIER_CEILINGS };
      const seen = new Set<string>();
      for (const entry of raw.split(',')) {
        const match = /^\s*([a-z]+)\s*:\s*(\d{1,3})\s*$/.exec(entry);
        const tier = match?.[1] ?? '';
        const percent = Number(match?.[2]);
        if (!match || !isTier(tier) || tier === 'critical' || seen.has(tier) || percent < 1 || percent > 100) {
          context.addIssue({ code: 'custom', message: 'pairs' });
          return z.NEVER;
        }
        seen.add(tier);
        ceilings[tier] = percent / 100;
      }
      if (ceilings.standard < ceilings.free) {
        context.addIssue({ code: 'custom', message: 'order' });
        return z.NEVER;
      }
      return ceilings;
    }),
    fallback: (): TierCeilings => DEFAULT_TIER_CEILINGS,
    default: 'free:70,standard:90',
    allowed: '`tier:percent,…` for free and standard, 1–100; critical is always 100',
    about:
      "how much of the orders in flight, the pool's queue and the record memory each tier's new orders may fill; the rest is kept for the tiers above",
  }),
  CLIENT_MAX_SHARE: custom({
    field: 'clientMaxShare',
    rule: 'a number over 0 and at most 1, to three decimals (1: no per-client caps)',
    // Shares are kept in thousandths in shared memory.
    schema: z
      .string()
      .trim()
      .regex(/^(0|1)?(\.\d{1,3})?$/)
      .transform(Number)
      .pipe(z.number().gt(0).lte(1)),
    fallback: DEFAULT_CLIENT_MAX_SHARE,
    default: String(DEFAULT_CLIENT_MAX_SHARE),
    allowed: 'over 0, at most 1, to the thousandth',
    about:
      'the most of each scarce thing one client may hold while another wants it: couriers, orders in flight, record memory; 1 turns every cap off',
  }),
  CLIENT_RATE_LIMIT: optionalInteger({
    min: 0,
    max: MAX_RATE_LIMIT,
    default: '100 with keys; none in open mode',
    allowed: '0 (none) or orders per second',
    about: "orders per second per client, a burst of one second's worth; over it, 429 `rate_limited`",
  }),
  CLIENT_RATE_LIMITS: custom({
    field: 'clientRateLimits',
    rule: `client:orders_per_second pairs, comma-separated, each client at most once and each orders per second an integer from 0 to ${MAX_RATE_LIMIT}`,
    schema: pairs((name) => CLIENT_NAME.test(name), 0, MAX_RATE_LIMIT),
    fallback: (): ReadonlyMap<string, number> => new Map(),
    default: 'unset',
    allowed: '`client:limit,…`, 0 for none',
    about: "a client's own rate limit instead",
  }),
};

const DEFAULT_STEP_RETRIES = 2;
const MAX_STEP_RETRIES = 10;

export const DEPENDENCIES = {
  BREAKER_FAILURES: integer({
    field: 'breakerFailures',
    min: 0,
    max: 1000,
    fallback: 5,
    allowed: '0–1000; 0: no breakers',
    about:
      'consecutive failures of a dependency itself that open its breaker — from two clients or more, or from the only client calling it lately',
  }),
  BREAKER_OPEN_MS: integer({
    field: 'breakerOpenMs',
    min: 1,
    max: 3_600_000,
    fallback: 5000,
    about: 'how long an open breaker refuses before a probe per client goes through',
  }),
  STEP_RETRIES: custom({
    field: 'stepRetries',
    rule: `step:retries pairs, comma-separated, each step one of ${STEP_NAMES.join(', ')} at most once and retries an integer from 0 to ${MAX_STEP_RETRIES}`,
    schema: pairs((name) => (STEP_NAMES as readonly string[]).includes(name), 0, MAX_STEP_RETRIES).transform(
      (named): PerStep<number> => ({ ...everyStep(DEFAULT_STEP_RETRIES), ...Object.fromEntries(named) }),
    ),
    fallback: (): PerStep<number> => everyStep(DEFAULT_STEP_RETRIES),
    default: STEP_NAMES.map((step) => `${step}:${DEFAULT_STEP_RETRIES}`).join(','),
    allowed: `0–${MAX_STEP_RETRIES} each`,
    about: 'calls a step makes again after its dependency answered unavailable, with jitter, while the deadline allows',
  }),
};

const LEASE_RULE = `at least 2 × (CANCEL_GRACE_MS + ${THREAD_EXIT_MS}): an instance gives its lease up CANCEL_GRACE_MS + ${THREAD_EXIT_MS} ms early, for a stuck thread's couriers to come back first, and renews it in the other half`;

export const DURABLE = {
  DATABASE_URL: custom({
    secret: true,
    rule: 'a postgres://user:password@host:port/database URL',
    schema: z.string().refine((raw) => {
      const url = URL.parse(raw);
      return url !== null && (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
    }),
    fallback: undefined as string | undefined,
    default: 'unset: in memory',
    allowed: '`postgres://user:password@host:port/database`',
    about: 'the durable mode (see [durability.md](durability.md))',
  }),
  DATABASE_URL_FILE: secretFile(
    { variable: 'DATABASE_URL', shape: 'whole' },
    {
      default: 'unset',
      allowed: 'a readable file',
      about: '`DATABASE_URL` read from this file (trimmed) instead, as a mounted Secret; both set is refused',
    },
  ),
  LEASE_MS: integer({
    needs: 'durable',
    min: (read) => shortestLeaseMs(read.number('CANCEL_GRACE_MS')),
    max: 600_000,
    fallback: (read) => Math.max(5000, shortestLeaseMs(read.number('CANCEL_GRACE_MS'))),
    why: () => LEASE_RULE,
    default: '5000, or 2 × (`CANCEL_GRACE_MS` + 50) if longer',
    allowed: '2 × (`CANCEL_GRACE_MS` + 50) (600) – 600000',
    about:
      "an instance's lease: a lost instance's orders are taken over this long after it last renewed; the instance gives it up itself max(`LEASE_MS` / 5, `CANCEL_GRACE_MS` + 50 ms) early, so that a stuck thread's couriers are back before another instance may take them",
  }),
  ORDER_RECOVERIES_MAX: integer({
    needs: 'durable',
    min: 0,
    max: 100,
    fallback: DEFAULT_RECOVERIES_MAX,
    about:
      'takeovers of an order whose instance was lost that resume it from its recorded steps; the next parks it `dead_lettered` (its payment voided, an alarm, an `order.dead_lettered` event). 0: parked at its first takeover',
  }),
  DB_POOL_SIZE: integer({
    needs: 'durable',
    min: 2,
    max: 100,
    fallback: 10,
    about:
      'connections to Postgres per instance for the orders, leases and recovery (+1 for LISTEN, + `DB_READ_CONNECTIONS` for reads, +1 briefly for a probe)',
  }),
  DB_READ_CONNECTIONS: integer({
    needs: 'durable',
    min: 1,
    max: 100,
    fallback: 2,
    about:
      "the reads' (`GET /orders/{id}`) own pool, kept open: a burst of reads never takes a connection the orders need (`store_read_connections` on `/metrics`)",
  }),
  DB_READ_WAIT_MS: integer({
    needs: 'durable',
    min: 1,
    max: 10_000,
    fallback: 500,
    about:
      'how long a read waits for one of those; then 503 `overloaded` with Retry-After (`store_reads_shed_total`) — busy, never `store_unavailable`',
  }),
  DB_READS_WAITING_MAX: integer({
    needs: 'durable',
    min: 0,
    max: 100_000,
    fallback: 100,
    about:
      'reads waiting for a connection at most, beyond the batch the next free connection takes (`store_reads` counts them with those running); a read beyond is answered 503 `overloaded` at once',
  }),
  INSTANCES: integer({
    min: 1,
    max: 64,
    fallback: 1,
    allowed: '1–64; more than 1 needs `DATABASE_URL`',
    about: 'processes sharing the port (node:cluster), each with its own threads',
  }),
};

export const EVENTS = {
  WEBHOOK_TIMEOUT_MS: integer({
    field: 'webhookTimeoutMs',
    min: 1,
    max: 600_000,
    fallback: 10_000,
    about:
      'one webhook delivery attempt, from when its request has a socket (not while it waits for one) to its status line; past it the attempt has failed and is retried. The answer is then read up to 16 KiB, past which its connection is closed',
  }),
  WEBHOOKS_PER_CLIENT: integer({
    field: 'webhooksPerClient',
    min: 0,
    max: 1000,
    fallback: 10,
    about: 'webhook endpoints one client may register; beyond, 409 `too_many_webhooks`',
  }),
  WEBHOOK_ALLOW_PRIVATE_TARGETS: onOff({
    field: 'allowPrivateTargets',
    fallback: false,
    about:
      'on: webhook URLs may be plain http and reach loopback, private, link-local and metadata addresses — for tests and private networks only; the start-up line says `webhook_private_targets: allowed` and a warning line follows',
  }),
  // At most 10 s before jitter lowers it: the first retry comes within 10 s.
  WEBHOOK_RETRY_FIRST_MS: integer({
    field: 'retryFirstMs',
    min: 1,
    max: 10_000,
    fallback: 5000,
    about:
      'the first retry of a failed delivery comes after half to all of this; each next wait is four times longer, up to `WEBHOOK_RETRY_MAX_MS` (see [api.md](api.md#events-and-webhooks))',
  }),
  WEBHOOK_RETRY_MAX_MS: integer({
    field: 'retryMaxMs',
    min: 1000,
    max: 12 * 3_600_000,
    fallback: 12 * 3_600_000,
    default: '43200000 (12 h)',
    allowed: '1 s – 12 h',
    about:
      'the longest wait between two attempts of a delivery, before jitter: the four-fold growth stops there (the chaos harness sets 5 s, so that a delivery failed many times under its faults is tried again while it waits)',
  }),
  WEBHOOK_RETRY_WINDOW_MS: integer({
    field: 'retryWindowMs',
    min: 1,
    max: 30 * 24 * 3_600_000,
    fallback: THREE_DAYS_MS,
    default: '259200000 (3 days)',
    allowed: '1 – 30 days',
    about:
      'how long an event is retried; past it an endpoint that took nothing meanwhile is disabled (`failing`), otherwise the one event is given up (GET /events still has it)',
  }),
  EVENTS_MAX: integer({
    field: 'eventsMax',
    min: 1,
    max: 10_000_000,
    fallback: 100_000,
    about:
      "in memory: events kept for `GET /events`, shared by the clients (past it, the oldest of the client keeping the most per unit of its weight goes; a feed resumed from behind it is 410 `events_gone`); in both modes: webhook deliveries owed at most, shared by the clients by weight (past a client's share, its own new ones are dropped and counted, `webhook_deliveries_dropped_total{client}`; see [bulkheads](clients-and-money.md#bulkheads-one-client-never-takes-the-others-down))",
  }),
  EVENT_RETENTION_DAYS: integer({
    field: 'retentionDays',
    min: 1,
    max: 3650,
    fallback: 30,
    about:
      'durable mode: events are kept this long at least (for `GET /events`), and never forgotten while a delivery of them is owed (see [durability.md](durability.md#events-the-outbox))',
  }),
};

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
const OTLP_URL_RULE = "an http:// or https:// URL (the collector's OTLP/HTTP port, 4318)";
const otlpUrl = z.string().refine((raw) => /^https?:$/.test(URL.parse(raw)?.protocol ?? ''));

/** The standard variables of the OpenTelemetry SDK (its environment specification). */
export const TRACING = {
  OTEL_SDK_DISABLED: oneOf(['true', 'false'], {
    fallback: 'false',
    about: 'true: no exporter, whatever the endpoint (trace ids still reach the logs and `traceresponse`)',
  }),
  OTEL_EXPORTER_OTLP_ENDPOINT: custom({
    needs: 'tracing',
    rule: OTLP_URL_RULE,
    schema: otlpUrl,
    fallback: undefined as string | undefined,
    default: 'unset: no exporter, no SDK loaded',
    allowed: "an `http://` or `https://` URL (a collector's OTLP/HTTP port, 4318)",
    about:
      'where spans go, to its `/v1/traces` (see [tracing](operating.md#tracing)). The exporter also reads `OTEL_EXPORTER_OTLP_HEADERS`, `…_TIMEOUT`, `…_COMPRESSION` itself',
  }),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: custom({
    needs: 'tracing',
    rule: OTLP_URL_RULE,
    schema: otlpUrl,
    fallback: undefined as string | undefined,
    default: 'unset',
    allowed: 'an `http://` or `https://` URL',
    about: "the whole URL spans are posted to, instead of the endpoint's `/v1/traces`",
  }),
  OTEL_EXPORTER_OTLP_PROTOCOL: oneOf([...OTLP_PROTOCOLS, 'grpc'], {
    needs: 'tracing',
    fallback: 'http/protobuf',
    allowed: OTLP_PROTOCOLS.join(', '),
    about: 'the encoding; `grpc` is refused',
  }),
  OTEL_SERVICE_NAME: custom({
    needs: 'tracing',
    rule: 'any text',
    schema: z.string(),
    fallback: 'order-threads',
    default: 'order-threads',
    allowed: 'any',
    about: "the spans' `service.name`",
  }),
  OTEL_TRACES_SAMPLER: oneOf(TRACE_SAMPLERS, {
    needs: 'tracing',
    fallback: 'parentbased_always_on',
    about:
      "which traces are recorded; a parent-based sampler follows the caller's sampled flag, whatever its ratio (the specification's rule): with callers not trusted, `traceidratio` (see [tracing](operating.md#tracing))",
  }),
  OTEL_TRACES_SAMPLER_ARG: custom({
    needs: 'tracing',
    rule: 'a ratio from 0 to 1',
    schema: z.string().transform(Number).pipe(z.number().min(0).max(1)),
    fallback: 1,
    default: '1',
    allowed: '0–1',
    about: 'the ratio of the `traceidratio` samplers',
  }),
};

export const OBSERVABILITY = {
  LOG_LEVEL: oneOf(LOG_LEVELS, {
    field: 'logLevel',
    fallback: 'info',
    allowed: 'fatal … trace, silent',
    about: 'changed at run time by `POST /admin/log-level` (see [logs](operating.md#logs))',
  }),
  LOG_BUFFER: onOff({
    field: 'logBuffer',
    fallback: (read) => read.machine.stdoutIsTerminal !== true,
    default: 'off when stdout is a terminal, on otherwise',
    about:
      'on: lines gathered into 4 KiB writes, at most 1 s late (see [logs](operating.md#logs)); off: each line written at once',
  }),
  METRICS: onOff({ field: 'metrics', fallback: true, about: '`/metrics` and its measurements' }),
};

export const DEPLOYMENT = {
  KUBERNETES_SERVICE_HOST: text({
    needs: 'kubernetes',
    default: 'set by the kubelet in every pod',
    allowed: 'any',
    about: 'read only to know the process runs in a pod: `DRAIN_DELAY_MS` defaults to 5000 there',
  }),
  DRAIN_DELAY_MS: integer({
    field: 'drainDelayMs',
    min: 0,
    max: 600_000,
    fallback: (read) => (read.env['KUBERNETES_SERVICE_HOST'] ? KUBERNETES_DRAIN_DELAY_MS : 0),
    default: '0; 5000 in a Kubernetes pod (`KUBERNETES_SERVICE_HOST` set)',
    about:
      "from SIGTERM to the start of the drain: `/readyz` answers 503 at once while orders are still served, for the load balancer to stop routing here; a pod's `terminationGracePeriodSeconds` must cover it plus `SHUTDOWN_TIMEOUT_MS`",
  }),
  SHUTDOWN_TIMEOUT_MS: integer({
    field: 'shutdownTimeoutMs',
    min: (read) => shortestShutdownMs(read),
    max: 600_000,
    fallback: (read) => Math.max(10_000, shortestShutdownMs(read)),
    why: () => 'to let a canceled order void its payment: 2 × CANCEL_GRACE_MS + REFUND_TIMEOUT_MS + 250',
    default: '10000',
    allowed: '2 × `CANCEL_GRACE_MS` + `REFUND_TIMEOUT_MS` + 250 (1750) – 600000',
    about:
      'from the start of the drain (`DRAIN_DELAY_MS` after SIGTERM) to exit; never less than a canceled order needs to void its payment',
  }),
  WARM_UP_MS: integer({
    field: 'warmUpMs',
    min: 0,
    max: 60_000,
    fallback: 1000,
    about:
      'before listening, orders run this long through the step threads and the HTTP path on scratch books, records and outbox, none of it kept, so that the first clients do not pay for V8 compiling the service (see [the warm-up](operating.md#the-warm-up)); 0: none',
  }),
  BUILD_COMMIT: text({
    default: 'set by the image build',
    allowed: 'a commit id',
    about: 'what `GET /version` and the `build_info` gauge name as the commit',
  }),
};

/** Shutdown must leave a canceled order time to void its payment: never cut a refund off. */
function shortestShutdownMs(read: Read): number {
  return (
    windDownMs({ cancelGraceMs: read.number('CANCEL_GRACE_MS'), refundTimeoutMs: read.number('REFUND_TIMEOUT_MS') }) +
    SHUTDOWN_MARGIN_MS
  );
}

/** The guide's sections, in the order they are parsed. */
export const SETTING_GROUPS = [
  ['Orders and threads', ORDERS],
  ['HTTP', HTTP],
  ['Clients and keys', CLIENTS],
  ['Dependencies', DEPENDENCIES],
  ['Durable mode', DURABLE],
  ['Events and webhooks', EVENTS],
  ['Tracing', TRACING],
  ['Logs and metrics', OBSERVABILITY],
  ['Deployment and shutdown', DEPLOYMENT],
] as const;

export const SETTINGS = {
  ...ORDERS,
  ...HTTP,
  ...CLIENTS,
  ...DEPENDENCIES,
  ...DURABLE,
  ...EVENTS,
  ...TRACING,
  ...OBSERVABILITY,
  ...DEPLOYMENT,
};

/** Settings that are gone: set, they stop the process with what replaced them. */
export const REMOVED: Readonly<Record<string, string>> = {
  IDEMPOTENCY_MAX_ENTRIES: 'the order records are bounded by memory, ORDER_RECORDS_MAX_MB',
};
