/**
 * A real service for a test: real HTTP on loopback, real worker threads,
 * started in this process from the TypeScript sources.
 */
import { pino, type Logger } from 'pino';
import { loadConfig, type Config } from '../../src/config.js';
import { startService, type RunningService } from '../../src/composition/service.js';
import type { HealthReport } from '../../src/http/wire/api-schemas.js';
import type { StepDefinition } from '../../src/pipeline/steps.js';
import { postOnce } from './raw-socket.js';

/**
 * The service's settings in the tests: from its own loader, as an operator's
 * environment would give them — two threads, any free port, faults allowed,
 * a quiet log — so a setting added to the service reaches the tests with
 * its default, and a test overrides only what it is about.
 */
export const TEST_CONFIG: Config = loadConfig(
  {
    THREADS: '2',
    PORT: '0',
    LOG_LEVEL: 'silent',
    FAULT_INJECTION: 'on',
    MAX_CONNECTIONS: '10000',
    // The service and its client share this event loop. A test that holds it for seconds (a heap walk, 4 s in a full
    // run on a busy machine) lets the service time out the client's idle pooled connections while the client still
    // counts them open: the next orders on them were reset (52–98 of 200, held 6.5 s past 5 s of keep-alive). A
    // minute outlasts any hold and any idle gap within a file; a test about keep-alive sets its own.
    KEEP_ALIVE_TIMEOUT_MS: '60000',
    // A file that proves the warm-up turns it on; elsewhere it would add a second to every service started.
    WARM_UP_MS: '0',
    SHUTDOWN_TIMEOUT_MS: '5000',
  },
  { openFileLimit: 15_000 + 128 + 8 * 2 },
);

export interface TestService {
  readonly url: URL;
  readonly service: RunningService;
  /** POST /order with a JSON body; resolves with status and parsed body. */
  /** `key`: the API key to send (Bearer); by default none, or in keys mode the admin's. `requestId`: X-Request-Id. */
  order(
    body: unknown,
    init?: { signal?: AbortSignal; key?: string; requestId?: string },
  ): Promise<{ status: number; body: OrderResponse; ms: number; retryAfter: string | null }>;
  /**
   * POST /order as `order` does (no key), on a raw connection of its own: for thousands of orders at once, sent as
   * fast as the server can take them (`postOnce`, test/support/raw-socket.ts).
   */
  orderOnce(body: unknown): Promise<{ status: number; body: OrderResponse; ms: number }>;
  health(): Promise<HealthReport & { status: string }>;
  shutdown(): Promise<void>;
}

export interface StepJson {
  name: string;
  status: 'ok' | 'error' | 'canceled';
  duration_ms: number;
  thread_id?: number;
  detail?: string;
  thread_fate?: string;
  attempts?: number;
  retries?: number;
}

export interface OrderResponse {
  status: 'ok' | 'error';
  order_id?: string;
  steps?: StepJson[];
  compensations?: StepJson[];
  error?: { kind: string; message: string };
}

export interface TestServiceOptions {
  readonly config?: Partial<Config>;
  readonly steps?: readonly StepDefinition[];
  /** To read what the service logs; silent otherwise. */
  readonly logger?: Logger;
}

export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const service = await startService({
    config: { ...TEST_CONFIG, ...options.config },
    // TEST_LOG_LEVEL=debug shows the service's log while debugging a test.
    logger: options.logger ?? pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }),
    ...(options.steps ? { steps: options.steps } : {}),
  });
  const orderUrl = new URL('/order', service.url);
  const access = options.config?.access ?? TEST_CONFIG.access;
  const defaultKey = access.mode === 'keys' ? access.adminKeys[0] : undefined;
  const svc: TestService = {
    url: service.url,
    service,
    async order(body, init = {}) {
      const started = performance.now();
      const key = init.key ?? defaultKey;
      const response = await fetch(orderUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(init.requestId ? { 'x-request-id': init.requestId } : {}),
        },
        body: typeof body === 'string' ? body : JSON.stringify(body),
        ...(init.signal ? { signal: init.signal } : {}),
      });
      const parsed = (await response.json()) as OrderResponse;
      return {
        status: response.status,
        body: parsed,
        ms: performance.now() - started,
        retryAfter: response.headers.get('retry-after'),
      };
    },
    async orderOnce(body) {
      const answer = await postOnce(service.url, '/order', body);
      return { status: answer.status, body: JSON.parse(answer.body) as OrderResponse, ms: answer.ms };
    },
    async health() {
      const response = await fetch(new URL('/healthz', service.url));
      return (await response.json()) as HealthReport & { status: string };
    },
    shutdown: () => service.shutdown(),
  };
  // A service that warmed itself up (WARM_UP_MS) has run orders on every thread already, and keeps none of them.
  // With keys, none is sent: the admin's orders would make it an active client for 10 s, with a floor of every share
  // that the test did not ask for.
  const keyed = (options.config?.access ?? TEST_CONFIG.access).mode === 'keys';
  if (!(options.config?.warmUpMs ?? TEST_CONFIG.warmUpMs) && !keyed) await warmUp(svc);
  return svc;
}

/**
 * Load the step modules on every thread before a test measures anything: a
 * thread's first step pays for importing and compiling them.
 */
async function warmUp(svc: TestService): Promise<void> {
  const instant = { payment: 0, vendor: 0, courier: 0 };
  await Promise.all(
    Array.from({ length: 4 }, (_, i) => svc.order({ order_id: `warm-up-${i}`, amount: 1, delay_ms: instant })),
  );
}
