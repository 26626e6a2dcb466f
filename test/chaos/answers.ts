/**
 * What an answer to POST /order says, as the clients and the checker read
 * it: the outcome's kind ('ok' or the failure), and whether it is final —
 * the service's own rule (PASSING_FAILURES): a final answer is replayed
 * byte for byte to every later request with the same order, a passing one
 * (timeout, interrupted, thread_lost…) is not, and a retry runs the order
 * again.
 */
import type { OrderFailureKind } from '../../src/domain/errors.js';
import { PASSING_FAILURES } from '../../src/orders/replayed-outcomes.js';
import type { AttemptEnd } from './history.js';

export interface Reading {
  readonly status: number;
  /** 'ok', the failure's kind, or `http_<status>` for a body that is not the service's JSON. */
  readonly kind: string;
  /**
   * An order's outcome (the body carries order_id and steps), not a refusal of the request itself (400 bad_request, 503
   * overloaded…).
   */
  readonly outcome: boolean;
  /** Replayed to every later request with the same order. */
  readonly final: boolean;
}

export function readAnswer(end: AttemptEnd): Reading | undefined {
  if (end.kind !== 'answered') return undefined;
  let body: { status?: unknown; order_id?: unknown; steps?: unknown; error?: { kind?: unknown } };
  try {
    body = JSON.parse(end.body) as typeof body;
  } catch {
    return { status: end.status, kind: `http_${end.status}`, outcome: false, final: false };
  }
  // Accepted now, answered later (Prefer): not an outcome, and not a refusal either.
  if (end.status === 202 && body.status === 'accepted')
    return { status: 202, kind: 'accepted', outcome: false, final: false };
  const outcome = typeof body.order_id === 'string' && Array.isArray(body.steps);
  const kind =
    end.status === 200 ? 'ok' : typeof body.error?.kind === 'string' ? body.error.kind : `http_${end.status}`;
  return { status: end.status, kind, outcome, final: outcome && !PASSING_FAILURES.has(kind as OrderFailureKind) };
}
