import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CancelCells } from '../../src/shared-memory/cancel-cells.js';
import { SlotSemaphore } from '../../src/shared-memory/slot-semaphore.js';
import { StepTracker } from '../../src/shared-memory/step-tracker.js';
import { StepCanceled } from '../../workers/step-api.js';
import { WorkerStepContext } from '../../workers/step-context.js';
import { ThreadTimers } from '../../workers/thread-timers.js';

const THREAD = 7;

/** A step's context as a worker makes it, on this thread, over real shared memory. */
function contextOn(cells: CancelCells, couriers: SlotSemaphore, cell: number): WorkerStepContext {
  const shard = StepTracker.create(1).claim(THREAD);
  return new WorkerStepContext(
    cell,
    {
      cells,
      couriers,
      shard,
      timers: new ThreadTimers(cells, shard.index, shard.beat.bind(shard)),
      threadId: THREAD,
      log: pino({ level: 'silent' }),
      sendLedgerRequest: () => {},
      dependencies: { outages: undefined, retries: {} },
    },
    { requestId: 'r', client: 'c', clientIndex: 0, tierRank: 1, orderId: 'o', run: 1, step: 'courier' },
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
    expect(cells.cancel(0)).toBe(0);
    // As the main thread does after every cancellation (src/composition/engine.ts).
    couriers.wakeWaiters();
    await expect(waiting).rejects.toBeInstanceOf(StepCanceled);
    expect(couriers.waiting()).toBe(0);
    ctx.finish();
    couriers.release(held, 1);
    expect(couriers.busy()).toBe(0);
  });
});
