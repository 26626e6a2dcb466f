import { getEventListeners } from 'node:events';
import { queryObjects } from 'node:v8';
import { Piscina } from 'piscina';
import { describe, expect, it } from 'vitest';
import { CancelCellAllocator, CancelCells, THREAD_BELLS } from '../../src/shared-memory/cancel-cells.js';
import type { BellSleep } from '../fixtures/bell-sleeper.js';
import { compiledFixture } from '../support/compiled.js';

describe('CancelCells', () => {
  it('rings the bell of the thread a started task runs on, once until that thread looks again', async () => {
    const cells = CancelCells.create(3);
    const bell = 5;
    const waiting = cells.waitForBell(bell);
    expect(waiting.async).toBe(true);
    cells.markStarted(0, bell);
    cells.markStarted(1, bell);
    expect(cells.cancel(0)).toBe(1);
    // Rung already: the thread has yet to look, and will see this one too.
    expect(cells.cancel(1)).toBe(0);
    expect(await waiting.value).toBe('ok');
    expect(cells.waitForBell(bell).async).toBe(false);
    cells.quietBell(bell);
    const again = cells.waitForBell(bell);
    expect(again.async).toBe(true);
    cells.markStarted(2, bell);
    expect(cells.cancel(2)).toBe(1);
    expect(await again.value).toBe('ok');
  });

  it('rings no bell for a task not started, nor for a recycled cell', () => {
    const cells = CancelCells.create(2);
    const bell = 0;
    expect(cells.cancel(0)).toBe(0);
    cells.markStarted(1, bell);
    cells.reset(1);
    expect(cells.cancel(1)).toBe(0);
    expect(cells.waitForBell(bell).async).toBe(true);
    expect(() => cells.ring(THREAD_BELLS)).toThrow(RangeError);
  });

  it('resolves whenCanceled on cancel', async () => {
    const cells = CancelCells.create(2);
    const canceled = cells.whenCanceled(0);
    cells.cancel(0);
    await canceled;
    expect(cells.isCanceled(0)).toBe(true);
  });

  it('records start and fault, and reset clears every word', () => {
    const cells = CancelCells.create(1);
    cells.markStarted(0);
    cells.markFaulted(0);
    cells.cancel(0);
    cells.setActivity(0, 'awaiting_courier');
    cells.setCourierSlot(0, 0);
    expect([
      cells.hasStarted(0),
      cells.isFaulted(0),
      cells.isCanceled(0),
      cells.activityOf(0),
      cells.courierSlotOf(0),
    ]).toEqual([true, true, true, 'awaiting_courier', 0]);
    cells.reset(0);
    expect([
      cells.hasStarted(0),
      cells.isFaulted(0),
      cells.isCanceled(0),
      cells.activityOf(0),
      cells.courierSlotOf(0),
    ]).toEqual([false, false, false, 'running', undefined]);
  });

  it('wakes a thread blocked on its bell as well as its own wait on it, at the first ring', async () => {
    // A thread finishing a sleep blocks on its bell (workers/thread-timers.ts) while its `waitAsync` on the bell, made
    // first, is still pending: a ring that woke only the first waiter left the thread blocked to the end of its wait.
    const cells = CancelCells.create(1);
    const blocking = new Int32Array(new SharedArrayBuffer(4));
    const pool = new Piscina<BellSleep, number>({
      filename: compiledFixture('bell-sleeper').href,
      minThreads: 1,
      maxThreads: 1,
    });
    try {
      const blocked = pool.run({ cells: cells.buffer, bell: 1, ms: 20_000, blocking: blocking.buffer });
      while (Atomics.load(blocking, 0) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      // Time for the thread to go from the flag into its wait (rung before, the bell would not block it at all).
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(cells.ring(1)).toBe(1);
      expect(await blocked).toBeLessThan(10_000);
    } finally {
      await pool.destroy();
    }
  });

  it('refuses an index outside the buffer', () => {
    const cells = CancelCells.create(2);
    expect(() => cells.cancel(2)).toThrow(RangeError);
    expect(() => cells.cancel(-1)).toThrow(RangeError);
  });
});

describe('CancelCellAllocator', () => {
  it('cancels a cell when its signal aborts, and removes the listener when the cell is given back', () => {
    const allocator = new CancelCellAllocator(CancelCells.create(4));
    const controller = new AbortController();
    const cell = allocator.take(controller.signal)!;
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort();
    expect(allocator.cells.isCanceled(cell)).toBe(true);
    allocator.give(cell);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(allocator.cells.isCanceled(cell)).toBe(false);
  });

  it('removes the listener of a cell given back before its signal aborted', () => {
    const allocator = new CancelCellAllocator(CancelCells.create(4));
    const controller = new AbortController();
    allocator.give(allocator.take(controller.signal)!);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    controller.abort();
    expect(allocator.inUse).toBe(0);
  });

  it('hands out a canceled cell, without a listener, for a signal already aborted', () => {
    const allocator = new CancelCellAllocator(CancelCells.create(1));
    const signal = AbortSignal.abort();
    const cell = allocator.take(signal)!;
    expect(allocator.cells.isCanceled(cell)).toBe(true);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it("listens to a signal once for all of its cells (an order's steps), cancels each, and stops listening with the last given back", () => {
    const allocator = new CancelCellAllocator(CancelCells.create(8));
    const told: number[] = [];
    const holderOf = (step: number) => ({ cellCanceled: () => told.push(step) });
    const order = new AbortController();
    const cells = [0, 1, 2].map((step) => allocator.take(order.signal, holderOf(step))!);
    // One listener, not one a cell: each registration is an object of Node's EventTarget, added and removed per step.
    expect(getEventListeners(order.signal, 'abort')).toHaveLength(1);
    // A step given back before the abort is off the list, and is not canceled with the others.
    allocator.give(cells[1]!);
    const other = new AbortController();
    const otherCell = allocator.take(other.signal)!;
    order.abort();
    expect(told).toEqual([0, 2]);
    expect([cells[0], cells[2]].map((cell) => allocator.cells.isCanceled(cell!))).toEqual([true, true]);
    expect(allocator.cells.isCanceled(otherCell)).toBe(false);
    allocator.give(cells[0]!);
    allocator.give(cells[2]!);
    expect(getEventListeners(order.signal, 'abort')).toHaveLength(0);
    // Given back without an abort, in any order: the listener goes with the last.
    const later = new AbortController();
    const again = [0, 1, 2].map(() => allocator.take(later.signal)!);
    for (const cell of [again[1]!, again[0]!]) allocator.give(cell);
    expect(getEventListeners(later.signal, 'abort')).toHaveLength(1);
    allocator.give(again[2]!);
    expect(getEventListeners(later.signal, 'abort')).toHaveLength(0);
    later.abort();
    expect(told).toEqual([0, 2]);
    allocator.give(otherCell);
    expect(allocator.inUse).toBe(0);
  });

  it('runs out at capacity and reuses what is given back', () => {
    const allocator = new CancelCellAllocator(CancelCells.create(2));
    const signal = new AbortController().signal;
    const a = allocator.take(signal)!;
    const b = allocator.take(signal)!;
    expect(new Set([a, b]).size).toBe(2);
    expect(allocator.take(signal)).toBeUndefined();
    allocator.give(a);
    expect(allocator.take(signal)).toBe(a);
    expect(() => allocator.give(3)).toThrow();
  });

  it('counts open cells whose task has not started', () => {
    const allocator = new CancelCellAllocator(CancelCells.create(3));
    const signal = new AbortController().signal;
    const a = allocator.take(signal)!;
    allocator.take(signal);
    expect(allocator.countNotStarted()).toBe(2);
    allocator.cells.markStarted(a);
    expect(allocator.countNotStarted()).toBe(1);
  });

  it('tells the holder after its cell is canceled, and ties a cell to its signal without a closure once it has been used', () => {
    const steps = 1_000;
    const allocator = new CancelCellAllocator(CancelCells.create(steps));
    const controller = new AbortController();
    const canceled: boolean[] = [];
    const holder = { cellCanceled: () => canceled.push(allocator.cells.isCanceled(cell)) };
    const cell = allocator.take(controller.signal, holder)!;
    controller.abort();
    expect(canceled).toEqual([true]);
    allocator.give(cell);
    const everyCell = (signal: AbortSignal): number[] => Array.from({ length: steps }, () => allocator.take(signal)!);
    for (const used of everyCell(new AbortController().signal)) allocator.give(used);
    // Each step of each order takes a cell: a closure or two per take were most of a step's garbage on the main thread.
    const signal = new AbortController().signal;
    const functionsBefore = queryObjects(Function, { format: 'count' });
    const taken = everyCell(signal);
    expect(queryObjects(Function, { format: 'count' }) - functionsBefore).toBeLessThan(steps / 10);
    for (const used of taken) allocator.give(used);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it("rings each bell once for a turn's cancellations, at the end of the turn, and reacts once to them all", async () => {
    let reactions = 0;
    const allocator = new CancelCellAllocator(CancelCells.create(10), () => reactions++);
    const { cells } = allocator;
    const rung: number[] = [];
    const ring = cells.ring.bind(cells);
    cells.ring = (bell: number): number => {
      rung.push(bell);
      return ring(bell);
    };
    const orders = Array.from({ length: 10 }, () => new AbortController());
    const taken = orders.map((order, i) => {
      const cell = allocator.take(order.signal)!;
      cells.markStarted(cell, i % 2 === 0 ? 3 : 4);
      return cell;
    });
    // A wave of failures read in one turn; the threads look at their cells meanwhile (they run on other cores).
    for (const order of orders) {
      order.abort();
      cells.quietBell(3);
      cells.quietBell(4);
    }
    expect(taken.every((cell) => cells.isCanceled(cell))).toBe(true);
    expect({ rung, reactions }).toEqual({ rung: [], reactions: 0 });
    await Promise.resolve();
    expect({ rung, reactions }).toEqual({ rung: [3, 4], reactions: 1 });
  });

  it("rings no bell and wakes no courier dispatcher for cells their thread canceled already (a failed step's siblings)", async () => {
    let reactions = 0;
    const allocator = new CancelCellAllocator(CancelCells.create(4), () => reactions++);
    const { cells } = allocator;
    const order = new AbortController();
    const siblings = [allocator.take(order.signal)!, allocator.take(order.signal)!];
    for (const cell of siblings) cells.markStarted(cell, 2);
    // As the thread does where a step failed: canceled there, and looked at there.
    for (const cell of siblings) expect(cells.markCanceled(cell)).toBe(true);
    expect(cells.markCanceled(siblings[0]!)).toBe(false);
    const bell = cells.waitForBell(2);
    expect(bell.async).toBe(true);
    order.abort();
    await Promise.resolve();
    expect(reactions).toBe(0);
    expect(cells.cancel(siblings[0]!)).toBe(0);
    // The bell is still quiet: a ring now is the first.
    expect(cells.ring(2)).toBe(1);
    expect(await bell.value).toBe('ok');
  });
});
