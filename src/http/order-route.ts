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
import type { RequestHandler, Response } from 'express';
import type { ErrorKind } from '../domain/errors.js';
import { NO_FAULTS } from '../domain/faults.js';
import { keyOfOrder, type Order } from '../domain/order.js';
import type { Caller } from '../auth/caller.js';
import { DEFAULT_TIER, isTier, loweredTier, rankOf, TIERS, type Tier } from '../domain/tier.js';
import type { ClientShares } from '../orders/client-shares.js';
import type { AdmissionLine, LineWaiter } from '../fairness/admission-line.js';
import type { TierFull, TierHeadroom } from '../fairness/tier-headroom.js';
import { OrderWaiter } from '../orders/order-waiter.js';
import type { Admission, AdmissionPolicy, DependencyDown, Refusal, ShareFull } from '../orders/admission.js';
import type { AnsweredVia, OrderDesk, Submission } from '../orders/order-desk.js';
import type { OrderObserver } from '../observability/metrics.js';
import type { OrderResult } from '../pipeline/order-pipeline.js';
import type { StepOutcome } from '../pipeline/steps.js';
import { readBody } from './body-reader.js';
import type { Capacity } from './health-route.js';
import { requireJson } from './json-body.js';
import { decodeOrder } from './order-body.js';
import { writeRequestLine } from './request-log.js';
import { deferHeader } from './response-headers.js';
import { STATUS_BY_KIND } from './error-status.js';
import { NO_STORE, SHUTTING_DOWN_MESSAGE, statusOf, type Responder } from './responses.js';
import { preferencesOf, type Preferences } from './preferences.js';
import type { OrderAcceptedJson } from './api-schemas.js';

export { MAX_BODY_BYTES } from './body-reader.js';

const NONE: readonly StepOutcome[] = [];
/** Said of an answer replayed from the records. */
const REPLAYED: Readonly<Record<string, string>> = { 'Idempotent-Replayed': 'true' };

/** What the HTTP layer needs to have an order answered. */
export interface OrderRouteDependencies {
  readonly orders: Pick<OrderDesk, 'submit'>;
  readonly capacity: () => Capacity;
  readonly draining: () => boolean;
  readonly responder: Responder;
  readonly observer: OrderObserver;
  /** Whether an order may carry `faults` (FAULT_INJECTION=on). */
  readonly faultInjection: boolean;
  /** ORDER_DEADLINE_MAX_MS: the longest `deadline_ms` an order may ask for. */
  readonly maxDeadlineMs: number;
  /** What the dependencies' circuit breakers say of a new order (asked last, once it would otherwise start). */
  readonly dependencies?: (client: string) => Admission;
  /** Each client's share of the orders in flight and of the records (the bulkheads); without: none. */
  readonly clientShares?: Pick<ClientShares, 'asked' | 'fullFor' | 'counted' | 'wouldFit'>;
  /**
   * Priority tiers: each caller's own, the headroom kept at admission for the tiers above, and the line where an order
   * refused for want of room waits and ages; without: all standard.
   */
  readonly tiers?: {
    readonly tierOf: (caller: Caller) => Tier;
    readonly headroom: Pick<TierHeadroom, 'fullFor'>;
    readonly line?: Pick<AdmissionLine, 'join' | 'leave'>;
  };
  /** Answers a request that failed, as the app's error handler does: the route answers its own failures. */
  readonly failed: (error: unknown, res: Response) => void;
}

/** The request header that lowers an order's tier, and the answer's that says the tier it ran at. */
export const TIER_HEADER = 'order-tier';

export function orderRoute(dependencies: OrderRouteDependencies): RequestHandler[] {
  const route: RouteParts = { dependencies: () => 'admitted', ...dependencies };
  const { responder, faultInjection, maxDeadlineMs, tiers } = route;
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
    new OrderRequest(route, res, order, acceptanceOf(preferencesOf(req.headers.prefer))).submit();
  };

  return [requireJson(responder), readBody(), run];
}

/**
 * When a request is answered 202 and hears its order's end later (RFC 7240): at once (`respond-async`), after N
 * seconds (`wait=N`) — each once the run is under way — or never (no preference: the end is the answer).
 */
interface Acceptance {
  readonly afterMs: number;
  /** Preference-Applied. */
  readonly applied: string;
}

