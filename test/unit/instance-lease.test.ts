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
    query: (): Promise<unknown[]> => {
      if (registered) return new Promise(() => {});
      registered = true;
      busy(busyMs);
      return Promise.resolve([]);
    },
  };
  return fake as unknown as Database;
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
});
