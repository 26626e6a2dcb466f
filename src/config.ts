/**
 * Configuration from environment variables. Each variable is declared once in
 * its group's file under src/settings/ (its rule, default and the guide's words); this
 * file composes what several settings decide together — the access mode, the
 * durable mode, tracing — and checks what no one setting can. A bad value
 * stops the process with one line naming it and what it allows.
 */
import { readFileSync } from 'node:fs';
import { CLIENT_NAME, RESERVED_CLIENTS } from './auth/caller.js';
import { API_KEY } from './auth/key-ring.js';
import { connectionHardLimit, openFileLimit } from './settings/bounds.js';
import { readSettings, type Values } from './settings/read-settings.js';
import { ConfigError, type Env, type FieldsOf, type Machine, type Setting } from './settings/setting.js';
import { REMOVED, SETTINGS } from './settings/settings.js';
import { CLIENTS, DEFAULT_CLIENT_RATE_LIMIT, DEFAULT_CLIENT_REQUEST_RATE_LIMIT } from './settings/clients.js';
import { DEPENDENCIES } from './settings/dependencies.js';
import { DEPLOYMENT } from './settings/deployment.js';
import { HTTP } from './settings/http.js';
import { OBSERVABILITY, OTLP_PROTOCOLS, TRACE_SAMPLERS } from './settings/observability.js';
import { ORDERS } from './settings/orders.js';
import { EVENTS } from './settings/webhooks.js';
import { LOG_LEVELS, type LogLevel } from './shared-memory/log-level.js';

export { LOG_LEVELS, type LogLevel, ConfigError, type Machine };
export {
  KUBERNETES_DRAIN_DELAY_MS,
  leaseMarginMs,
  SHUTDOWN_MARGIN_MS,
  shortestLeaseMs,
  THREAD_EXIT_MS,
  windDownMs,
} from './settings/bounds.js';
export { DEFAULT_CLIENT_MAX_SHARE, DEFAULT_CLIENT_RATE_LIMIT } from './settings/clients.js';
export { OTLP_PROTOCOLS, TRACE_SAMPLERS } from './settings/observability.js';

/** The settings Config holds as parsed, by their `field` (src/settings/ says what each is). */
type PlainFields = FieldsOf<typeof ORDERS> &
  FieldsOf<typeof HTTP> &
  FieldsOf<typeof CLIENTS> &
  FieldsOf<typeof DEPENDENCIES> &
  FieldsOf<typeof OBSERVABILITY> &
  FieldsOf<typeof DEPLOYMENT>;

export interface Config extends PlainFields {
  /**
   * Memory the order records (and what is kept with them) may take, estimated, in bytes (ORDER_RECORDS_MAX_MB); once
   * taken, new orders are shed until records expire.
   */
  readonly orderRecordsMaxBytes: number;
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
  /**
   * Orders per second each client may send (CLIENT_RATE_LIMIT), a burst of
   * one second's worth; 0: no limit. Absent: the access mode's default —
   * DEFAULT_CLIENT_RATE_LIMIT with keys, none in open mode (clientRateLimitOf).
   */
  readonly clientRateLimit?: number;
  /**
   * Requests per second each client may send on every route but POST /order (CLIENT_REQUEST_RATE_LIMIT); 0: no
   * budget. Absent: DEFAULT_CLIENT_REQUEST_RATE_LIMIT with keys, none in open mode (clientRequestRateLimitOf).
   */
  readonly clientRequestRateLimit?: number;
  /** Where and how spans are exported (the standard OTEL_* variables); absent: no exporter, no SDK. */
  readonly tracing?: TracingConfig;
  /** The events clients are told of (GET /events) and the webhooks that carry them. */
  readonly events: EventsConfig;
}

/** The event feed and the webhooks (src/events/), as declared in src/settings/webhooks.ts's EVENTS. */
export type EventsConfig = FieldsOf<typeof EVENTS>;

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
  /** Takeovers of an order after which it is no longer resumed (ORDER_RECOVERIES_MAX); absent: its default. */
  readonly recoveriesMax?: number;
  /** The reads' own share of Postgres (GET /orders/{id}), beside poolSize: never a connection the orders need. */
  readonly reads?: {
    readonly connections: number;
    readonly waitMs: number;
    readonly waitingMax: number;
  };
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
  // Checked with the other settings (src/settings/) before the keys are composed.
  const allowAnonymous = env['ALLOW_ANONYMOUS'] === 'on';
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
 * The secrets a file may hold instead of a variable (X_FILE for X), as an
 * orchestrator mounts them: a variable is seen by anyone who may inspect the
 * process or its pod spec. A key file holds one entry a line (`client:key`
 * for API_KEYS_FILE, a key for ADMIN_KEY_FILE); blank lines and lines
 * starting with # are skipped. Nothing a file holds is ever put in an error.
 */