function acceptanceOf({ respondAsync, waitSeconds }: Preferences): Acceptance | undefined {
  if (respondAsync) return { afterMs: 0, applied: 'respond-async' };
  return waitSeconds === undefined ? undefined : { afterMs: waitSeconds * 1000, applied: `wait=${waitSeconds}` };
}

/** What every order's request shares: the route's dependencies, with its defaults. */
type RouteParts = OrderRouteDependencies & Required<Pick<OrderRouteDependencies, 'dependencies'>>;

/** An order's request closed: its client went away, or it was answered. `this`: the response. */
function clientClosed(this: Response): void {
  this.locals.orderRequest?.clientClosed();
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** The order a request carries, while the desk has it. */
      orderRequest?: { clientClosed(): void };
    }
  }
}

/**
 * One order's request while the desk has it: the waiter whose going cancels the order, the admission policy the desk
 * asks before a run starts, and every way the request is answered — as one record whose methods are shared by every
 * order, not a family of closures made for each (5,000 orders in flight held 7 closures and their context
 * each).
 */
class OrderRequest extends OrderWaiter implements AdmissionPolicy, LineWaiter {
  /** When it first waited in the admission line (its age there, kept through every try); NaN until then. */
  since = Number.NaN;
  readonly answeredOnceUnderWay: boolean;
  /** Its run is under way; and it was answered 202 (it hears the end later). */
  private underWay = false;
  private accepted = false;
  /** `wait=N`'s N seconds passed before the end. */
  private waited = false;
  private waitTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly route: RouteParts,
    private readonly res: Response,
    private readonly order: Order & { readonly tier: Tier },
    private readonly acceptance: Acceptance | undefined,
  ) {
    super();
    this.answeredOnceUnderWay = acceptance !== undefined;
  }

  /**
   * Handed to the desk, and answered with what it says. Not an async function: an order in flight keeps the desk's
   * promise and the two reactions below, not a suspended frame of this method (its registers, its own promise and
   * the await's closures: 0.3 KB an order, npm run measure -- order-memory). A failure is answered here, as the app's
   * error handler would: a promise handed back to Express would keep the router's closures until the order's end.
   */
  submit(): void {
    const { res } = this;
    res.locals.orderRequest = this;
    // One listener for every order's request (not `once`, which wraps each in a closure of its own).
    res.on('close', clientClosed);
    // The request's line waits for the order's outcome, even if the client leaves first.
    res.locals.orderRunning = true;
    if (res.req.socket.destroyed) this.clientClosed();
    if (this.acceptance && this.acceptance.afterMs > 0)
      this.waitTimer = setTimeout(() => this.waitOver(), this.acceptance.afterMs).unref();
    // The desk's submit is an async function: whatever goes wrong in it is its promise's, never thrown here.
    void this.route.orders.submit(this.order, this, res.locals.trace, this).then(
      (submission) => {
        res.off('close', clientClosed);
        clearTimeout(this.waitTimer);
        try {
          if (this.accepted) this.endedAfterAccepted(submission);
          else this.answer(submission);
        } catch (error) {
          this.failed(error);
        }
      },
      (error: unknown) => {
        res.off('close', clientClosed);
        this.failed(error);
      },
    );
  }

  /** What Express does with a handler's failure: the error handler's answer, or the connection closed mid-answer. */
  private failed(error: unknown): void {
    const { res } = this;
    if (!res.headersSent) return this.route.failed(error, res);
    res.locals.log.error({ err: error }, 'request failed after its answer began');
    res.destroy();
  }

  /** Under way: a request that asked (respond-async, or wait=N past) is answered 202 now. */
  runUnderWay(): void {
    this.underWay = true;
    if (this.acceptance?.afterMs === 0 || this.waited) this.accept();
  }

  private waitOver(): void {
    this.waited = true;
    if (this.underWay) this.accept();
  }

  /**
   * 202, with where its end will be told. From now on the request's going is not the client's leaving the order: it
   * waits for the end no more, and the run goes on for as long as it would have.
   */
  private accept(): void {
    const { res, order } = this;
    if (this.accepted || res.headersSent || this.gone) return;
    this.accepted = true;
    clearTimeout(this.waitTimer);
    res.off('close', clientClosed);
    const body: OrderAcceptedJson = { status: 'accepted', order_id: order.orderId, lifecycle: 'accepted' };
    this.route.responder.json(res, 202, body, {
      ...NO_STORE,
      Location: `/orders/${encodeURIComponent(order.orderId)}`,
      'Preference-Applied': this.acceptance!.applied,
    });
  }

  /** The order answered 202 has ended: its line and metrics say how (the client hears it through its events). */
  private endedAfterAccepted(submission: Submission): void {
    if (submission.kind !== 'answered') return this.answered('internal', 202, undefined);
    const { result, via } = submission;
    this.answered(result.failure ?? 'ok', 202, result, via);
  }

  /** The connection closed before the answer was written: the client went away. */
  clientClosed(): void {
    const { res } = this;
    if (res.writableEnded) return;
    this.leave();
    if (!Number.isNaN(this.since)) this.route.tiers?.line?.leave(this);
    // Node treats a half-closed connection as gone but keeps it open for
    // a response that will never come; release it now.
    res.destroy();
  }

  // Asked by the desk with no await before the run starts, which counts the
  // order at once: never more than MAX_INFLIGHT orders in flight. Asked
  // once the body has arrived, however long that took: an order whose body
  // finishes arriving after draining began is not admitted.
  admit(): Admission {
    const { draining, clientShares, capacity, tiers, dependencies, observer } = this.route;
    const { client, tier } = this.order;
    if (draining()) return 'shutting_down';
    // Before the service is found full: a client turned away is still one whose floor must be kept.
    clientShares?.asked(client);
    const { ordersInFlight, maxInflight } = capacity();
    if (ordersInFlight >= maxInflight) return 'overloaded';
    // Before the client's share: an order its tier may not start is no refusal of the client's share.
    const tierFull = tiers?.headroom.fullFor(tier, ordersInFlight, this.waitedMs());
    if (tierFull) return tierFull;
    // The breakers last: a half-open one lets one probe order through, which must not be an order shed here.
    const admission = clientShares
      ? (clientShares.fullFor(client) ?? clientShares.counted(client, dependencies(client)))
      : dependencies(client);
    if (admission === 'admitted' || (typeof admission === 'object' && 'admitted' in admission))
      observer.orderAdmitted(tier);
    return admission;
  }

  /** Refused for want of room in flight: it waits in the admission line, if there is one and a place for it. */
  waitForRoom(refusal: Refusal): Promise<boolean> | undefined {
    const line = this.route.tiers?.line;
    if (!line || this.gone || !forWantOfRoom(refusal)) return undefined;
    if (Number.isNaN(this.since)) this.since = performance.now();
    return line.join(this)?.then((end) => end === 'try_again');
  }

  get client(): string {
    return this.order.client;
  }

  get rank(): number {
    return rankOf(this.order.tier);
  }

  /** Whether its admission would let it start now (as admit() would, counting nothing), aged by `waitedMs`. */
  mayStart(waitedMs: number): boolean {
    const { capacity, tiers, clientShares } = this.route;
    const { ordersInFlight, maxInflight } = capacity();
    if (ordersInFlight >= maxInflight || tiers?.headroom.fullFor(this.order.tier, ordersInFlight, waitedMs))
      return false;
    return clientShares?.wouldFit(this.order.client) ?? true;
  }

  /** How long it has waited for room: 0 until it first waits. */
  private waitedMs(): number {
    return Number.isNaN(this.since) ? 0 : performance.now() - this.since;
  }

  /** The desk's answer, written. */
  private answer(submission: Submission): void {
    const { res, order, route } = this;
    const { responder, capacity, observer } = route;
    switch (submission.kind) {
      case 'reused':
        responder.error(
          res,
          'idempotency_key_reuse',
          `order_id ${order.orderId} was used for a different order; send this one with a new order_id`,
        );
        return this.answered('idempotency_key_reuse', STATUS_BY_KIND.idempotency_key_reuse, undefined);
      case 'refused':
        if (typeof submission.because === 'object') {
          if ('share' in submission.because) this.refuseForShare(submission.because);
          else if ('bounded' in submission.because) this.refuseForTier(submission.because);
          else this.refuseForDependency(submission.because);
          return;
        }
        if (submission.because === 'shutting_down') {
          responder.error(res, 'shutting_down', SHUTTING_DOWN_MESSAGE);
        } else {
          responder.error(
            res,
            'overloaded',
            submission.full === 'records'
              ? `no room to record another order until older ones expire (every order is kept for IDEMPOTENCY_TTL_MS); retry shortly (tier ${order.tier})`
              : `${capacity().maxInflight} orders are in flight; retry shortly (tier ${order.tier})`,
          );
          observer.orderShed(order.tier);
        }
        return this.answered(submission.because, STATUS_BY_KIND[submission.because], undefined);
      case 'answered': {
        const { result, via } = submission;
        if (this.gone) return this.answered('client_gone', STATUS_BY_KIND.client_gone, result, via);
        this.answered(result.failure ?? 'ok', statusOf(result), result, via);
        if (via === 'replayed' && result.tier !== undefined) deferHeader(res, 'Order-Tier', result.tier);
        responder.order(res, result, via === 'replayed' ? REPLAYED : undefined);
      }
    }
  }

  /** The metrics and the request's log line, for every order however it ended. */
  private answered(kind: ErrorKind | 'ok', status: number, result: OrderResult | undefined, via?: AnsweredVia): void {
    const { res, order } = this;
    const steps = result?.steps ?? NONE;
    const compensations = result?.compensations ?? NONE;
    const durationMs = performance.now() - res.locals.arrivedAt;
    this.route.observer.orderAnswered({ status, kind, durationMs, steps, compensations, via });
    writeRequestLine(res, status, {
      client: order.client,
      orderId: order.orderId,
      tier: order.tier,
      kind,
      steps,
      compensations,
      via,
    });
  }

  /** Nothing started: the tier's ceiling is reached, and what is above it is kept for the tiers above. */
  private refuseForTier({ bounded, used, limit }: TierFull): void {
    const { tier } = this.order;
    const what = {
      orders_in_flight: `${used} orders are in flight (MAX_INFLIGHT ${this.route.capacity().maxInflight})`,
      pool_queue: `${used} tasks wait in the worker pool's queue`,
      records: `the order records hold ${(used / 2 ** 20).toFixed(1)} MB`,
      event_loop: `the event loop runs ${used} ms late`,
    }[bounded];
    this.route.responder.error(
      this.res,
      'overloaded',
      `tier ${tier} is shed: ${what}, its ceiling is ${bounded === 'records' ? `${(limit / 2 ** 20).toFixed(1)} MB` : bounded === 'event_loop' ? `${limit} ms` : limit} (TIER_CEILINGS), and the rest is kept for the tiers above; retry shortly`,
    );
    this.route.observer.orderShed(tier);
    this.answered('overloaded', STATUS_BY_KIND.overloaded, undefined);
  }

  /** Nothing started: the client's share is full; other clients' orders are not affected. */
  private refuseForShare({ client, share, held, limit }: ShareFull): void {
    const { tier } = this.order;
    this.route.responder.error(
      this.res,
      'overloaded',
      share === 'orders_in_flight'
        ? `client ${client} has ${held} orders in flight: its whole share while other clients share the service (${limit} now: at most CLIENT_MAX_SHARE of MAX_INFLIGHT, less the room kept for other active clients' floors); other clients' orders are not affected; retry shortly (tier ${tier})`
        : `what is kept of client ${client}'s orders fills its whole share of the order records' memory (CLIENT_MAX_SHARE of ORDER_RECORDS_MAX_MB, ${(limit / 2 ** 20).toFixed(1)} MB) until older ones expire (IDEMPOTENCY_TTL_MS); other clients' orders are not affected; retry shortly (tier ${tier})`,
    );
    this.route.observer.orderShed(tier);
    this.answered('overloaded', STATUS_BY_KIND.overloaded, undefined);
  }

  /**
   * Nothing started, nothing recorded: answered at once with the dependency's kind, and when its breaker may let an
   * order through.
   */
  private refuseForDependency({ unavailable, dependency, retryAfterMs }: DependencyDown): void {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    this.route.responder.error(
      this.res,
      unavailable,
      `${dependency} is unavailable (its circuit breaker is open): nothing was started; retry in ${seconds} s`,
      { 'Retry-After': String(seconds) },
    );
    this.answered(unavailable, STATUS_BY_KIND[unavailable], undefined);
  }
}

/** A refusal for want of room among the orders in flight: one that a run's end may lift. */
function forWantOfRoom(refusal: Refusal): boolean {
  if (refusal === 'overloaded') return true;
  if (typeof refusal !== 'object') return false;
  if ('bounded' in refusal) return refusal.bounded === 'orders_in_flight';
  return 'share' in refusal && refusal.share === 'orders_in_flight';
}
