/**
 * Examples for the OpenAPI document: the order operations' request body and
 * every response of POST /order, GET /orders/{order_id} and the probes, each copied from
 * a real answer of the service (request ids and durations as they came).
 * test/integration/openapi.test.ts checks each against its schema; the
 * problem-details examples are made from these by the same function the
 * service answers with.
 */
import type { ErrorKind } from '../../domain/errors.js';
import type {
  ErrorResponse,
  HealthReport,
  OrderAcceptedJson,
  OrderResponse,
  OrderStatusJson,
  Readiness,
} from '../wire/api-schemas.js';

/** Any answer of the order operations. */
export type OrderAnswer = OrderResponse | ErrorResponse | OrderStatusJson | OrderAcceptedJson;

export interface Example<T> {
  readonly summary: string;
  readonly value: T;
}

const failure = (kind: ErrorKind, message: string): ErrorResponse => ({ status: 'error', error: { kind, message } });

export const ORDER_REQUEST_EXAMPLES: Record<string, Example<Record<string, unknown>>> = {
  plain: { summary: 'An order', value: { order_id: 'a-1', amount: 1200 } },
  declined: {
    summary: 'An order whose payment is declined (the README’s quick start)',
    value: { order_id: 'a-2', amount: 1200, fail_step: 'payment', delay_ms: { vendor: 800, courier: 800 } },
  },
};

export const CREATE_ORDER_EXAMPLES: Record<string, Record<string, Example<OrderAnswer>>> = {
  200: {
    ok: {
      summary: 'Every step succeeded',
      value: {
        status: 'ok',
        order_id: 'a-1',
        steps: [
          { name: 'payment', status: 'ok', duration_ms: 165, thread_id: 1 },
          { name: 'vendor', status: 'ok', duration_ms: 215, thread_id: 1 },
          { name: 'courier', status: 'ok', duration_ms: 116, thread_id: 1 },
        ],
      },
    },
  },
  202: {
    accepted: {
      summary: 'Prefer: respond-async — under way, its end told later',
      value: { status: 'accepted', order_id: 'a-7', lifecycle: 'accepted' },
    },
    waited: {
      summary:
        'Prefer: respond-async, wait=1 — the order outlasted the second it was waited for (Preference-Applied: respond-async, wait=1)',
      value: { status: 'accepted', order_id: 'a-8', lifecycle: 'accepted' },
    },
  },
  400: {
    declined: {
      summary: 'The payment was declined: an order outcome',
      value: {
        status: 'error',
        order_id: 'a-2',
        steps: [
          { name: 'payment', status: 'error', duration_ms: 153, thread_id: 1, detail: 'payment_declined' },
          { name: 'vendor', status: 'canceled', duration_ms: 153, thread_id: 1, detail: 'canceled: payment_declined' },
          { name: 'courier', status: 'ok', duration_ms: 102, thread_id: 1 },
        ],
        error: { kind: 'payment_declined', message: 'order failed' },
      },
    },
    bad_request: {
      summary: 'A bad request: no order ran',
      value: failure('bad_request', 'amount: Invalid input: expected number, received string'),
    },
  },
  401: {
    unauthorized: {
      summary: 'No API key',
      value: failure('unauthorized', 'an API key is needed: Authorization: Bearer <key>'),
    },
  },
  403: {
    forbidden: {
      summary: "Faults with a client's key",
      value: failure('forbidden', "faults are the admin's: an order carrying them needs the admin key (ADMIN_KEY)"),
    },
    cross_site_request: {
      summary: 'Sent by a page of another site, with credentials the browser kept',
      value: failure(
        'cross_site_request',
        "POST from a page of another site (Sec-Fetch-Site: cross-site) is refused: only this service's own pages and API clients may change anything",
      ),
    },
  },
  405: {
    method_not_allowed: {
      summary: 'PUT',
      value: failure('method_not_allowed', 'PUT is not allowed on /order; use POST'),
    },
  },
  409: {
    canceled: {
      summary: 'Canceled while its vendor and courier ran (POST /orders/{order_id}/cancel); the payment was refunded',
      value: {
        status: 'error',
        order_id: 'a-6',
        steps: [
          { name: 'payment', status: 'ok', duration_ms: 2, thread_id: 1 },
          { name: 'vendor', status: 'canceled', duration_ms: 311, thread_id: 2, detail: 'canceled: canceled' },
          { name: 'courier', status: 'canceled', duration_ms: 311, thread_id: 1, detail: 'canceled: canceled' },
        ],
        compensations: [{ name: 'refund', status: 'ok', duration_ms: 1, thread_id: 2 }],
        error: { kind: 'canceled', message: 'order failed' },
      },
    },
  },
  413: { payload_too_large: { summary: 'Too long', value: failure('payload_too_large', 'body exceeds 65536 bytes') } },
  415: {
    unsupported_media_type: {
      summary: 'Not JSON',
      value: failure('unsupported_media_type', 'Content-Type must be application/json, got text/plain'),
    },
  },
  421: {
    misdirected_request: {
      summary: 'Another host',
      value: failure(
        'misdirected_request',
        'this service does not answer for elsewhere.example; ALLOWED_HOSTS lists the names it does',
      ),
    },
  },
  422: {
    idempotency_key_reuse: {
      summary: 'The order_id of another order',
      value: failure(
        'idempotency_key_reuse',
        'order_id a-0 was used for a different order; send this one with a new order_id',
      ),
    },
  },
  429: {
    rate_limited: {
      summary: 'Over the rate limit',
      value: failure(
        'rate_limited',
        'client shop-a may send 1 orders a second (CLIENT_RATE_LIMIT); nothing of this one was read or started; retry in 1 s',
      ),
    },
    keyless: {
      summary: 'Without a valid key, past the address’s rate',
      value: failure(
        'rate_limited',
        'requests without a valid API key are limited to 100 a second from one address; retry in 1 s',
      ),
    },
  },
  500: {
    compensation_failed: {
      summary: 'The order failed and its refund failed too',
      value: {
        status: 'error',
        order_id: 'a-11',
        steps: [
          { name: 'payment', status: 'ok', duration_ms: 159, thread_id: 1 },
          { name: 'vendor', status: 'error', duration_ms: 209, thread_id: 1, detail: 'vendor_unavailable' },
          { name: 'courier', status: 'ok', duration_ms: 109, thread_id: 1 },
        ],
        compensations: [{ name: 'refund', status: 'error', duration_ms: 52, thread_id: 1, detail: 'refund_failed' }],
        error: { kind: 'compensation_failed', message: 'order failed' },
      },
    },
  },
  503: {
    vendor_unavailable: {
      summary: 'The vendor was out (Retry-After: 1); the payment was refunded',
      value: {
        status: 'error',
        order_id: 'a-13',
        steps: [
          { name: 'payment', status: 'ok', duration_ms: 155, thread_id: 1 },
          { name: 'vendor', status: 'error', duration_ms: 205, thread_id: 1, detail: 'vendor_unavailable' },
          { name: 'courier', status: 'ok', duration_ms: 104, thread_id: 1 },
        ],
        compensations: [{ name: 'refund', status: 'ok', duration_ms: 52, thread_id: 1 }],
        error: { kind: 'vendor_unavailable', message: 'order failed' },
      },
    },
    overloaded: {
      summary: 'Too many orders in flight: nothing started (Retry-After: 1)',
      value: failure('overloaded', '10000 orders are in flight; retry shortly'),
    },
  },
  504: {
    timeout: {
      summary: 'ORDER_TIMEOUT_MS passed; the payment was refunded',
      value: {
        status: 'error',
        order_id: 'a-5',
        steps: [
          { name: 'payment', status: 'ok', duration_ms: 155, thread_id: 1 },
          { name: 'vendor', status: 'canceled', duration_ms: 302, thread_id: 1, detail: 'canceled: timeout' },
          { name: 'courier', status: 'ok', duration_ms: 106, thread_id: 1 },
        ],
        compensations: [{ name: 'refund', status: 'ok', duration_ms: 52, thread_id: 1 }],
        error: { kind: 'timeout', message: 'order failed' },
      },
    },
  },
};