const SECRET_FILES = Object.values(SETTINGS as Readonly<Record<string, Setting<unknown>>>).flatMap((setting) =>
  setting.holds ? [setting.holds] : [],
);

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
  for (const { variable: name, shape } of SECRET_FILES) {
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

/** Requests per second a client may send on every route but POST /order, 0 for none. */
export function clientRequestRateLimitOf(config: Pick<Config, 'clientRequestRateLimit' | 'access'>): number {
  return config.clientRequestRateLimit ?? (config.access.mode === 'keys' ? DEFAULT_CLIENT_REQUEST_RATE_LIMIT : 0);
}

/** Whether any client has a rate limit: without one, no order is counted at all. */
export function anyClientRateLimit(config: Pick<Config, 'clientRateLimit' | 'clientRateLimits' | 'access'>): boolean {
  return clientRateLimitOf(config, '') > 0 || [...config.clientRateLimits.values()].some((limit) => limit > 0);
}

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

export function loadConfig(
  given: Env = process.env,
  machine: Machine = { openFileLimit: openFileLimit(), stdoutIsTerminal: process.stdout.isTTY === true },
): Config {
  const env = withSecretsFromFiles(given);
  for (const [name, replacement] of Object.entries(REMOVED))
    if (env[name]) throw new ConfigError(`${name} is gone: ${replacement}`);
  const settings = readSettings(SETTINGS, env, machine);
  // Node refuses to start a server whose headers may take longer than the whole request.
  if (settings.HEADERS_TIMEOUT_MS > settings.REQUEST_TIMEOUT_MS) {
    throw new ConfigError(
      `HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS (${settings.REQUEST_TIMEOUT_MS}), got ${JSON.stringify(String(settings.HEADERS_TIMEOUT_MS))}`,
    );
  }
  const plain = Object.fromEntries(
    Object.entries(SETTINGS).flatMap(([name, setting]) =>
      setting.field !== undefined && !(name in EVENTS)
        ? [[setting.field, settings[name as keyof typeof SETTINGS]]]
        : [],
    ),
  ) as unknown as PlainFields;
  const events = Object.fromEntries(
    Object.entries(EVENTS).map(([name, setting]) => [setting.field, settings[name as keyof typeof EVENTS]]),
  ) as unknown as EventsConfig;
  return {
    ...plain,
    orderRecordsMaxBytes: settings.ORDER_RECORDS_MAX_MB * 2 ** 20,
    connectionHardLimit: connectionHardLimit(machine.openFileLimit, settings.THREADS),
    ...durableAndInstances(settings),
    access: parseAccess(env, settings.HOST),
    ...(settings.CLIENT_RATE_LIMIT !== undefined ? { clientRateLimit: settings.CLIENT_RATE_LIMIT } : {}),
    ...(settings.CLIENT_REQUEST_RATE_LIMIT !== undefined
      ? { clientRequestRateLimit: settings.CLIENT_REQUEST_RATE_LIMIT }
      : {}),
    ...tracingConfig(settings),
    events,
  };
}

type Settings = Values<typeof SETTINGS>;

function durableAndInstances(settings: Settings): Pick<Config, 'durable' | 'instances'> {
  const instances = settings.INSTANCES;
  if (settings.DATABASE_URL === undefined) {
    if (instances > 1)
      throw new ConfigError(
        `INSTANCES=${instances} needs DATABASE_URL: instances share their orders, couriers and money through Postgres`,
      );
    return { instances };
  }
  return {
    durable: {
      databaseUrl: settings.DATABASE_URL,
      leaseMs: settings.LEASE_MS,
      poolSize: settings.DB_POOL_SIZE,
      recoveriesMax: settings.ORDER_RECOVERIES_MAX,
      reads: {
        connections: settings.DB_READ_CONNECTIONS,
        waitMs: settings.DB_READ_WAIT_MS,
        waitingMax: settings.DB_READS_WAITING_MAX,
      },
    },
    instances,
  };
}

/**
 * Tracing runs only with an endpoint to send spans to, and not with OTEL_SDK_DISABLED=true: otherwise nothing of the
 * SDK is even loaded.
 */
function tracingConfig(settings: Settings): { tracing?: TracingConfig } {
  if (settings.OTEL_SDK_DISABLED === 'true') return {};
  const base = settings.OTEL_EXPORTER_OTLP_ENDPOINT;
  const tracesUrl =
    settings.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (tracesUrl === undefined) return {};
  const protocol = settings.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (protocol === 'grpc')
    throw new ConfigError(
      'OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported: use http/protobuf (port 4318) or http/json',
    );
  return {
    tracing: {
      tracesUrl,
      protocol,
      serviceName: settings.OTEL_SERVICE_NAME,
      sampler: settings.OTEL_TRACES_SAMPLER,
      samplerRatio: settings.OTEL_TRACES_SAMPLER_ARG,
    },
  };
}
