/**
 * Whether one order may start now, decided for the order desk, which asks
 * right before it would start a run (src/orders/order-desk.ts): draining
 * first, then the service's capacity, its tier's headroom, its client's
 * share and last the dependencies' breakers. A run taken over from a lost
 * instance, or redriven, is admitted by the same rule (`admitRun`). The answer is a fact
 * (src/orders/admission.ts), never words or a status: the edge says those.
 *
 * An order refused for want of room may wait in the admission line and ask
 * again, aged by how long it has waited (src/fairness/admission-line.ts):
 * while tiers are in play, or while it is within its client's floor.
 */
import { rankOf, type Tier } from '../domain/tier.js';
import type { Order } from '../domain/order.js';
import type { AdmissionLine, LineWaiter } from '../fairness/admission-line.js';
import type { TierHeadroom } from '../fairness/tier-headroom.js';
import type { Admission, AdmissionPolicy, DependencyAdmission, Refusal } from './admission.js';
import type { ClientShares } from './client-shares.js';
import { OrderWaiter } from './order-waiter.js';

/** The orders in flight now, and the most there may be (MAX_INFLIGHT). */
export interface Capacity {
  readonly ordersInFlight: number;
  readonly maxInflight: number;
}

/** What every order's admission asks: the same for every order, shared by them all. */
export interface AdmissionRules {
  readonly capacity: () => Capacity;
  readonly draining: () => boolean;
  /** What the dependencies' circuit breakers say of a new order (asked last, once it would otherwise start). */
  readonly dependencies: (client: string) => DependencyAdmission;
  /** Each client's share of the orders in flight and of the records (the bulkheads); without: none. */
  readonly clientShares?: Pick<ClientShares, 'asked' | 'fullFor' | 'counted' | 'wouldFit' | 'withinFloor'>;
  /** The headroom kept at admission for the tiers above, and the line where an order refused for room waits. */
  readonly tiers?: {
    readonly headroom: Pick<TierHeadroom, 'fullFor'>;
    readonly line?: Pick<AdmissionLine, 'join' | 'leave' | 'roomFreed'>;
  };
  /** Told of every order admitted (the metrics). */
  readonly observer: { orderAdmitted(tier: Tier): void };
}

/** Every order is admitted as far as the dependencies go: there are no breakers. */
export const NO_BREAKERS = (): DependencyAdmission => 'admitted';

const DRAINING: Refusal = { refused: 'draining' };
const SERVICE_FULL: Refusal = { refused: 'service_full', full: 'orders_in_flight' };

/**
 * Whether a run of `client`'s at `tier`, of a deadline of `deadlineMs` (undefined: the service's), may start now, having
 * waited `waitedMs` for room: draining first, then the service's capacity, its tier's headroom, its client's share and
 * last the dependencies' breakers. Admitted, it is counted in its client's share at once (until its terms are told it
 * ended). A new order's admission asks it, and so
 * does a run taken over from a lost instance or redriven (src/orders/takeover-rooms.ts): one rule for every run that
 * starts here.
 */
export function admitRun(
  rules: AdmissionRules,
  client: string,
  tier: Tier,
  waitedMs: number,
  deadlineMs?: number,
): Admission {
  const { draining, clientShares, capacity, tiers, dependencies, observer } = rules;
  if (draining()) return DRAINING;
  // Before the service is found full: a client turned away is still one whose floor must be kept.
  clientShares?.asked(client);
  const { ordersInFlight, maxInflight } = capacity();
  if (ordersInFlight >= maxInflight) return SERVICE_FULL;
  // Before the client's share: an order its tier may not start is no refusal of the client's share.
  const tierFull = tiers?.headroom.fullFor(tier, ordersInFlight, waitedMs);
  if (tierFull) return { refused: 'tier_full', ...tierFull };
  const shareFull = clientShares?.fullFor(client, deadlineMs);
  if (shareFull) return { refused: 'over_share', ...shareFull };
  // The breakers last: a half-open one lets one probe order through, which must not be an order shed here.
  const admission = clientShares
    ? clientShares.counted(client, dependencies(client), deadlineMs)
    : dependencies(client);
  if (admission !== 'admitted' && !('admitted' in admission)) return { refused: 'dependency_down', ...admission };
  observer.orderAdmitted(tier);
  return admission;
}

