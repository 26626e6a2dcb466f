/**
 * The load suite's physical bounds (load/lib/physical-bounds.ts): a run whose figures exceed what its scenario can
 * physically do — five 1 ms couriers finishing more than 5,000 orders a second — is failed, as a defect of the
 * service or the harness; a figure within the bound (the window's edge included) is not; a steady rate not held is.
 */
import { describe, expect, it } from 'vitest';
import {
  allOf,
  boundsPassed,
  couriersHeld,
  offered,
  rateNotHeld,
  runShapeOf,
  waiting,
  type Answered,
} from '../../load/lib/physical-bounds.js';

/** `counts` answers by status over `seconds`. */
const answered = (counts: Readonly<Record<number, number>>, seconds: number): Answered => {
  const statuses = new Map(Object.entries(counts).map(([status, count]) => [Number(status), count]));
  return { statuses, responses: [...statuses.values()].reduce((a, b) => a + b, 0), elapsedMs: seconds * 1000 };
};

describe('the physical bounds', () => {
  const overhead = couriersHeld(1);
  const fiveCouriers = runShapeOf(50, { COURIERS: '5' });

  it('fail a run that reports more than five 1 ms couriers can finish: 7,500 orders/s', () => {
    expect(boundsPassed(overhead(fiveCouriers), answered({ 200: 150_000 }, 20), 50)).toEqual([
      '7,500 answers 200/s, over the physical bound of 5,000/s (5 couriers, each held 1 ms by an order): a defect of the service or of the harness, not a win',
    ]);
  });

  it('pass a run within them, the orders sent before the window began and answered in it included', () => {
    expect(boundsPassed(overhead(fiveCouriers), answered({ 200: 99_000 }, 20), 50)).toEqual([]);
    // 5,000 a second for 20 s, and one order of each of the 50 connections sent during the warm-up.
    expect(boundsPassed(overhead(fiveCouriers), answered({ 200: 100_050 }, 20), 50)).toEqual([]);
    expect(boundsPassed(overhead(fiveCouriers), answered({ 200: 100_060 }, 20), 50)).toHaveLength(1);
  });

  it('bound only the answers they are about: a courier bound counts the orders answered 200', () => {
    expect(boundsPassed(overhead(fiveCouriers), answered({ 200: 80_000, 400: 80_000 }, 20), 100)).toEqual([]);
  });

  it('bound every answer of orders that each wait, by the connections of the run', () => {
    const failFast = waiting(150, 'for its payment to be declined');
    expect(boundsPassed(failFast(runShapeOf(20, null)), answered({ 400: 1300 }, 10), 20)).toEqual([]);
    expect(boundsPassed(failFast(runShapeOf(20, null)), answered({ 400: 2000 }, 10), 20)).toEqual([
      '200 answers/s, over the physical bound of 133/s (20 connections, each order waiting for its payment to be declined (150 ms)): a defect of the service or of the harness, not a win',
    ]);
  });

  it("read the server's settings as the service does, and leave out the bounds on settings a run does not know", () => {
    expect(runShapeOf(50, {})).toMatchObject({ connections: 50, couriers: 5 });
    expect(runShapeOf(50, { COURIERS: '1024' })).toMatchObject({ couriers: 1024 });
    const sustained = allOf(offered(1000), couriersHeld(1));
    expect(sustained(runShapeOf(50, {})).map((bound) => bound.perSec)).toEqual([1000, 5000]);
    expect(sustained(runShapeOf(50, null)).map((bound) => bound.perSec)).toEqual([1000]);
  });

  it('fail a steady rate not held: nothing was sustained', () => {
    expect(rateNotHeld(1000, answered({ 200: 990_000 }, 1000))).toEqual([]);
    expect(rateNotHeld(1000, answered({ 200: 900_000 }, 1000))).toEqual([
      '900 answers/s of the 1,000 sent a second: the rate was not held',
    ]);
    expect(rateNotHeld(undefined, answered({ 200: 1 }, 1000))).toEqual([]);
  });
});
