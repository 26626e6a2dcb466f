/**
 * An order's admission (src/orders/order-admission.ts) answers with facts:
 * each refusal says what refused it and by how much, in the order the
 * service asks — draining, capacity, the tier's headroom, the client's
 * share, the dependencies' breakers — and never in words or statuses.
 */
import { describe, expect, it } from 'vitest';
import { everyAction, everyStep } from '../../src/domain/steps.js';
import type { Order } from '../../src/domain/order.js';
import type { Tier } from '../../src/domain/tier.js';
import type { TierFull } from '../../src/fairness/tier-headroom.js';
import type { DependencyAdmission, ShareFull } from '../../src/orders/admission.js';
import { forWantOfRoom, NO_BREAKERS, OrderAdmission, type AdmissionRules } from '../../src/orders/order-admission.js';

const order: Order & { readonly tier: Tier } = {
  client: 'acme',
  orderId: 'admission-1',
  amount: 10,
  failStep: undefined,
  failCompensation: false,
  delayMs: everyAction(0),
  cpuMs: everyStep(0),
  tier: 'free',
};

const TIER_FULL: TierFull = { tier: 'free', bounded: 'orders_in_flight', used: 7, limit: 7 };
const SHARE_FULL: ShareFull = { client: 'acme', share: 'orders_in_flight', held: 4, limit: 4 };
const DEPENDENCY_DOWN = { unavailable: 'payment_unavailable', dependency: 'payment', retryAfterMs: 2500 } as const;

interface Situation {
  draining?: boolean;
  ordersInFlight?: number;
  tierFull?: TierFull;
  shareFull?: ShareFull;
  breakers?: DependencyAdmission;
}

/** An order's admission in a situation, with what it told along the way. */
function admissionIn(situation: Situation) {
  const told = { admitted: [] as Tier[], asked: [] as string[], counted: 0 };
  const rules: AdmissionRules = {
    capacity: () => ({ ordersInFlight: situation.ordersInFlight ?? 0, maxInflight: 10 }),
    draining: () => situation.draining ?? false,
    dependencies: () => situation.breakers ?? 'admitted',
    clientShares: {
      asked: (client) => void told.asked.push(client),
      fullFor: () => situation.shareFull,
      counted: (_client, admission) => {
        if (admission === 'admitted') told.counted++;
        return admission;
      },
      wouldFit: () => situation.shareFull === undefined,
      withinFloor: () => false,
    },
    tiers: { headroom: { fullFor: () => situation.tierFull } },
    observer: { orderAdmitted: (tier) => void told.admitted.push(tier) },
  };
  return { admission: new OrderAdmission(rules, order), told };
}

describe("an order's admission", () => {
  it('admits an order when nothing is full, counts it in its share and tells the metrics its tier', () => {
    const { admission, told } = admissionIn({});
    expect(admission.admit()).toBe('admitted');
    expect(told).toEqual({ admitted: ['free'], asked: ['acme'], counted: 1 });
    expect(admission.mayStart(0)).toBe(true);
  });

  it('refuses while draining, before anything else is asked', () => {
    const { admission, told } = admissionIn({ draining: true, ordersInFlight: 10, shareFull: SHARE_FULL });
    expect(admission.admit()).toEqual({ refused: 'draining' });
    expect(told.asked).toEqual([]);
    expect(forWantOfRoom({ refused: 'draining' })).toBe(false);
  });

  it('refuses when the service is full, the client still counted as one who asked', () => {
    const { admission, told } = admissionIn({ ordersInFlight: 10, tierFull: TIER_FULL });
    expect(admission.admit()).toEqual({ refused: 'service_full', full: 'orders_in_flight' });
    expect(told).toEqual({ admitted: [], asked: ['acme'], counted: 0 });
    expect(forWantOfRoom({ refused: 'service_full', full: 'orders_in_flight' })).toBe(true);
    expect(forWantOfRoom({ refused: 'service_full', full: 'records' })).toBe(false);
    expect(admission.mayStart(0)).toBe(false);
  });

  it("refuses with the tier's ceiling, before the client's share is asked", () => {
    const { admission, told } = admissionIn({ ordersInFlight: 7, tierFull: TIER_FULL, shareFull: SHARE_FULL });
    expect(admission.admit()).toEqual({ refused: 'tier_full', ...TIER_FULL });
    expect(told.counted).toBe(0);
    expect(forWantOfRoom({ refused: 'tier_full', ...TIER_FULL })).toBe(true);
    expect(forWantOfRoom({ refused: 'tier_full', ...TIER_FULL, bounded: 'pool_queue' })).toBe(false);
  });

  it("refuses with the client's full share, the breakers not asked", () => {
    const { admission, told } = admissionIn({ shareFull: SHARE_FULL, breakers: DEPENDENCY_DOWN });
    expect(admission.admit()).toEqual({ refused: 'over_share', ...SHARE_FULL });
    expect(told.admitted).toEqual([]);
    expect(forWantOfRoom({ refused: 'over_share', ...SHARE_FULL })).toBe(true);
    expect(forWantOfRoom({ refused: 'over_share', ...SHARE_FULL, share: 'records' })).toBe(false);
  });

  it('refuses with the dependency that is down and when to try again, counting nothing', () => {
    const { admission, told } = admissionIn({ breakers: DEPENDENCY_DOWN });
    expect(admission.admit()).toEqual({ refused: 'dependency_down', ...DEPENDENCY_DOWN });
    expect(told).toEqual({ admitted: [], asked: ['acme'], counted: 0 });
    expect(forWantOfRoom({ refused: 'dependency_down', ...DEPENDENCY_DOWN })).toBe(false);
  });

  it('does not wait for room without an admission line', () => {
    const { admission } = admissionIn({ ordersInFlight: 10 });
    expect(admission.waitForRoom({ refused: 'service_full', full: 'orders_in_flight' })).toBeUndefined();
    expect(NO_BREAKERS()).toBe('admitted');
  });
});
