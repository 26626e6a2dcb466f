/**
 * Room for the runs this instance takes over: a lost instance's run that
 * recovery resumes here, or an order the admin redrives. Such a run was
 * accepted long ago, but it starts here now, and it is admitted here as a
 * new order is (src/orders/order-admission.ts, `admitRun`): the service's
 * capacity, its tier's headroom, its client's share, the breakers. Started
 * beside that rule, a survivor that resumed 100 runs at once with
 * MAX_INFLIGHT=3 ran out of cancel cells and courier waiters, both sized on
 * MAX_INFLIGHT, and its orders failed for good.
 *
 * The room comes first, the claim second: recovery asks for room for each
 * run it would claim, and claims only those it got room for; a run it got
 * none for stays in the records, claimable — by this instance once room
 * frees, or by another that has it. The room is counted in flight (and in
 * its client's share) from the moment it is given, before the claim's
 * statement is sent, so that nothing admitted while the claim is on its way
 * can take it; a room whose run was not claimed after all (another instance
 * took it) is given back.
 */
import { partsOfKey, type OrderKey } from '../domain/order.js';
import { DEFAULT_TIER, type Tier } from '../domain/tier.js';
import type { AdmittedOnTerms, Refusal } from './admission.js';
import { admitRun, type AdmissionRules } from './order-admission.js';
import type { Resumption } from './order-records.js';

/** A run recovery would take over to run here, as the records say it before the claim. */
export interface TakeoverCandidate {
  readonly key: OrderKey;
  /** The tier it was admitted at; absent: the records did not keep it (standard). */
  readonly tier: Tier | undefined;
}

/** Room for one run taken over: counted in flight until its run takes it, or it is given back. */
export interface TakeoverRoom {
  /** Its run starts in it: the run is counted from now on, and its terms (its client's share) go with it. */
  take(): AdmittedOnTerms | undefined;
  /** Its run was not claimed after all, or will not run here: nothing of it is counted any more. */
  release(): void;
}

/** Who runs the runs a shared store's recovery takes over, and whose room they are claimed in. */
export interface TakeoverRunner {
  /** At most how many runs could start here now, whoever's (MAX_INFLIGHT less what is in flight): 0 while draining. */
  room(): number;
  /** Room for `candidate` now, by a new order's admission, counted at once; undefined if there is none. */
  roomFor(candidate: TakeoverCandidate): TakeoverRoom | undefined;
  /** Run `resumption`, claimed, in the room given for it. */
  resume(resumption: Resumption, room: TakeoverRoom): void;
  /** Told whenever a run here has ended, or a room was given back: room may have freed. */
  onRoomFreed(listener: () => void): void;
}

/** The rooms given to runs taken over here and not yet taken or given back, and the rules they are given by. */
export class TakeoverRooms {
  private given = 0;
  /** A new order's rules; without: every run taken over is given room (nothing admits it). */
  private rules: AdmissionRules | undefined;

  /** `released`: told when a room is given back without its run. */
  constructor(private readonly released: () => void) {}

  /** Rooms given whose runs have not started: counted in flight. */
  get count(): number {
    return this.given;
  }

  /** Runs taken over are admitted by `rules` from now on: those a new order is admitted by. */
  admitBy(rules: AdmissionRules): void {
    this.rules = rules;
  }

  /** At most how many runs could start here now, whoever's: none while draining; without rules, any number. */
  room(): number {
    const { rules } = this;
    if (!rules) return Number.POSITIVE_INFINITY;
    if (rules.draining()) return 0;
    const { ordersInFlight, maxInflight } = rules.capacity();
    return Math.max(0, maxInflight - ordersInFlight);
  }

  /** Room for a run of `key`'s at `tier`, counted in flight and in its client's share at once; or why there is none. */
  admit(key: OrderKey, tier: Tier | undefined): TakeoverRoom | Refusal {
    const { rules } = this;
    const admission = rules ? admitRun(rules, partsOfKey(key).client, tier ?? DEFAULT_TIER, 0) : 'admitted';
    if (admission !== 'admitted' && !('admitted' in admission)) return admission;
    this.given++;
    return new GivenRoom(this, admission === 'admitted' ? undefined : admission);
  }

  /** A room is no longer counted: its run took it (and is counted itself), or it was given back. */
  ended(released: boolean): void {
    this.given--;
    if (released) this.released();
  }
}

class GivenRoom implements TakeoverRoom {
  private done = false;

  constructor(
    private readonly rooms: TakeoverRooms,
    private readonly terms: AdmittedOnTerms | undefined,
  ) {}

  take(): AdmittedOnTerms | undefined {
    // Given back already: its run is counted as it starts, its client's share was given back with the room.
    if (this.done) return undefined;
    this.done = true;
    this.rooms.ended(false);
    return this.terms;
  }

  release(): void {
    if (this.done) return;
    this.done = true;
    this.terms?.ended(undefined);
    this.rooms.ended(true);
  }
}