export const GET_ORDER_EXAMPLES: Record<string, Record<string, Example<OrderAnswer>>> = {
  200: {
    done: {
      summary: 'Done: charged once, nothing refunded',
      value: {
        order_id: 'a-1',
        state: 'done',
        outcome: { http_status: 200, kind: 'ok' },
        runs: 1,
        payment: { charged: 1200, refunded: 0 },
        lifecycle: 'succeeded',
      },
    },
  },
  400: {
    bad_request: {
      summary: 'A path that is not UTF-8',
      value: failure('bad_request', 'the path is not well-formed percent-encoded UTF-8'),
    },
  },
  401: CREATE_ORDER_EXAMPLES[401]!,
  404: { not_found: { summary: 'Never seen', value: failure('not_found', 'no record of order nope') } },
  405: {
    method_not_allowed: {
      summary: 'DELETE',
      value: failure('method_not_allowed', 'DELETE is not allowed on /orders/a-1; use GET, HEAD'),
    },
  },
  421: CREATE_ORDER_EXAMPLES[421]!,
  429: { keyless: CREATE_ORDER_EXAMPLES[429]!['keyless']! },
  503: {
    overloaded: {
      summary: "Too many reads wait for the reads' connections to Postgres (Retry-After: 1)",
      value: failure('overloaded', 'too many reads at once; retry shortly'),
    },
  },
};

const health: HealthReport & { status: 'ok' | 'draining' } = {
  status: 'ok',
  running_steps: 0,
  threads: 2,
  queued: 0,
  couriers_busy: 0,
  couriers: 5,
  orders_in_flight: 0,
  threads_replaced: 0,
  per_thread: [
    { thread_id: 1, steps: 0, utilization: 0.029833355731082888 },
    { thread_id: 2, steps: 0, utilization: 0.037110998189678446 },
  ],
  breakers: {
    payment: { state: 'closed', consecutive_failures: 0, open_until: null },
    vendor: { state: 'closed', consecutive_failures: 0, open_until: null },
    courier: { state: 'closed', consecutive_failures: 0, open_until: null },
  },
  fault_injection: false,
  access: 'open',
};
const ready: Readiness = { status: 'ready', orders_in_flight: 0, max_inflight: 10000 };

/** The probes' answers: liveness stays 200 while draining (it says so); readiness turns 503. */
export const PROBE_EXAMPLES: Record<string, Record<string, Record<string, Example<unknown>>>> = {
  getHealth: {
    200: {
      ok: { summary: 'Two idle threads', value: health },
      draining: { summary: 'Draining: still alive, not to be restarted', value: { ...health, status: 'draining' } },
    },
  },
  getReadiness: {
    200: { ready: { summary: 'Ready', value: ready } },
    503: { draining: { summary: 'Draining', value: { ...ready, status: 'draining' } } },
  },
};
