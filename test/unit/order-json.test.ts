/**
 * The order's answer written straight from its result (src/http/wire/order-json.ts)
 * is the very text JSON.stringify gives of the OrderResponse built field by
 * field, as the API document says it, for any result; and the schema accepts it.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { orderResponseSchema, type OrderResponse } from '../../src/http/wire/api-schemas.js';
import { orderResponseText } from '../../src/http/wire/order-json.js';
import { stepJson } from '../../src/http/wire/responses.js';
import type { OrderResult } from '../../src/pipeline/order-pipeline.js';
import type { StepOutcome } from '../../src/pipeline/steps.js';

const KINDS = ['payment_declined', 'vendor_unavailable', 'no_courier', 'timeout', 'internal', 'thread_lost'] as const;

const step: fc.Arbitrary<StepOutcome> = fc.record(
  {
    name: fc.constantFrom('payment', 'vendor', 'courier', 'refund'),
    status: fc.constantFrom('ok', 'error', 'canceled'),
    durationMs: fc.nat(100_000),
    threadId: fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
    kind: fc.constantFrom(...KINDS),
    cause: fc.constantFrom(...KINDS),
    threadFate: fc.constantFrom('terminated', 'died'),
    attempts: fc.integer({ min: 1, max: 3 }),
    retries: fc.nat(3),
  },
  { requiredKeys: ['name', 'status', 'durationMs', 'threadId', 'attempts'] },
);

const result: fc.Arbitrary<OrderResult> = fc
  .record({
    orderId: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
    steps: fc.array(step, { minLength: 1, maxLength: 3 }),
    compensations: fc.array(step, { maxLength: 2 }),
    failure: fc.option(fc.constantFrom(...KINDS, 'compensation_failed'), { nil: undefined }),
  })
  // Compensations run only for a failed order.
  .map((result) => (result.failure ? result : { ...result, compensations: [] }));

/** The body as it was built before it was written straight: field by field, then JSON.stringify. */
function built(result: OrderResult): OrderResponse {
  const steps = result.steps.map(stepJson);
  if (!result.failure) return { status: 'ok', order_id: result.orderId, steps };
  return {
    status: 'error',
    order_id: result.orderId,
    steps,
    ...(result.compensations.length > 0 ? { compensations: result.compensations.map(stepJson) } : {}),
    error: { kind: result.failure, message: 'order failed' },
  };
}

describe('orderResponseText', () => {
  test.prop([result], { numRuns: 500 })('is JSON.stringify of the body built field by field', (result) => {
    expect(orderResponseText(result)).toBe(JSON.stringify(built(result)));
  });

  test.prop([result], { numRuns: 200 })('is what the API document says an order answer is', (result) => {
    const cleaned = { ...result, steps: result.steps.map(({ kind, cause, ...rest }) => rest), compensations: [] };
    expect(orderResponseSchema.safeParse(JSON.parse(orderResponseText(cleaned))).success).toBe(true);
  });
});
