/**
 * What the generator cannot say of each operation, added once to the whole
 * document: the tags, the examples, the shared headers, problem details beside
 * every JSON error, and HEAD wherever GET is served.
 */
import { PROBLEM_JSON, problem } from '../wire/problem-details.js';
import {
  CREATE_ORDER_EXAMPLES,
  GET_ORDER_EXAMPLES,
  ORDER_REQUEST_EXAMPLES,
  PROBE_EXAMPLES,
  type Example,
  type OrderAnswer,
} from './api-examples.js';
import type { Document } from './shared.js';

const TAGS = [
  { name: 'orders', description: 'Sending orders and reading them back.' },
  { name: 'health', description: 'Liveness and readiness probes: public.' },
  { name: 'events', description: "What became of a client's orders, after the fact: the event feed and webhooks." },
  { name: 'admin', description: 'The admin surface: metrics, the thread view, the dependencies, redeliveries.' },
  { name: 'meta', description: 'This document.' },
];
/** The operations whose answers carry an order or money, and which of their statuses do. */
const NO_STORE_ANSWERS: Record<string, readonly string[]> = {
  createOrder: ['200', '400', '500', '503', '504'],
};
const ref = (to: string) => ({ $ref: `#/components/${to}` });

const REQUEST_EXAMPLES: Record<string, Record<string, Example<unknown>>> = {
  createOrder: ORDER_REQUEST_EXAMPLES,
  createWebhook: {
    endpoint: {
      summary:
        'Events to an https endpoint: name your own. This one, under .example, never resolves, so as it is it is refused (400), as every URL that does not resolve to a public address is: an example that registered would send real events to a real host.',
      value: { url: 'https://shop.example/hooks/orders' },
    },
  },
  setDependencyOutage: {
    partial: {
      summary: 'Half the calls fail, every one 10 ms late',
      value: { outage: true, failure_ratio: 0.5, latency_ms: 10 },
    },
    off: { summary: 'End the outage', value: { outage: false } },
  },
  setLogLevel: { debug: { summary: 'Every step logs from its thread', value: { level: 'debug' } } },
};
const RESPONSE_EXAMPLES: Record<string, Record<string, Record<string, Example<OrderAnswer>>>> = {
  createOrder: CREATE_ORDER_EXAMPLES,
  getOrder: GET_ORDER_EXAMPLES,
};

/** The same answers as problem details, as a request preferring them gets them (src/http/wire/problem-details.ts). */
function problemExamples(examples: Record<string, Example<OrderAnswer>>): Record<string, Example<unknown>> {
  const problems: Record<string, Example<unknown>> = {};
  for (const [name, { summary, value }] of Object.entries(examples)) {
    if (!('error' in value) || !value.error) continue;
    const outcome =
      'steps' in value
        ? {
            order_id: value.order_id,
            steps: value.steps,
            ...(value.compensations ? { compensations: value.compensations } : {}),
          }
        : {};
    problems[name] = { summary, value: problem(value.error.kind, value.error.message, 'req-problem-1', outcome) };
  }
  return problems;
}

type Operation = {
  operationId?: string;
  summary?: string;
  responses: Record<
    string,
    { description: string; headers?: Record<string, unknown>; content?: Record<string, unknown> }
  >;
} & Record<string, unknown>;

/**
 * What every operation shares, added once here rather than in each: X-Request-Id on every response (a shared
 * header component), problem details beside every JSON error, Cache-Control on answers with money, and HEAD
 * wherever GET is served (Express answers it with GET's headers and no body).
 */
export function completed(document: Document): Document {
  const paths = document.paths as Record<string, Record<string, Operation>>;
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      const noStore = NO_STORE_ANSWERS[operation.operationId ?? ''] ?? [];
      const requestExamples = REQUEST_EXAMPLES[operation.operationId ?? ''];
      const body = operation['requestBody'] as { content: Record<string, Record<string, unknown>> } | undefined;
      if (requestExamples && body?.content['application/json'])
        body.content['application/json']['examples'] = requestExamples;
      const examples = RESPONSE_EXAMPLES[operation.operationId ?? ''] ?? {};
      for (const [status, response] of Object.entries(operation.responses)) {
        const content = response.content as Record<string, Record<string, unknown>> | undefined;
        // Errors and failed order outcomes, which a request preferring problem details gets as one; a probe's 503 is
        // its report, not an error.
        const answer = JSON.stringify(content?.['application/json']?.['schema'] ?? null);
        if (Number(status) >= 400 && /ErrorResponse|OrderFailed/.test(answer) && content)
          content[PROBLEM_JSON] ??= { schema: ref('schemas/Problem') };
        // An order outcome or a plain error, never both: an outcome always has steps, a plain error never (both
        // are closed shapes). No field has a value that tells them apart without changing the seed's wire format,
        // so no discriminator: `steps` in the body is the test (docs/api.md).
        const either = content?.['application/json']?.['schema'] as { anyOf?: unknown } | undefined;
        if (either?.anyOf) content!['application/json']!['schema'] = { oneOf: either.anyOf };
        const these = examples[status];
        const probe = PROBE_EXAMPLES[operation.operationId ?? '']?.[status];
        if (probe && content?.['application/json']) content['application/json']['examples'] = probe;
        if (these && content?.['application/json']) {
          content['application/json']['examples'] = these;
          if (content[PROBLEM_JSON]) content[PROBLEM_JSON]['examples'] = problemExamples(these);
        }
        response.headers = {
          'X-Request-Id': ref('headers/X-Request-Id'),
          traceresponse: ref('headers/traceresponse'),
          ...(noStore.includes(status) ? { 'Cache-Control': ref('headers/Cache-Control') } : {}),
          ...response.headers,
        };
      }
    }
    const get = item['get'];
    if (get) {
      item['head'] = {
        ...get,
        operationId: `${get.operationId}Head`,
        summary: `Headers only: ${get.summary}`,
        responses: Object.fromEntries(
          Object.entries(get.responses).map(([status, { content: _body, ...response }]) => [status, response]),
        ),
      };
    }
  }
  return {
    ...document,
    info: { ...document.info, license: { name: 'MIT', identifier: 'MIT' } },
    tags: TAGS,
    components: {
      ...document.components,
      headers: {
        ...document.components?.headers,
        'X-Request-Id': {
          description:
            "The request id, on every response: the one sent, if it looked like one (1-128 of A-Z a-z 0-9 . _ -), or a new one. A problem's instance.",
          required: true,
          schema: { type: 'string' },
        },
        traceresponse: {
          description:
            "W3C Trace Context Level 2: `00-{trace id}-{span id}-{flags}` — the request's trace (the caller's, if it sent a traceparent), the span that answered it, and whether the trace is recorded (01) or not (00). Every log line of its order carries the trace id as trace_id, exported spans or not. On every response but a malformed request's refused before it was parsed.",
          required: false,
          schema: { type: 'string', pattern: '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' },
        },
        'Cache-Control': {
          description:
            '`no-store` on every answer that carries an order or money, and on every error: no cache may keep it.',
          required: true,
          schema: { type: 'string', const: 'no-store' },
        },
      },
    },
  };
}
