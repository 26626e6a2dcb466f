/**
 * RFC 9457 problem details, for a client that asks for them
 * (`Accept: application/problem+json` preferred over `application/json`).
 * The service's own error shape (`{"status":"error","error":{kind,message}}`)
 * stays the default: without that header nothing changes.
 *
 * A problem's `type` is a stable URI per kind (PROBLEM_TYPE_BASE + kind),
 * `title` the kind's fixed summary, `status` the HTTP status, `detail` the
 * message the JSON shape would carry, `instance` the request id, and `kind`
 * an extension member. An order outcome that failed (a decline, a timeout…)
 * also keeps its `order_id`, `steps` and `compensations` as extensions.
 */
import Negotiator from 'negotiator';
import { z } from 'zod';
import type { ErrorKind } from '../../domain/errors.js';
import { stepSchema } from './api-schemas.js';
import { STATUS_BY_KIND } from './error-status.js';

export const PROBLEM_JSON = 'application/problem+json';

/**
 * Where every problem type's URI begins; the kind completes it. A tag URI (RFC 4151), which RFC 9457 §3.1.1 names
 * for types that need not resolve: stable without a domain to host them. Part of the API (docs/api.md).
 */
export const PROBLEM_TYPE_BASE = 'tag:order-threads,2026:problem:';

/**
 * Each kind's title: the same for every occurrence of the kind, as RFC 9457 asks. A kind not listed (a new
 * step's) is titled by its name, so that a new step needs nothing here.
 */
const TITLES: Readonly<Partial<Record<ErrorKind, string>>> = {
  bad_request: 'Bad request',
  payment_declined: 'Payment declined',
  unauthorized: 'No valid API key',
  forbidden: 'Not allowed with this key',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  request_timeout: 'Request did not arrive in time',
  payload_too_large: 'Body too large',
  unsupported_media_type: 'Body is not JSON',
  misdirected_request: 'Host not served here',
  cross_site_request: 'Request from a page elsewhere',
  idempotency_key_reuse: 'order_id used for a different order',
  too_many_webhooks: 'Too many webhook endpoints',
  events_gone: 'Events after the cursor are gone',
  rate_limited: 'Rate limit exceeded',
  headers_too_large: 'Headers too large',
  client_gone: 'Client gone',
  internal: 'Internal error',
  compensation_failed: 'Order failed and its refund failed',
  refund_failed: 'Refund failed',
  payment_unavailable: 'Payment provider unavailable',
  vendor_unavailable: 'Vendor unavailable',
  no_courier: 'No courier available',
  thread_lost: 'Worker thread lost',
  interrupted: 'Order interrupted',
  dead_lettered: 'Order dead-lettered',
  not_redrivable: 'Order not redrivable',
  money_unsettled: 'Order money not settled',
  outcome_unknown: 'Outcome unknown',
  store_unavailable: 'Order store unavailable',
  overloaded: 'Overloaded',
  shutting_down: 'Shutting down',
  timeout: 'Order timed out',
};

export const problemSchema = z
  .strictObject({
    type: z.string().meta({ description: `${PROBLEM_TYPE_BASE}<kind>: stable, one per kind.` }),
    title: z.string().meta({ description: "The kind's fixed summary." }),
    status: z.int().meta({ description: 'The HTTP status of this answer.' }),
    detail: z.string().meta({ description: 'What happened to this request: the message of the JSON shape.' }),
    instance: z.string().meta({ description: "This request's id (X-Request-Id)." }),
    kind: z.enum(Object.keys(STATUS_BY_KIND) as [ErrorKind, ...ErrorKind[]]).meta({
      description: 'The stable kind, as in the JSON shape.',
    }),
    order_id: z.string().optional().meta({ description: 'A failed order outcome: its order_id.' }),
    steps: z.array(stepSchema).optional().meta({ description: 'A failed order outcome: its steps.' }),
    compensations: z.array(stepSchema).optional().meta({ description: 'A failed order outcome: what was undone.' }),
    next: z.string().optional().meta({
      description: 'events_gone: the cursor that reads what is kept of the feed, from its oldest event.',
    }),
  })
  .meta({
    id: 'Problem',
    description:
      'RFC 9457 problem details, sent instead of the JSON shape when the request prefers application/problem+json. A failed order outcome also carries order_id, steps and compensations; events_gone carries next.',
  });

export type Problem = z.infer<typeof problemSchema>;

/** Whether a request with this Accept header prefers problem details to the service's JSON error shape. */
export function prefersProblem(accept: string | string[] | undefined): boolean {
  if (accept === undefined || !String(accept).includes(PROBLEM_JSON)) return false;
  return new Negotiator({ headers: { accept } }).mediaType(['application/json', PROBLEM_JSON]) === PROBLEM_JSON;
}

export function problem(
  kind: ErrorKind,
  detail: string,
  requestId: string,
  extensions: Pick<Problem, 'order_id' | 'steps' | 'compensations' | 'next'> = {},
): Problem {
  return {
    type: `${PROBLEM_TYPE_BASE}${kind}`,
    title: TITLES[kind] ?? titleOf(kind),
    status: STATUS_BY_KIND[kind],
    detail,
    instance: requestId,
    kind,
    ...extensions,
  };
}

/** `out_of_stock` → `Out of stock`. */
function titleOf(kind: string): string {
  const words = kind.replaceAll('_', ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}
