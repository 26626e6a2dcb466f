import { getEventListeners } from 'node:events';
import { queryObjects } from 'node:v8';
import { Piscina } from 'piscina';
import { describe, expect, it } from 'vitest';
import { CancelCellAllocator, CancelCells } from '../../src/shared-memory/cancel-cells.js';
import type { CellSleep } from '../fixtures/cell-sleeper.js';
import { compiledFixture } from '../support/compiled.js';

describe('CancelCells', () => {
  it('wakes the sleep on a cell at its cancel, once: a second cancel wakes no one', async () => {
    const cells = CancelCells.create(2);
    const sleeping = cells.waitCanceled(0, 60_000);
    expect(cells.cancel(0)).toBe(true);
    expect(cells.cancel(0)).toBe(false);
    expect(await sleeping).toBe(true);
    // Canceled already: a sleep ends at once.
    expect(await cells.waitCanceled(0, 60_000)).toBe(true);
    expect(cells.isCanceled(1)).toBe(false);
  });

  it('ends a sleep nothing cancels by its time, never before it, a fraction of a millisecond included', async () => {
    // A wait's own timeout ended a 1 ms wait after 0.01 ms (6 of 2,000), and one of 0.3 ms at once.
    const cells = CancelCells.create(1);
    const early: number[] = [];
    for (const ms of [30, 0.3, ...Array<number>(300).fill(1)]) {
      const started = performance.now();
      expect(await cells.waitCanceled(0, ms)).toBe(false);
      const slept = performance.now() - started;
      if (slept < ms) early.push(slept);
    }
    expect(early).toEqual([]);
  });

  it('wakes a sleep on another thread at once', async () => {
    const cells = CancelCells.create(1);
    const pool = new Piscina<CellSleep, { canceled: boolean; ms: number }>({
      filename: compiledFixture('cell-sleeper').href,
      minThreads: 1,
      maxThreads: 1,
    });
    try {
      const slept = pool.run({ cells: cells.buffer, cell: 0, ms: 20_000 });
      await expect.poll(() => cells.hasStarted(0)).toBe(true);
      cells.cancel(0);
      expect(await slept).toMatchObject({ canceled: true });
      expect((await slept).ms).toBeLessThan(10_000);
    } finally {
      await pool.destroy();
    }
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

  it("cancels each cell of a turn's aborted orders at once, and reacts once to them all at the end of the turn", async () => {
    let reactions = 0;
    const allocator = new CancelCellAllocator(CancelCells.create(10), () => reactions++);
    const { cells } = allocator;
    const orders = Array.from({ length: 10 }, () => new AbortController());
    const taken = orders.map((order) => allocator.take(order.signal)!);
    const sleeps = taken.map((cell) => cells.waitCanceled(cell, 60_000));
    for (const order of orders) order.abort();
    expect(taken.every((cell) => cells.isCanceled(cell))).toBe(true);
    expect(reactions).toBe(0);
    await Promise.resolve();
    expect(reactions).toBe(1);
    expect(await Promise.all(sleeps)).toEqual(taken.map(() => true));
    for (const cell of taken) allocator.give(cell);
  });
});
