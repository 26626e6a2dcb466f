import { queryObjects } from 'node:v8';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { CancelCells } from '../../src/shared-memory/cancel-cells.js';
import { SlotSemaphore } from '../../src/shared-memory/slot-semaphore.js';
import { StepTracker } from '../../src/shared-memory/step-tracker.js';
import { StepCanceled } from '../../workers/step-api.js';
import { WorkerStepContext, type TaskResources } from '../../workers/step-context.js';
import { OnCpuMarker } from '../../workers/on-cpu-marker.js';

const THREAD = 7;

/** What a worker's tasks share: its shard, logger and dependency line. */
function threadResources(cells: CancelCells, couriers: SlotSemaphore): TaskResources {
  const shard = StepTracker.create(1).claim(THREAD);
  return {
    cells,
    couriers,
    shard,
    onCpu: new OnCpuMarker(shard),
    threadId: THREAD,
    log: pino({ level: 'silent' }),
    sendRequest: () => {},
    dependencies: { outages: undefined, retries: {} },
  };
}

/** A step's context as a worker makes it, on this thread, over real shared memory. */
function contextOn(
  cells: CancelCells,
  couriers: SlotSemaphore,
  cell: number,
  resources = threadResources(cells, couriers),
): WorkerStepContext {
  return new WorkerStepContext(
    cell,
    resources,
    {
      requestId: 'r',
      client: 'c',
      clientIndex: 0,
      tierRank: 1,
      orderId: 'o',
      run: 1,
      fence: 0,
      caller: undefined,
      step: 'courier',
    },
    undefined,
  );
}

describe('WorkerStepContext', () => {
  it('waits for a courier without a wait on its cancel cell, and gives up once the canceller wakes the waiters', async () => {
    const cells = CancelCells.create(2);
    const couriers = SlotSemaphore.create(1, 2, 8);
    const held = couriers.tryAcquire(1);
    const ctx = contextOn(cells, couriers, 0);
    const waiting = ctx.acquireCourier();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(couriers.waiting()).toBe(1);
    // Before: each courier waiter also waited on its cell, a wake-up posted to its thread when the cell was
    // canceled or recycled — for every waiter under load, canceled or not.
    expect(cells.cancel(0)).toBe(true);
    // As the main thread does after every cancellation (src/composition/engine.ts).
    couriers.wakeWaiters();
    await expect(waiting).rejects.toBeInstanceOf(StepCanceled);
    expect(couriers.waiting()).toBe(0);
    ctx.finish();
    couriers.release(held, 1);
    expect(couriers.busy()).toBe(0);
  });

  it("ends without walking its thread's courier waiters, unless it ends while it waits for a courier", async () => {
    let walks = 0;
    class CountedWalks extends SlotSemaphore {
      override abandon(token: number): void {
        walks++;
        super.abandon(token);
      }
    }
    const cells = CancelCells.create(4);
    const couriers = new CountedWalks(SlotSemaphore.create(1, 2, 8).buffer);
    const resources = threadResources(cells, couriers);
    // Before: every step's end walked every waiter of the thread (62 million entries on one thread in `wide`).
    const neverWaited = contextOn(cells, couriers, 0, resources);
    neverWaited.finish();
    expect(walks).toBe(0);
    const held = couriers.tryAcquire(1);
    const waiter = contextOn(cells, couriers, 1, resources);
    const waiting = waiter.acquireCourier();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(couriers.waiting()).toBe(1);
    waiter.finish();
    expect({ walks, waiting: couriers.waiting() }).toEqual({ walks: 1, waiting: 0 });
    await expect(waiting).rejects.toBeInstanceOf(StepCanceled);
    couriers.release(held, 1);
    expect(couriers.busy()).toBe(0);
  });

  it('keeps no courier set, provider or retry line of its own while it sleeps on its dependency', async () => {
    // What a sleeping step holds is what thousands of them hold on their thread: only what it uses is made.
    const steps = 100;
    const cells = CancelCells.create(steps);
    const couriers = SlotSemaphore.create(1, 2, 8);
    const resources = threadResources(cells, couriers);
    const setsBefore = queryObjects(Set, { format: 'count' });
    const contexts = Array.from({ length: steps }, (_, cell) => contextOn(cells, couriers, cell, resources));
    const sleeping = contexts.map((ctx, cell) => {
      cells.markStarted(cell);
      return ctx.callDependency('vendor', (call) => call.answer(60_000, undefined), {
        retry: false,
        expectedMs: 60_000,
      });
    });
    expect(queryObjects(Set, { format: 'count' }) - setsBefore).toBeLessThan(steps / 4);
    for (let cell = 0; cell < steps; cell++) cells.cancel(cell);
    for (const asleep of sleeping) await expect(asleep).rejects.toBeInstanceOf(StepCanceled);
    for (const ctx of contexts) ctx.finish();
  });

  it('makes its child logger only for a line the level writes, once, bound to its task', () => {
    const cells = CancelCells.create(1);
    const couriers = SlotSemaphore.create(1, 2, 8);
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const children = vi.spyOn(log, 'child');
    const ctx = contextOn(cells, couriers, 0, { ...threadResources(cells, couriers), log });
    ctx.log.debug('dropped');
    expect(children).not.toHaveBeenCalled();
    ctx.log.info({ n: 1 }, 'first');
    ctx.log.warn('second');
    expect(children).toHaveBeenCalledTimes(1);
    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toMatchObject([
      { request_id: 'r', order_id: 'o', step: 'courier', n: 1, msg: 'first' },
      { request_id: 'r', order_id: 'o', step: 'courier', msg: 'second' },
    ]);
  });

  it("is marked on the CPU while its code runs, and the turn's one immediate clears whichever step holds the mark", async () => {
    const cells = CancelCells.create(2);
    const couriers = SlotSemaphore.create(1, 2, 8);
    const resources = threadResources(cells, couriers);
    const [first, second] = [0, 1].map((cell) => contextOn(cells, couriers, cell, resources));
    first!.enter();
    second!.enter();
    expect(resources.shard.onCpu()).toBe(1);
    resources.onCpu.unmark(0);
    expect(resources.shard.onCpu()).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(resources.shard.onCpu()).toBeUndefined();
    first!.enter();
    await new Promise((resolve) => setImmediate(resolve));
    expect(resources.shard.onCpu()).toBeUndefined();
  });
});
