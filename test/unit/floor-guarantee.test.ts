/**
 * A client's floor of the orders in flight is a guarantee (src/fairness/fair-share.ts), with the service's own pieces:
 * ClientShares counts, OrderAdmission decides, the AdmissionLine holds who waits. Busy keys that arrive one after
 * another each take the floor they have when they come, larger than the one left them once the next arrives; orders
 * already admitted are not taken back, so a client arriving later may find MAX_INFLIGHT full while it holds nothing.
 * It waits for the first run to end, and that run's room is its own — tiers or none. Whatever the others' deadlines:
 * a run that may outlast the wait (`deadline_ms` beyond ORDER_TIMEOUT_MS) holds room only within its client's lasting
 * floor, so what a latecomer finds taken beyond the floors ends within its wait.
 */
import { describe, expect, it } from 'vitest';
import { ClientBook } from '../../src/clients/client-book.js';
import { everyAction, everyStep } from '../../src/domain/steps.js';
import type { Order } from '../../src/domain/order.js';
import { AdmissionLine } from '../../src/fairness/admission-line.js';
import { rankOf, type Tier } from '../../src/domain/tier.js';
import type { Admission, AdmittedOnTerms } from '../../src/orders/admission.js';
import { ClientShares } from '../../src/orders/client-shares.js';
import { NO_BREAKERS, OrderAdmission, type AdmissionRules } from '../../src/orders/order-admission.js';

const MAX_INFLIGHT = 20;
/** ORDER_TIMEOUT_MS: an order that asks no deadline has this one, and waits for room at most this less an aging step. */
const ORDER_TIMEOUT_MS = 2000;
/** A respond-async order's deadline: it holds its room for a minute. */
const A_MINUTE = 60_000;

/** The floors test's service, as its admission sees it: five configured clients, acme idle, no tiers. */
function service() {
  const clients = new ClientBook({
    weights: new Map(),
    configured: ['acme', 'globex', 'initech', 'umbrella', 'hooli'],
    indices: 8,
    maxShare: 0.6,
  });
  const shares = new ClientShares({
    maxInflight: MAX_INFLIGHT,
    recordsMaxBytes: 0,
    records: { bytesOf: () => 0, isFullFor: () => false },
    clients,
    lastingFromMs: ORDER_TIMEOUT_MS,
    now: () => 0,
  });
  const line = new AdmissionLine({
    places: MAX_INFLIGHT,
    maxWaitMs: 60_000,
    sharers: () => shares.sharers(),
    heldOf: (client) => shares.inFlightOf(client),
    weightOf: (client) => clients.entryOf(client).weight,
    bestRank: () => rankOf('standard'),
    tiered: () => false,
  });
  const rules: AdmissionRules = {
    capacity: () => ({ ordersInFlight: shares.busy, maxInflight: MAX_INFLIGHT }),
    draining: () => false,
    dependencies: NO_BREAKERS,
    clientShares: shares,
    tiers: { headroom: { fullFor: () => undefined }, line },
    observer: { orderAdmitted: () => {} },
  };
  const runs = new Map<string, Array<{ terms: AdmittedOnTerms; deadlineMs: number | undefined }>>();
  let serial = 0;
  const ask = (client: string, deadlineMs?: number): { admission: OrderAdmission; answer: Admission } => {
    const admission = new OrderAdmission(rules, orderOf(client, ++serial, deadlineMs));
    const answer = admission.admit();
    if (typeof answer === 'object' && 'admitted' in answer)
      runs.set(client, [...(runs.get(client) ?? []), { terms: answer, deadlineMs }]);
    return { admission, answer };
  };
  /** One of `client`'s runs ends — its oldest, or its oldest of the service's deadline — and the line hears of it. */
  const endRun = (client: string, { short } = { short: false }): void => {
    const own = runs.get(client) ?? [];
    const at = own.findIndex((run) => !short || run.deadlineMs === undefined);
    if (at >= 0) own.splice(at, 1)[0]!.terms.ended(undefined);
    line.roomFreed();
  };
  /** `client`'s runs in flight that may outlast a wait for room: those of a deadline beyond the service's. */
  const longRuns = (client: string): number =>
    (runs.get(client) ?? []).filter((run) => (run.deadlineMs ?? 0) > ORDER_TIMEOUT_MS).length;
  return { shares, ask, endRun, longRuns };
}

function orderOf(client: string, serial: number, deadlineMs?: number): Order & { readonly tier: Tier } {
  return {
    client,
    orderId: `floor-${serial}`,
    amount: 10,
    failStep: undefined,
    failCompensation: false,
    delayMs: everyAction(0),
    cpuMs: everyStep(0),
    ...(deadlineMs === undefined ? {} : { deadlineMs }),
    tier: 'standard',
  };
}

const admitted = (answer: Admission): boolean => typeof answer === 'object' && 'admitted' in answer;

