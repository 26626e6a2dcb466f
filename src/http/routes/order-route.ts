/**
 * POST /order: check the media type, read at most 64 KiB, decode strictly,
 * hand the order to the idempotency desk — which replays it, joins it to a
 * run under way, refuses a reused order_id, or starts it if there is room —
 * answer with its outcome, and log one line for it. A client that goes away
 * cancels its order (once no other caller waits for it); nothing is sent to it.
 *
 * Every order runs at a priority tier (src/domain/tier.ts): its client's, or
 * a lower one its request asks for with the Order-Tier header. A request that
 * asks for a higher one is not refused: the header is ignored, the order runs
 * at its client's tier, and the answer's Order-Tier header says which — a
 * client library that sets the header everywhere loses no order to it, and
 * gains nothing either. A value that names no tier is 400 (a typo is told).
 */
import type { RequestHandler } from 'express';
import { NO_FAULTS } from '../../domain/faults.js';
import { keyOfOrder } from '../../domain/order.js';
import type { Caller } from '../../auth/caller.js';
import { DEFAULT_TIER, isTier, loweredTier, TIERS, type Tier } from '../../domain/tier.js';
import { NO_BREAKERS, type AdmissionRules } from '../../orders/order-admission.js';
import { readBody } from '../wire/body-reader.js';
import { requireJson } from '../wire/json-body.js';
import { decodeOrder } from '../wire/order-body.js';
import { OrderRequest, type Acceptance, type OrderRequestParts } from './order-request.js';
import { deferHeader } from '../wire/response-headers.js';
import { preferencesOf, type Preferences } from '../wire/preferences.js';

export { MAX_BODY_BYTES } from '../wire/body-reader.js';

/** What the HTTP layer needs to have an order answered: its admission's rules, and what answers it. */
export interface OrderRouteDependencies
  extends Omit<OrderRequestParts, 'dependencies' | 'tiers'>, Partial<Pick<AdmissionRules, 'dependencies'>> {
  /** Whether an order may carry `faults` (FAULT_INJECTION=on). */
  readonly faultInjection: boolean;
  /** ORDER_DEADLINE_MAX_MS: the longest `deadline_ms` an order may ask for. */
  readonly maxDeadlineMs: number;
  /** ORDER_TIMEOUT_MS: the deadline of an order that asks for none. */
  readonly orderTimeoutMs: number;
  /** Priority tiers: each caller's own, and the headroom and line of its admission; without: all standard. */
  readonly tiers?: NonNullable<AdmissionRules['tiers']> & { readonly tierOf: (caller: Caller) => Tier };
}

/** The request header that lowers an order's tier, and the answer's that says the tier it ran at. */
export const TIER_HEADER = 'order-tier';

export function orderRoute(dependencies: OrderRouteDependencies): RequestHandler[] {
  const { responder, faultInjection, maxDeadlineMs, orderTimeoutMs, tiers } = dependencies;
  const route: OrderRequestParts = { dependencies: NO_BREAKERS, ...dependencies };
  // Not an async function: what waits for the desk is the order's record (OrderRequest.submit), whose suspended frame
  // holds the record alone, not every local of the checks below.
  const run: RequestHandler = (req, res) => {
    const decoded = decodeOrder(Buffer.isBuffer(req.body) ? req.body : undefined, {
      faultInjection,
      client: res.locals.caller.client,
      maxDeadlineMs,
    });
    if (!decoded.ok) return responder.error(res, 'bad_request', decoded.message);
    const header = req.headers[TIER_HEADER];
    // Node joins a repeated header of this kind into one string: "free, free" names no tier.
    const asked = typeof header === 'string' && isTier(header) ? header : undefined;
    if (header !== undefined && asked === undefined)
      return responder.error(
        res,
        'bad_request',
        `${TIER_HEADER}: one of ${TIERS.join(', ')} (a tier at or below the client's own), got ${JSON.stringify(header)}`,
      );
    const tier = loweredTier(tiers?.tierOf(res.locals.caller) ?? DEFAULT_TIER, asked);
    const order = { ...decoded.order, tier };
    deferHeader(res, 'Order-Tier', tier);
    if (order.faults !== NO_FAULTS && !res.locals.caller.admin)
      return responder.error(
        res,
        'forbidden',
        "faults are the admin's: an order carrying them needs the admin key (ADMIN_KEY)",
      );
    res.locals.requestSpan?.carries(keyOfOrder(order));
    // Express's router leaves its `next` on the request, and with it the router's and the route's closures and their
    // contexts: 0.8 KB an order in flight (npm run measure -- order-memory). This route passes no request on.
    req.next = undefined;
    const acceptance = acceptanceOf(preferencesOf(req.headers.prefer), order.deadlineMs ?? orderTimeoutMs);
    new OrderRequest(route, res, order, acceptance).submit();
  };

  return [requireJson(responder), readBody(), run];
}

/**
 * `wait=N` is bounded by the order's own deadline: a wait as long or longer is the wait for the order's end, as without
 * the header. The run ends by its deadline (its refund soon after), so such a wait could only end in a 202 racing the
 * order's own answer: a timer set at the deadline from the request's arrival fires before the run's, set once the run
 * began. And setTimeout cuts a delay past 2^31 - 1 ms to 1 ms, which answered a wait of 25 days or more 202 at once; a
 * timer set here is shorter than the longest deadline (ORDER_DEADLINE_MAX_MS, an hour at most).
 *
 * `respond-async` with `wait=N` (RFC 7240 lets a client ask both) is the wait: the order's end if it comes within N
 * seconds, else 202, whose Preference-Applied names both. `respond-async` alone is a 202 at once.
 */
function acceptanceOf({ respondAsync, waitSeconds }: Preferences, deadlineMs: number): Acceptance | undefined {
  if (waitSeconds === undefined) return respondAsync ? { afterMs: 0, applied: 'respond-async' } : undefined;
  if (waitSeconds * 1000 >= deadlineMs) return undefined;
  const wait = `wait=${waitSeconds}`;
  return { afterMs: waitSeconds * 1000, applied: respondAsync ? `respond-async, ${wait}` : wait };
}
