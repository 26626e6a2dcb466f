/**
 * A provider call the database did not answer leaves the run in doubt,
 * whatever the error: the order records then void the run again before
 * recording it, or leave it to recovery — never recording a void that did
 * not get through as done.
 */
import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/postgres/database.js';
import { PgLedger, RunsInDoubt } from '../../src/postgres/pg-ledger.js';
import { orderKey, type OrderKey } from '../../src/domain/order.js';

/** An order of the tests' one client. */
const k = (orderId: string): OrderKey => orderKey('test', orderId);

/** A database whose every statement fails with `error`. */
const failing = (error: Error): Database =>
  ({ query: () => Promise.reject(error), readByKey: () => () => Promise.reject(error) }) as unknown as Database;

describe('PgLedger', () => {
  it.each([
    ['the database is unreachable', new Error('connect ECONNREFUSED 127.0.0.1:5432')],
    ['no connection could be had in time, the database being up', new Error('too many clients waiting for the pool')],
  ])('puts a run in doubt when a void fails because %s', async (_case, error) => {
    const inDoubt = new RunsInDoubt();
    const ledger = new PgLedger(failing(error), inDoubt, () => undefined, { maxBatch: 1, maxInFlight: 1 });
    await expect(ledger.void({ order: k('o'), run: 7 }, false)).rejects.toThrow();
    expect(inDoubt.take({ order: k('o'), run: 7 })).toBe(true);
  });
});