describe("a client's floor of the orders in flight", () => {
  it('is kept for a client arriving after busy keys took the floors they had as they came: it waits for the first run to end, and gets its room', async () => {
    const { shares, ask, endRun } = service();
    // Each busy key asks for twelve as it comes: initech alone keeps a floor of 10 (a newcomer's weight beside it),
    // umbrella finds 6, hooli 5 — and the service is full before hooli has all of its own.
    for (const client of ['initech', 'umbrella', 'hooli']) for (let i = 0; i < 12; i++) ask(client);
    expect(['initech', 'umbrella', 'hooli'].map((client) => shares.inFlightOf(client))).toEqual([10, 6, 4]);

    // globex comes: its floor is 4 of 20, it holds none, and every unit is held by keys beyond their floors now.
    const victim = ask('globex');
    expect(victim.answer).toEqual({ refused: 'service_full', full: 'orders_in_flight' });
    const refusal = victim.answer as Exclude<Admission, 'admitted' | AdmittedOnTerms>;
    const waiting = victim.admission.waitForRoom(refusal);
    expect(waiting).toBeDefined();

    // A key beyond its floor is refused at once, as ever: it does not wait.
    const busy = ask('initech');
    expect(busy.answer).toEqual({ refused: 'service_full', full: 'orders_in_flight' });
    expect(busy.admission.waitForRoom(busy.answer as Exclude<Admission, 'admitted' | AdmittedOnTerms>)).toBeUndefined();

    // initech's first run ends: the room is globex's, which tries again and is admitted.
    endRun('initech');
    await expect(waiting).resolves.toBe(true);
    expect(admitted(victim.admission.admit())).toBe(true);
    expect(shares.inFlightOf('globex')).toBe(1);
    expect(shares.busy).toBe(MAX_INFLIGHT);
  });

  it("holds whatever the others' deadlines: orders of a minute fill only the floors their keys keep whoever comes, and a client arriving after them gets the room of the first run of the service's deadline to end", async () => {
    const { shares, ask, endRun, longRuns } = service();
    // Each busy key, as it comes, asks for twelve orders of a minute (respond-async: its caller has gone), then twelve
    // of the service's deadline.
    const longAnswers: Admission[] = [];
    for (const client of ['initech', 'umbrella', 'hooli']) {
      for (let i = 0; i < 12; i++) longAnswers.push(ask(client, A_MINUTE).answer);
      for (let i = 0; i < 12; i++) ask(client);
    }
    // Orders of a minute hold at most the floor each key keeps whoever comes: five clients and a newcomer, 3 of 20.
    expect(['initech', 'umbrella', 'hooli'].map(longRuns)).toEqual([3, 3, 3]);
    expect(longAnswers[3]).toMatchObject({ refused: 'over_share', share: 'long_orders_in_flight', held: 3, limit: 3 });
    expect(shares.busy).toBe(MAX_INFLIGHT);

    // globex comes within its floor (4 of 20) and finds none free: it waits, and no order of a minute has to end for
    // it — the first of the service's deadline to end is its room.
    const victim = ask('globex');
    const waiting = victim.admission.waitForRoom(victim.answer as Exclude<Admission, 'admitted' | AdmittedOnTerms>);
    expect(waiting).toBeDefined();
    endRun('hooli', { short: true });
    await expect(waiting).resolves.toBe(true);
    expect(admitted(victim.admission.admit())).toBe(true);
    // And so on up to its floor: every run of the service's deadline that ends is the room of whoever holds least.
    for (let i = 1; i < 4; i++) {
      const next = ask('globex');
      const turn = next.admission.waitForRoom(next.answer as Exclude<Admission, 'admitted' | AdmittedOnTerms>);
      endRun(['initech', 'umbrella', 'initech'][i - 1]!, { short: true });
      await expect(turn).resolves.toBe(true);
      expect(admitted(next.admission.admit())).toBe(true);
    }
    expect(shares.inFlightOf('globex')).toBe(4);
  });

  it('leaves a refusal at once for a client at its floor: what it asks beyond its floor is not guaranteed', () => {
    const { ask } = service();
    for (const client of ['globex', 'initech', 'umbrella', 'hooli']) ask(client);
    for (let i = 0; i < 3; i++) ask('globex');
    for (const client of ['initech', 'umbrella', 'hooli']) for (let i = 0; i < 12; i++) ask(client);
    // Every active client holds its floor of 4, and the 4 left are kept for acme, a newcomer.
    const beyond = ask('globex');
    expect(beyond.answer).toMatchObject({ refused: 'over_share', held: 4, limit: 4 });
    expect(
      beyond.admission.waitForRoom(beyond.answer as Exclude<Admission, 'admitted' | AdmittedOnTerms>),
    ).toBeUndefined();
  });
});
