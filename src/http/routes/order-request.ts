/**
 * One order's request, from the moment the order route hands it to the order
 * desk until it is answered: its admission (the orders layer's, which the desk
 * is given as the order's waiter and policy), the 202 a request that prefers it
 * is given once its run is under way, the desk's answer written — a refusal in
 * the words of src/http/wire/refusal-answers.ts — and the request's metrics and
 * log line.
 */
import type { Response } from 'express';
import type { ErrorKind } from '../../domain/errors.js';
import type { Order } from '../../domain/order.js';
import type { Tier } from '../../domain/tier.js';
import {
  OrderAdmission,
  type AdmissionRules,
  type Capacity,
  type UnderWayListener,
} from '../../orders/order-admission.js';
import type { AnsweredVia, OrderDesk, Submission } from '../../orders/order-desk.js';
import type { OrderObserver } from '../../observability/metrics.js';
import type { OrderResult } from '../../pipeline/order-pipeline.js';
import type { StepOutcome } from '../../pipeline/steps.js';
import type { OrderAcceptedJson } from '../wire/api-schemas.js';
import { STATUS_BY_KIND } from '../wire/error-status.js';
import { refusalAnswer } from '../wire/refusal-answers.js';
import { writeRequestLine } from '../guards/request-log.js';
import { deferHeader } from '../wire/response-headers.js';
import { acceptedHeaders, statusOf, type Responder } from '../wire/responses.js';

const NONE: readonly StepOutcome[] = [];
/** Said of an answer replayed from the records. */
const REPLAYED: Readonly<Record<string, string>> = { 'Idempotent-Replayed': 'true' };

/** What every order's request shares: its admission's rules, and what it is answered with. */
export interface OrderRequestParts extends AdmissionRules {
  readonly orders: Pick<OrderDesk, 'submit'>;
  readonly capacity: () => Capacity;
  readonly responder: Responder;
  readonly observer: OrderObserver;
  /** Answers a request that failed, as the app's error handler does: the route answers its own failures. */
  readonly failed: (error: unknown, res: Response) => void;
}

/**
 * When a request is answered 202 and hears its order's end later (RFC 7240): at once (`respond-async`), after N
 * seconds (`wait=N`) — each once the run is under way — or never (no preference: the end is the answer).
 */
export interface Acceptance {
  readonly afterMs: number;
  /** Preference-Applied. */
  readonly applied: string;
}

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
 * One order's request while the desk has it: its admission (the orders layer's OrderAdmission, which is also the waiter
 * whose going cancels the order), and every way the request is answered — as one record whose methods are shared by
 * every order, not a family of closures made for each.
 */
export class OrderRequest implements UnderWayListener {
  private readonly admission: OrderAdmission;
  private readonly order: Order & { readonly tier: Tier };
  /** Its run is under way; and it was answered 202 (it hears the end later). */
  private underWay = false;
  private accepted = false;
  /** `wait=N`'s N seconds passed before the end. */
  private waited = false;
  private waitTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly route: OrderRequestParts,
    private readonly res: Response,
    order: Order & { readonly tier: Tier },
    private readonly acceptance: Acceptance | undefined,
  ) {
    this.order = order;
    this.admission = new OrderAdmission(route, order, acceptance ? this : undefined);
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
    const { admission } = this;
    void this.route.orders.submit(this.order, admission, res.locals.trace, admission).then(
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
    if (this.accepted || res.headersSent || this.admission.gone) return;
    this.accepted = true;
    clearTimeout(this.waitTimer);
    res.off('close', clientClosed);
    const body: OrderAcceptedJson = { status: 'accepted', order_id: order.orderId, lifecycle: 'accepted' };
    this.route.responder.json(res, 202, body, {
      ...acceptedHeaders(order.orderId),
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
    this.admission.leave();
    // Node treats a half-closed connection as gone but keeps it open for
    // a response that will never come; release it now.
    res.destroy();
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
      case 'refused': {
        const refusal = refusalAnswer(submission.because, {
          tier: order.tier,
          maxInflight: capacity().maxInflight,
        });
        responder.error(res, refusal.kind, refusal.message, refusal.headers);
        if (refusal.shed) observer.orderShed(order.tier);
        return this.answered(refusal.kind, STATUS_BY_KIND[refusal.kind], undefined);
      }
      case 'answered': {
        const { result, via } = submission;
        if (this.admission.gone) return this.answered('client_gone', STATUS_BY_KIND.client_gone, result, via);
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
}
