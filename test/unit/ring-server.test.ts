import { describe, expect, it } from 'vitest';
import type { Order } from '../../src/domain/order.js';
import { CancelCells } from '../../src/shared-memory/cancel-cells.js';
import { RingReader } from '../../src/shared-memory/word-ring.js';
import { SlotSemaphore } from '../../src/shared-memory/slot-semaphore.js';
import { StepTracker } from '../../src/shared-memory/step-tracker.js';
import { OrderAborted } from '../../src/domain/errors.js';
import { readReport as meaningOf, type BatchedReport, type StepBatch } from '../../src/threads/protocol.js';
import { readLedgerRequest, readReport, StepRings, writeBatch } from '../../src/threads/step-rings.js';
import { serveRing } from '../../workers/ring-server.js';
import { createStepRuntime } from '../../workers/step-runtime.js';

/** The step modules as this run loads them (sources here). */
const MODULES = ['payment', 'vendor', 'courier'].map(
  (name) => new URL(`../../workers/steps/${name}.ts`, import.meta.url).href,
);
const THREAD = 9;

const orderOf = (delayMs: Order['delayMs'], failStep: Order['failStep']): Order => ({
  orderId: 'o-1',
  client: 'c',
  amount: 100,
  failStep,
  failCompensation: false,
  delayMs,
  cpuMs: { payment: 0, vendor: 0, courier: 0 },
});

/**
 * This thread as a step thread serving its rings, and as the main thread writing batches into them and reading the
 * reports (nobody else cancels anything).
 */
async function ringOnThisThread() {
  const cells = CancelCells.create(8);
  const tracker = StepTracker.create(1);
  const runtime = await createStepRuntime(
    {
      cancelCells: cells.buffer,
      stepTracker: tracker.buffer,
      courierSlots: SlotSemaphore.create(2).buffer,
      logLevel: 'silent',
      stepModules: MODULES,
    },
    THREAD,
  );
  const pair = StepRings.create(1).claim(THREAD)!;
  serveRing(pair, MODULES, runtime);
  const reports: Array<{ cell: number; report: BatchedReport }> = [];
  new RingReader(pair.reports, (at) => {
    if (!readLedgerRequest(pair.reports, at)) reports.push(readReport(pair.reports, at));
  }).look();
  const post = (batch: StepBatch): void => {
    expect(writeBatch(pair.tasks, batch, (module) => MODULES.indexOf(module))).toBe(true);
    pair.tasks.publish();
    pair.tasks.wake();
  };
  return { cells, tracker, reports, post };
}

const batchOf = (order: Order, cells: readonly number[]): StepBatch => ({
  order,
  run: 1,
  requestId: 'r',
  steps: MODULES.map((module, i) => ({ cell: cells[i]!, module })),
});

describe("a thread's ring server", () => {
  it("cancels a failed step's siblings on its own thread, their reports behind the failure's", async () => {
    // errgroup's cancel from the goroutine that failed: without it the siblings slept their 60 s until the main thread
    // read the failure and rang this thread's bell — a round trip between the threads before the order's answer.
    const { cells, tracker, reports, post } = await ringOnThisThread();
    const started = performance.now();
    post(batchOf(orderOf({ payment: 20, vendor: 60_000, courier: 60_000, refund: 0 }, 'payment'), [0, 1, 2]));
    await expect.poll(() => reports.length, { timeout: 5_000 }).toBe(3);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(reports.map(({ cell, report }) => [cell, report.status])).toEqual([
      [0, 'error'],
      [1, 'canceled'],
      [2, 'canceled'],
    ]);
    expect(reports.map(({ report }) => ('siblingFailed' in report ? report.siblingFailed : undefined))).toEqual([
      undefined,
      'payment_declined',
      'payment_declined',
    ]);
    expect([cells.isCanceled(1), cells.isCanceled(2)]).toEqual([true, true]);
    expect(tracker.running()).toBe(0);
  });

  it('leaves alone a sibling that ended before the failure: its cell may be another step’s by then', async () => {
    const { cells, tracker, reports, post } = await ringOnThisThread();
    post(batchOf(orderOf({ payment: 1_000, vendor: 60_000, courier: 1, refund: 0 }, 'payment'), [3, 4, 5]));
    await expect.poll(() => reports.length).toBeGreaterThan(0);
    expect(reports).toMatchObject([{ cell: 5, report: { status: 'ok' } }]);
    // As the main thread does once it has read a report: the cell is recycled for the next step.
    cells.reset(5);
    await expect.poll(() => reports.length, { timeout: 5_000 }).toBe(3);
    expect(reports.slice(1).map(({ cell, report }) => [cell, report.status])).toEqual([
      [3, 'error'],
      [4, 'canceled'],
    ]);
    expect(cells.isCanceled(5)).toBe(false);
    expect(tracker.running()).toBe(0);
  });

  it("has the main thread read a sibling's cancellation, come before the failure reached the order, as that failure's", () => {
    const report = { status: 'canceled', threadId: 1, siblingFailed: 'payment_declined' } as const;
    const live = { aborted: false, reason: undefined };
    expect(meaningOf(report, live as never).cause).toBe('payment_declined');
    // An order aborted already (its deadline) keeps its own reason.
    const timedOut = { aborted: true, reason: new OrderAborted('timeout') };
    expect(meaningOf(report, timedOut as never).cause).toBe('timeout');
  });
});
