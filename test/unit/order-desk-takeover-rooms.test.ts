/**
 * Room for runs taken over (src/orders/takeover-rooms.ts): a run a lost
 * instance left, or one the admin redrives, is admitted by a new order's
 * rules before it is claimed — counted in flight and in its client's share
 * from the moment its room is given, given back if its claim finds it taken,
 * and passed to its run when the run starts, until the run ends.
 */
import { describe, expect, it } from 'vitest';
import { keyOfOrder, type Order } from '../../src/domain/order.js';
import type { AdmittedOnTerms, DependencyAdmission } from '../../src/orders/admission.js';
import { fingerprintOf } from '../../src/orders/fingerprints.js';
import { MemoryOrderRecords } from '../../src/orders/memory-order-records.js';
import type { AdmissionRules } from '../../src/orders/order-admission.js';
import { OrderDesk } from '../../src/orders/order-desk.js';
import type { OrderResult } from '../../src/pipeline/order-pipeline.js';
import { instantOrder } from '../support/orders.js';

const orderOf = (orderId: string): Order => instantOrder('acme', orderId, 20_000);

/** A desk whose runs end when told, taking over by rules of MAX_INFLIGHT 2, with what the client's share was told. */
function deskOf() {
  const ends = new Map<string, () => void>();
  const share = { counted: 0, ended: 0 };
  let draining = false;
  const desk = new OrderDesk(
    {
      undo: () => Promise.reject(new Error('nothing is undone in this test')),
      process: async (run) => {
        await new Promise<void>((resolve) => ends.set(run.order.orderId, resolve));
        const result: OrderResult = { orderId: run.order.orderId, steps: [], compensations: [], failure: undefined };
        return result;
      },
    },
    new MemoryOrderRecords(60_000, 1 << 20),
  );
  const terms: AdmittedOnTerms = { admitted: true, ended: () => void share.ended++ };
  const rules: AdmissionRules = {
    capacity: () => ({ ordersInFlight: desk.runsInFlight, maxInflight: 2 }),
    draining: () => draining,
    dependencies: () => 'admitted',
    clientShares: {
      asked: () => {},
      fullFor: () => undefined,
      counted: (_client, admission: DependencyAdmission) => {
        share.counted++;
        return admission === 'admitted' ? terms : admission;
      },
      wouldFit: () => true,
      withinFloor: () => false,
    },
    observer: { orderAdmitted: () => {} },
  };
  desk.takeovers.admitBy(rules);
  return { desk, ends, share, drain: () => (draining = true) };
}

const resumption = (order: Order) => ({
  key: keyOfOrder(order),
  run: 7,
  fingerprint: fingerprintOf(order),
  order,
  finished: [],
});

describe('room for a run taken over', () => {
  it("is counted in flight and in its client's share as it is given, and given back if its run is not claimed", () => {
    const { desk, share } = deskOf();
    let freed = 0;
    desk.onRunEnd(() => freed++);
    expect(desk.takeovers.room()).toBe(2);
    const first = desk.takeovers.admit(keyOfOrder(orderOf('a')), 'standard');
    const second = desk.takeovers.admit(keyOfOrder(orderOf('b')), undefined);
    expect(desk.runsInFlight).toBe(2);
    expect(desk.takeovers.room()).toBe(0);
    // A third finds the service full, as a new order would: refused, nothing counted.
    expect(desk.takeovers.admit(keyOfOrder(orderOf('c')), 'standard')).toEqual({
      refused: 'service_full',
      full: 'orders_in_flight',
    });
    expect(share).toEqual({ counted: 2, ended: 0 });
    if ('refused' in first || 'refused' in second) throw new Error('room expected');
    first.release();
    first.release();
    expect(desk.runsInFlight).toBe(1);
    expect(share).toEqual({ counted: 2, ended: 1 });
    expect(freed).toBe(1);
  });

  it('passes to its run, which stays counted, in its share too, until it ends; the desk is idle after', async () => {
    const { desk, ends, share } = deskOf();
    const order = orderOf('resumed');
    const room = desk.takeovers.admit(keyOfOrder(order), 'standard');
    if ('refused' in room) throw new Error('room expected');
    desk.resume(resumption(order), { requestId: 'resume' }, room);
    expect(desk.runsInFlight).toBe(1);
    // Taken: given back no more.
    room.release();
    expect(share).toEqual({ counted: 1, ended: 0 });
    await new Promise((resolve) => setImmediate(resolve));
    ends.get('resumed')!();
    await desk.whenIdle();
    expect(desk.runsInFlight).toBe(0);
    expect(share).toEqual({ counted: 1, ended: 1 });
  });

  it('is none while the service drains', () => {
    const { desk, drain } = deskOf();
    drain();
    expect(desk.takeovers.room()).toBe(0);
    expect(desk.takeovers.admit(keyOfOrder(orderOf('late')), 'standard')).toEqual({ refused: 'draining' });
    expect(desk.runsInFlight).toBe(0);
  });

  it('keeps the desk from being idle while it is given, and lets it be once given back', async () => {
    const { desk } = deskOf();
    const room = desk.takeovers.admit(keyOfOrder(orderOf('a')), 'standard');
    if ('refused' in room) throw new Error('room expected');
    let idle = false;
    const idled = desk.whenIdle().then(() => (idle = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(idle).toBe(false);
    room.release();
    await idled;
    expect(idle).toBe(true);
  });
});
