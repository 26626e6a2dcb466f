/**
 * The edge says each refusal of the orders layer (src/http/wire/refusal-answers.ts): its kind — and so its status —
 * whether the order counts as shed, and the headers it carries.
 */
import { describe, expect, it } from 'vitest';
import { STATUS_BY_KIND } from '../../src/http/wire/error-status.js';
import { refusalAnswer } from '../../src/http/wire/refusal-answers.js';
import { SHUTTING_DOWN_MESSAGE } from '../../src/http/wire/responses.js';
import type { Refusal } from '../../src/orders/admission.js';

const CONTEXT = { tier: 'free', maxInflight: 10 } as const;

describe('a refusal, said', () => {
  it.each<[Refusal, string, boolean, RegExp]>([
    [
      { refused: 'service_full', full: 'orders_in_flight' },
      'overloaded',
      true,
      /^10 orders are in flight; .*\(tier free\)$/,
    ],
    [{ refused: 'service_full', full: 'records' }, 'overloaded', true, /^no room to record another order/],
    [
      { refused: 'tier_full', tier: 'free', bounded: 'records', used: 3 * 2 ** 20, limit: 2 * 2 ** 20 },
      'overloaded',
      true,
      /^tier free is shed: the order records hold 3\.0 MB, its ceiling is 2\.0 MB \(TIER_CEILINGS\)/,
    ],
    [
      { refused: 'over_share', client: 'acme', share: 'orders_in_flight', held: 4, limit: 4 },
      'overloaded',
      true,
      /^client acme has 4 orders in flight/,
    ],
  ])('%j: %s, shed %s', (refusal, kind, shed, message) => {
    const answer = refusalAnswer(refusal, CONTEXT);
    expect(answer).toMatchObject({ kind, shed });
    expect(answer.message).toMatch(message);
    expect(STATUS_BY_KIND[answer.kind]).toBe(503);
  });

  it('says draining as the drain says it everywhere, not shed', () => {
    expect(refusalAnswer({ refused: 'draining' }, CONTEXT)).toEqual({
      kind: 'shutting_down',
      message: SHUTTING_DOWN_MESSAGE,
      shed: false,
    });
  });

  it('answers a dependency that is down with its own kind and when its breaker may let an order through', () => {
    const answer = refusalAnswer(
      { refused: 'dependency_down', unavailable: 'no_courier', dependency: 'the courier service', retryAfterMs: 1200 },
      CONTEXT,
    );
    expect(answer).toMatchObject({ kind: 'no_courier', shed: false, headers: { 'Retry-After': '2' } });
    expect(answer.message).toBe(
      'the courier service is unavailable (its circuit breaker is open): nothing was started; retry in 2 s',
    );
  });
});
