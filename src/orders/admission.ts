/**
 * Whether an order's new run may start: what the order desk asks its
 * caller right before it would start one (src/orders/order-desk.ts), and
 * the refusals it may be told.
 */
import type { OrderFailureKind } from '../domain/errors.js';
import type { TierFull } from '../fairness/tier-headroom.js';
import type { OrderResult } from '../pipeline/order-pipeline.js';

/**
 * Whether a new run may start now: the caller's admission policy. Admitted —
 * outright, or on terms: `ended` is told once the run is over, with the
 * result it reached, or undefined if it ran nothing here (replayed, joined
 * elsewhere, refused by the records) — or refused.
 */
export type Admission = 'admitted' | AdmittedOnTerms | Refusal;

/** What the dependencies' circuit breakers say of a new order: let through (perhaps on terms), or one is down. */
export type DependencyAdmission = 'admitted' | AdmittedOnTerms | DependencyDown;

/** Admitted, on terms: `ended` is told how the run ended (called on this object: it may be a record's method). */
export interface AdmittedOnTerms {
  readonly admitted: true;
  ended(result: OrderResult | undefined): void;
}

/** Asked whether a new run may start, right before it would (the caller's request, in the HTTP service). */
export interface AdmissionPolicy {
  admit(): Admission;
  /**
   * Refused: whether to wait for room and ask again — undefined to be refused at once; true once it may try again (its
   * turn came, or its caller left), false once it has waited all it may (src/fairness/admission-line.ts).
   */
  waitForRoom?(refusal: Refusal): Promise<boolean> | undefined;
  /**
   * Whether the caller is to be told once the order's run is under way (`runUnderWay`): it is answered then, and hears
   * the end later (Prefer: respond-async).
   */
  readonly answeredOnceUnderWay?: boolean;
  /** The order's run is under way — begun in the records, here or on another instance — and has not ended. */
  runUnderWay?(): void;
}

/**
 * Why no run may start, as a fact (the edge says it in words: src/http/wire/refusal-answers.ts): the service is
 * draining; it is full — too many orders in flight, or no room in the records; the order's tier has reached its
 * ceiling (the headroom kept for the tiers above); its client's share is full; or a dependency it needs is down.
 */
export type Refusal =
  | { readonly refused: 'draining' }
  | { readonly refused: 'service_full'; readonly full: Full }
  | ({ readonly refused: 'tier_full' } & TierFull)
  | ({ readonly refused: 'over_share' } & ShareFull)
  | ({ readonly refused: 'dependency_down' } & DependencyDown);

/**
 * The order's client holds its whole share of something scarce (while other
 * clients share the service): shed, as when too many orders are in flight —
 * other clients' orders are not.
 */
export interface ShareFull {
  readonly client: string;
  /**
   * What is full: its orders in flight, those of them whose deadline is beyond the service's (held within its lasting
   * floor), or what the order records keep of it.
   */
  readonly share: Full | 'long_orders_in_flight';
  /** How much of it the client holds, and may (orders, or bytes). */
  readonly held: number;
  readonly limit: number;
}

/** A dependency is known to be down (its circuit breaker is open): nothing starts, nothing is recorded. */
export interface DependencyDown {
  /** The dependency's kind, which the order is answered with. */
  readonly unavailable: OrderFailureKind;
  /** Who, for people. */
  readonly dependency: string;
  /** How long until an order may be let through again (0: as soon as the probe under way ends). */
  readonly retryAfterMs: number;
}

/**
 * What is full when an order is shed: orders in flight (MAX_INFLIGHT), or the records, which forget no order before its
 * time.
 */
export type Full = 'orders_in_flight' | 'records';
