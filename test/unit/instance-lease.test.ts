/**
 * The lease's own clock: an instance gives its identity up when its lease
 * runs out on its monotonic clock, even if nothing asks for its identity and
 * its renewals never come back (Postgres holding them, or gone).
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/postgres/database.js';
import { InstanceLease } from '../../src/postgres/instance-lease.js';

const LEASE_MS = 300;
const MARGIN_MS = 60;

/** Blocks this thread, as a busy event loop does, for `ms`. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/**
 * A database whose registration answers after `busyMs` of work on this
 * thread, and whose renewals never answer (their rows locked).
 */
function database(busyMs: number): Database {
  let registered = false;
  const fake = {
    leaseQuery: (): Promise<unknown[]> => {
      if (registered) return new Promise(() => {});
      registered = true;
      busy(busyMs);
      return Promise.resolve([]);
    },
    onChange: (): void => {},
  };
  return fake as unknown as Database;
}

/**
 * A database that registers every identity, answers each renewal with `renewed` (a row: the lease held; none: it had
 * expired in Postgres), and says it is back when `back()` is called. `statements`: the names sent, in order.
 */
function recoveringDatabase(renewed: boolean): { db: Database; statements: string[]; back: () => void } {
  const listeners: Array<(up: boolean) => void> = [];
  const statements: string[] = [];
  const fake = {
    leaseQuery: ({ name }: { name: string }): Promise<unknown[]> => {
      statements.push(name);
      return Promise.resolve(name === 'instance_renew' && renewed ? [{ renewed: 1 }] : []);
    },
    onChange: (listener: (up: boolean) => void): void => {
      listeners.push(listener);
    },
  };
  return { db: fake as unknown as Database, statements, back: () => listeners.forEach((listener) => listener(true)) };
}

/** Polls `done` every 5 ms for up to 2 s: far less than the 20 s renewal tick of a 60 s lease. */
async function soon(done: () => boolean): Promise<boolean> {
  for (const until = performance.now() + 2000; !done() && performance.now() < until;)
    await new Promise((resolve) => setTimeout(resolve, 5));
  return done();
}

describe('an instance lease', () => {
  it.each([0, 50])(
    'is given up on its own clock when its renewals never answer, even after %i ms of a busy event loop while it was taken',
    async (busyMs) => {
      const lost: string[] = [];
      const lease = new InstanceLease(
        database(busyMs),
        { leaseMs: LEASE_MS, marginMs: MARGIN_MS },
        pino({ level: 'silent' }),
        (id) => lost.push(id),
      );
      await lease.start();
      const id = lease.id();
      expect(id).toBeDefined();
      // Nothing asks for the identity meanwhile: only the lease's own timer can notice. With the cores busy (4 busy
      // loops beside this file) its timer came due before the lease had on performance.now()'s clock, and was never
      // set again: this test failed 3 runs in 6, and 2 in 6 again; looking again at the time left, 0 in 8. (A fix whose
      // test fails only under load: postgres-couriers.test.ts and CI had shown it, 1 run in about 30.)
      await new Promise((resolve) => setTimeout(resolve, LEASE_MS * 3));
      expect(lease.lost).toBe(1);
      expect(lost).toEqual([id]);
      await lease.stop();
    },
  );

  // A lease of 60 s renews every 20 s: what happens within 2 s is what Postgres coming back, or giving up, set off.
  const LONG_LEASE = { leaseMs: 60_000, marginMs: MARGIN_MS };

  it('is renewed at once when Postgres is back, not at its next tick: the renewals missed left it near its end', async () => {
    const { db, statements, back } = recoveringDatabase(true);
    const lease = new InstanceLease(db, LONG_LEASE, pino({ level: 'silent' }), () => {});
    await lease.start();
    back();
    expect(await soon(() => statements.includes('instance_renew'))).toBe(true);
    expect(lease.lost).toBe(0);
    await lease.stop();
  });

  it('registers a new identity at once once it has given one up, so that orders start again without waiting for a tick', async () => {
    const { db, statements, back } = recoveringDatabase(false);
    const lost: string[] = [];
    const lease = new InstanceLease(db, LONG_LEASE, pino({ level: 'silent' }), (id) => lost.push(id));
    await lease.start();
    const first = lease.id();
    // Back after an outage that outlasted the lease in Postgres: the renewal finds it expired.
    back();
    expect(await soon(() => lease.id() !== undefined && lease.id() !== first)).toBe(true);
    expect(lost).toEqual([first]);
    expect(statements).toEqual(['instance_register', 'instance_renew', 'instance_register']);
    await lease.stop();
  });
});