/** Told once the order's run is under way: a caller answered then (202), who hears the end later. */
export interface UnderWayListener {
  runUnderWay(): void;
}

/**
 * One order asking to start, as a record whose methods every order shares (not a family of closures made for each): it
 * is what waits for the order's answer too (OrderWaiter), so its going leaves the admission line.
 */
export class OrderAdmission extends OrderWaiter implements AdmissionPolicy, LineWaiter {
  /** When it first waited in the admission line (its age there, kept through every try); NaN until then. */
  since = Number.NaN;
  readonly answeredOnceUnderWay: boolean;

  constructor(
    private readonly rules: AdmissionRules,
    readonly order: Order & { readonly tier: Tier },
    private readonly underWay?: UnderWayListener,
  ) {
    super();
    this.answeredOnceUnderWay = underWay !== undefined;
  }

  runUnderWay(): void {
    this.underWay?.runUnderWay();
  }

  // Asked by the desk with no await before the run starts, which counts the
  // order at once: never more than MAX_INFLIGHT orders in flight. Asked
  // once the body has arrived, however long that took: an order whose body
  // finishes arriving after draining began is not admitted.
  admit(): Admission {
    return admitRun(this.rules, this.order.client, this.order.tier, this.waitedMs(), this.order.deadlineMs);
  }

  /**
   * Refused for want of room in flight: it waits in the admission line, if there is one and a place for it. Between
   * the refusal and joining, the desk reads the records (a round trip to Postgres in the durable mode): a run that
   * ended then told the line of its room while this order was not in it, and nobody else may come to take it. So once
   * in the line, a room free now is looked at again, and the turn to take it is given as any run's end gives it.
   */
  waitForRoom(refusal: Refusal): Promise<boolean> | undefined {
    const line = this.rules.tiers?.line;
    if (!line || this.gone || !forWantOfRoom(refusal)) return undefined;
    if (Number.isNaN(this.since)) this.since = performance.now();
    const waiting = line.join(this);
    if (waiting && this.mayStart(this.waitedMs())) line.roomFreed();
    return waiting?.then((end) => end === 'try_again');
  }

  /** It goes: out of the admission line too, if it waits there. */
  override leave(): void {
    super.leave();
    if (!Number.isNaN(this.since)) this.rules.tiers?.line?.leave(this);
  }

  get client(): string {
    return this.order.client;
  }

  get rank(): number {
    return rankOf(this.order.tier);
  }

  /** Whether its admission would let it start now (as admit() would, counting nothing), aged by `waitedMs`. */
  mayStart(waitedMs: number): boolean {
    const { capacity, tiers, clientShares } = this.rules;
    const { ordersInFlight, maxInflight } = capacity();
    if (ordersInFlight >= maxInflight || tiers?.headroom.fullFor(this.order.tier, ordersInFlight, waitedMs))
      return false;
    return clientShares?.wouldFit(this.order.client, this.order.deadlineMs) ?? true;
  }

  /** Whether it would keep its client within its floor of the orders in flight: owed the first room that frees. */
  withinFloor(): boolean {
    return this.rules.clientShares?.withinFloor(this.order.client) ?? false;
  }

  /** How long it has waited for room: 0 until it first waits. */
  private waitedMs(): number {
    return Number.isNaN(this.since) ? 0 : performance.now() - this.since;
  }
}

/** A refusal for want of room among the orders in flight: one that a run's end may lift. */
export function forWantOfRoom(refusal: Refusal): boolean {
  switch (refusal.refused) {
    case 'service_full':
      return refusal.full === 'orders_in_flight';
    case 'tier_full':
      return refusal.bounded === 'orders_in_flight';
    case 'over_share':
      return refusal.share === 'orders_in_flight';
    case 'draining':
    case 'dependency_down':
      return false;
  }
}
