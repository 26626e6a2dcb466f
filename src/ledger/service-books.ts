/**
 * The books of the remote services a step acts on besides the payment provider — the vendor it notifies, the courier
 * service that assigns a courier: simulated services with books of their own, as honest as the provider's about when
 * an effect happens. What the chaos harness and the timeline count is what these books say was done, not what the
 * order's records say.
 *
 * - Idempotent: each request carries its run's key (the client, the order id, the run) and its step; the first request
 *   under a key is applied, and any later one applies nothing more — it is counted, as a duplicate.
 * - Fenced: each request also carries the fence of the claim its caller runs the run under (raised by every takeover
 *   and hand-over: src/postgres/run-holder.ts). The service keeps the highest fence it has seen under a key and refuses
 *   a request whose fence is older (`stale`), counted too: an instance paused past its lease whose step finishes after
 *   a survivor took the run over and ran that step again acts on nothing. As a real service refuses a request under a
 *   stale token, it knows only what it has been sent: an older claim's request that comes first is applied, and the
 *   newer claim's then finds it done.
 *
 * So an effect happens once per (order, run, step) whoever runs the run and however often: a step may run again after
 * a takeover, or after its thread was lost, and its effect stays single. A new run of the same order (a retry after an
 * outcome that is not final, a redrive) is a new key, as it is the provider's.
 *
 * An interface, with an in-memory service and a Postgres one.
 */
import type { OrderKey } from '../domain/order.js';

/** The service's idempotency key: a run of an order, and the step acting on it. */
export interface EffectKey {
  readonly order: OrderKey;
  readonly run: number;
  /** The step acting (its name in the step registry). */
  readonly step: string;
}

/** Who sends a request: the claim's fence of the run, and the instance holding it (undefined in memory). */
export interface EffectCaller {
  readonly fence: number;
  readonly instance: string | undefined;
}

export type EffectAnswer =
  | 'applied' // the effect happened now
  | 'duplicate' // an earlier request under the same key applied it: nothing more happened
  | 'stale'; // the caller's fence is older than one the service has seen under the key: refused

/** A request as the service received it. */
export interface ReceivedEffect extends EffectCaller {
  readonly run: number;
  readonly step: string;
  readonly answer: EffectAnswer;
  readonly at: Date;
}

/** What the service has done, since start, for the metrics: each request counted once, by its answer. */
export type EffectCounts = Readonly<Record<EffectAnswer, number>>;

export interface ServiceBooks {
  request(key: EffectKey, caller: EffectCaller): Promise<EffectAnswer>;
  /** Every request the service received for the order, oldest first; empty if none. */
  receivedFor(order: OrderKey): Promise<readonly ReceivedEffect[]>;
  counts(): EffectCounts;
}

/**
 * The service's answer to a request under `key`, from the requests it received under that key before: the rule both
 * books keep (the Postgres one in its SQL, migration 24).
 */
export function answerTo(fence: number, before: readonly Pick<ReceivedEffect, 'fence' | 'answer'>[]): EffectAnswer {
  let highest = -Infinity;
  let applied = false;
  for (const request of before) {
    if (request.fence > highest) highest = request.fence;
    if (request.answer === 'applied') applied = true;
  }
  return fence < highest ? 'stale' : applied ? 'duplicate' : 'applied';
}
