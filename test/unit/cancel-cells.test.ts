import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { CancelCellAllocator, CancelCells } from '../../src/shared-memory/cancel-cells.js';

describe('CancelCells', () => {
  it('sleeps for the whole delay when nothing cancels it', async () => {
    const cells = CancelCells.create(1);
    const started = performance.now();
    expect(await cells.sleep(0, 30)).toBe('elapsed');
    expect(performance.now() - started).toBeGreaterThanOrEqual(29);
  });

  it('wakes a sleeper as soon as the cell is canceled', async () => {
    const cells = CancelCells.create(1);
    const sleeping = cells.sleep(0, 5000);
    setTimeout(() => cells.cancel(0), 20);
    const started = performance.now();
    expect(await sleeping).toBe('canceled');
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('does not sleep at all on a cell canceled before, or for 0 ms', async () => {
    const cells = CancelCells.create(2);
    cells.cancel(0);
    expect(await cells.sleep(0, 5000)).toBe('canceled');
    expect(await cells.sleep(1, 0)).toBe('elapsed');
  });

  it('resolves whenCanceled on cancel, and wakes leftover waiters on reset', async () => {
    const cells = CancelCells.create(2);
    const canceled = cells.whenCanceled(0);
    cells.cancel(0);
    await canceled;
    const leftover = cells.whenCanceled(1);
    cells.reset(1);
    await leftover;
    expect(cells.isCanceled(1)).toBe(false);
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
});
