/**
 * A thread that takes a lost one's place is given no step before the registry watches it. Piscina offers its balancer
 * a replacement while it is still starting, whenever another thread's task ends with steps queued. A replacement given
 * a step then, which died of it before the main thread had read that it was ready (a busy main thread reads a thread's
 * error before its ready), was never tracked: its exit went unseen, its share of the tracker was never given back
 * (`running_steps` above 0 with no order in flight), and its steps' losses were taken for refusals. The pool here is the
 * service's, over its shared memory, with every step queued behind two threads of one task each.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_STEPS } from '../../src/composition/steps.js';
import type { Order } from '../../src/domain/order.js';
import { compiledModule } from '../../src/paths.js';
import { modulesOf } from '../../src/pipeline/steps.js';
import { CancelCells } from '../../src/shared-memory/cancel-cells.js';
import { SlotSemaphore } from '../../src/shared-memory/slot-semaphore.js';
import { StepTracker } from '../../src/shared-memory/step-tracker.js';
import type { StepReport } from '../../src/threads/protocol.js';
import { StepPool, type PooledStep } from '../../src/threads/step-pool.js';

const STEPS = 40;
const VENDOR = DEFAULT_STEPS.find((step) => step.name === 'vendor')!.module;

const vendorOrder = (orderId: string, delayMs: number, crash: boolean): Order => ({
  client: 'anonymous',
  orderId,
  amount: 1,
  failStep: undefined,
  failCompensation: false,
  delayMs: { payment: 0, vendor: delayMs, courier: 0, refund: 0 },
  cpuMs: { payment: 0, vendor: 0, courier: 0 },
  ...(crash ? { faults: { vendor: 'crash' as const } } : {}),
});

let pool: StepPool<number> | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('a thread replacing a lost one', () => {
  it('is given no step before the registry watches it, and what a dead thread held is given back', async () => {
    const cells = CancelCells.create(STEPS + 1);
    const tracker = StepTracker.create(2);
    const couriers = SlotSemaphore.create(1, 2, STEPS + 1);
    const running = new StepPool<number>({
      threads: 2,
      tasksPerThread: 1,
      queueLimit: STEPS + 1,
      workerFile: compiledModule('workers/step-worker'),
      workerSetup: {
        cancelCells: cells.buffer,
        stepTracker: tracker.buffer,
        courierSlots: couriers.buffer,
        logLevel: 'silent',
        stepModules: modulesOf(DEFAULT_STEPS),
      },
      reclaim: (threadId) => tracker.reclaim(threadId)?.running ?? 0,
      executingStep: (threadId) => tracker.executingOn(threadId),
      onThreadExit: () => {},
      onLedgerRequest: () => {},
      onEffectRequest: () => {},
    });
    pool = running;
    await running.whenThreadUp();

    /** Each placement, and whether the registry watched the thread as the step was handed to it. */
    const placements: Array<{ threadId: number; watched: boolean }> = [];
    const stepOf = (cell: number): PooledStep => {
      let placedOn: number | undefined;
      return {
        cpuMs: 0,
        placedAt: 0,
        aborted: false,
        get placedOn() {
          return placedOn;
        },
        set placedOn(threadId) {
          placedOn = threadId;
          if (threadId !== undefined) placements.push({ threadId, watched: running.registry.accepts(threadId) });
        },
        started: () => cells.hasStarted(cell),
        computed: () => cells.hasComputed(cell),
        addEventListener: () => {},
        removeEventListener: () => {},
      };
    };
    const runOn = (cell: number, order: Order): Promise<StepReport | 'lost'> =>
      running
        .run(
          { cell, module: VENDOR, order, run: 1, fence: 1, requestId: `r-${cell}`, remainingMs: 10_000 },
          stepOf(cell),
        )
        .catch(() => 'lost' as const);

    // The first kills its thread at once; the rest, queued, keep the other thread ending tasks while its replacement
    // starts. A step that crashed the thread or shared it is lost; the others report.
    const ended = await Promise.all(
      Array.from({ length: STEPS }, (_, cell) => runOn(cell, vendorOrder(`o-${cell}`, cell === 0 ? 0 : 3, cell === 0))),
    );
    expect(ended[0]).toBe('lost');
    expect(placements.filter(({ watched }) => !watched)).toEqual([]);
    expect(ended.filter((report) => report !== 'lost' && report.status === 'ok').length).toBe(STEPS - 1);
    expect(running.registry.replaced).toBe(1);
    expect(tracker.running()).toBe(0);
  });
});
