/**
 * The README's flow as an integrator writes it, with nothing of this project
 * but the types openapi-typescript generated from the served document
 * (api-types.ts) and openapi-fetch: place an order, read it back, handle a
 * decline, a 401 and a 404. It compiles — with strict, exactOptionalPropertyTypes
 * and noUncheckedIndexedAccess, and without a cast — only if the document names
 * every operation and body well enough, and types an order's success and its
 * failure apart; test/integration/generated-client.test.ts compiles it and
 * runs it against a real server, open and with keys.
 *
 * The client is made for `application/json`, the media type every answer has
 * unless the request prefers problem details (docs/api.md): without it,
 * openapi-fetch types each error as the JSON shape or a Problem.
 */
import createClient from 'openapi-fetch';
import type { operations, paths } from './api-types.js';

export interface FlowReport {
  readonly placed: {
    readonly status: number;
    readonly outcome: 'ok';
    readonly orderId: string;
    readonly requestId: string | null;
  };
  readonly readBack: operations['getOrder']['responses'][200]['content']['application/json'];
  readonly declined: { readonly status: number; readonly kind: string; readonly charged: number };
  /** The kind a request without a key got, or undefined in open mode (which needs none). */
  readonly withoutKey: string | undefined;
  readonly unknown: { readonly status: number; readonly kind: string };
}

export async function readmeFlow(baseUrl: string, key: string | undefined, prefix: string): Promise<FlowReport> {
  const client = createClient<paths, 'application/json'>({
    baseUrl,
    ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}),
  });
  const instant = { payment: 0, vendor: 0, courier: 0 };

  const placed = await client.POST('/order', { body: { order_id: `${prefix}-ok`, amount: 1200, delay_ms: instant } });
  if (!placed.data) throw new Error(`the order failed: ${placed.response.status} ${JSON.stringify(placed.error)}`);
  // A 2xx is the order's success (200), or an order accepted (202) for a request that asked with Prefer: `status`
  // tells them apart, and once it says "ok" the type is the success alone.
  if (placed.data.status !== 'ok') throw new Error(`expected the order's end, got ${placed.data.status}`);
  const succeeded: 'ok' = placed.data.status;

  const read = await client.GET('/orders/{order_id}', { params: { path: { order_id: placed.data.order_id } } });
  if (!read.data) throw new Error(`reading it back failed: ${read.response.status}`);

  const decline = await client.POST('/order', {
    body: { order_id: `${prefix}-declined`, amount: 1200, fail_step: 'payment', delay_ms: instant },
  });
  // A 400 of createOrder is an order outcome (it has steps) or a plain error; a Problem only when asked for one.
  const declinedBody = decline.error;
  if (decline.response.status !== 400 || declinedBody === undefined || !('steps' in declinedBody))
    throw new Error(`expected a declined order, got ${decline.response.status}`);
  const afterDecline = await client.GET('/orders/{order_id}', {
    params: { path: { order_id: declinedBody.order_id } },
  });

  let withoutKey: string | undefined;
  if (key) {
    const anonymous = createClient<paths, 'application/json'>({ baseUrl });
    const refused = await anonymous.GET('/orders/{order_id}', { params: { path: { order_id: `${prefix}-ok` } } });
    if (refused.response.status !== 401 || !refused.error)
      throw new Error(`expected 401 without a key, got ${refused.response.status}`);
    withoutKey = refused.error.error.kind;
  }

  const missing = await client.GET('/orders/{order_id}', { params: { path: { order_id: `${prefix}-never-sent` } } });
  if (missing.response.status !== 404 || !missing.error)
    throw new Error(`expected 404, got ${missing.response.status}`);

  return {
    placed: {
      status: placed.response.status,
      outcome: succeeded,
      orderId: placed.data.order_id,
      requestId: placed.response.headers.get('x-request-id'),
    },
    readBack: read.data,
    declined: {
      status: decline.response.status,
      // A failed order's error is there, always: no `?.`.
      kind: declinedBody.error.kind,
      charged: afterDecline.data?.payment.charged ?? -1,
    },
    withoutKey,
    unknown: { status: missing.response.status, kind: missing.error.error.kind },
  };
}
