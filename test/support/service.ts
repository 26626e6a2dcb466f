/**
 * A real service for a test: real HTTP on loopback, real worker threads,
 * started in this process from the TypeScript sources.
 */
import { pino, type Logger } from 'pino';
import type { Config } from '../../src/config.js';
import { startService, type RunningService } from '../../src/composition-root.js';
import type { HealthReport } from '../../src/http/api-schemas.js';
import type { StepDefinition } from '../../src/pipeline/steps.js';

export const TEST_CONFIG: Config = {
  host: '127.0.0.1',
  port: 0,
  threads: 2,
  couriers: 5,
  orderTimeoutMs: 2000,
  shutdownTimeoutMs: 5000,
  cancelGraceMs: 250,
  refundTimeoutMs: 1000,
  idempotencyTtlMs: 600_000,
  orderRecordsMaxBytes: 64 * 2 ** 20,
  threadMaxHeapMb: 512,
  maxInflight: 10_000,
  threadMaxTasks: 30_000,
  poolQueueLimit: 30_000,
  logLevel: 'silent',
  logBuffer: true,
  metrics: true,
  faultInjection: true,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5000,
  maxConnections: 10_000,
  connectionHardLimit: 15_000,
};

export interface TestService {
  readonly url: URL;
  readonly service: RunningService;
  /** POST /order with a JSON body; resolves with status and parsed body. */
  order(body: unknown, init?: { signal?: AbortSignal }): Promise<{ status: number; body: OrderResponse; ms: number }>;
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
  const svc: TestService = {
    url: service.url,
    service,
    async order(body, init = {}) {
      const started = performance.now();
      const response = await fetch(orderUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
        ...(init.signal ? { signal: init.signal } : {}),
      });
      const parsed = (await response.json()) as OrderResponse;
      return { status: response.status, body: parsed, ms: performance.now() - started };
    },
    async health() {
      const response = await fetch(new URL('/healthz', service.url));
      return (await response.json()) as HealthReport & { status: string };
    },
    shutdown: () => service.shutdown(),
  };
  await warmUp(svc);
  return svc;
}

/**
 * Load the step modules on every thread before a test measures anything: a
 * thread's first step pays for importing and compiling them.
 */
async function warmUp(svc: TestService): Promise<void> {
  const instant = { payment: 0, vendor: 0, courier: 0 };
  await Promise.all(Array.from({ length: 4 }, (_, i) => svc.order({ order_id: `warm-up-${i}`, amount: 1, delay_ms: instant })));
}
