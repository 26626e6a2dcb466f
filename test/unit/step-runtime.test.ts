import { getHeapSpaceStatistics, queryObjects } from 'node:v8';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Order } from '../../src/domain/order.js';
import { CancelCells } from '../../src/shared-memory/cancel-cells.js';
import { SlotSemaphore } from '../../src/shared-memory/slot-semaphore.js';
import { StepTracker } from '../../src/shared-memory/step-tracker.js';
import type { StepReport } from '../../src/threads/protocol.js';
import { createStepRuntime } from '../../workers/step-runtime.js';
import { StepCanceled, StepFailure } from '../../workers/step-api.js';
import { OrderAborted } from '../../src/domain/errors.js';

/** The step modules as this run loads them (sources here): the runtime and the steps share one step API. */
const stepModule = (name: string): string => new URL(`../../workers/steps/${name}.ts`, import.meta.url).href;
const THREAD = 7;

const orderOf = (n: number, delayMs: number): Order => ({
  orderId: `o-${n}`,
  client: 'c',
  amount: 100,
  failStep: undefined,
  failCompensation: false,
  delayMs: { payment: delayMs, vendor: delayMs, courier: delayMs, refund: delayMs },
  cpuMs: { payment: 0, vendor: 0, courier: 0 },
});

/** The runtime a thread makes, made here, over real shared memory, with the built-in payment and vendor steps. */
async function runtimeOnThisThread(cellCount: number) {
  const cells = CancelCells.create(cellCount);
  const tracker = StepTracker.create(1);
  const modules = [stepModule('payment'), stepModule('vendor')];
  const setup = {
    cancelCells: cells.buffer,
    stepTracker: tracker.buffer,
    courierSlots: SlotSemaphore.create(1).buffer,
    logLevel: 'silent',
    stepModules: modules,
  };
  return { cells, tracker, modules, runStep: (await createStepRuntime(setup, THREAD, () => {})).run };
}

describe('the step runtime', () => {
  it('keeps no promise or async frame of its own, of a built-in step or of its call, while the step sleeps', async () => {
    // What a sleeping step holds, thousands of them hold on their thread (issue 32): its sleep's promise and the two
    // reactions that end the call and the task. The chain of async functions before held ~7 promises a step.
    const steps = 200;
    const { cells, tracker, modules, runStep } = await runtimeOnThisThread(steps);
    const reports: StepReport[] = [];
    const promisesBefore = queryObjects(Promise, { format: 'count' });
    for (let cell = 0; cell < steps; cell++)
      runStep({ cell, module: modules[cell % 2]!, order: orderOf(cell, 60_000), run: 1, requestId: 'r' }, (report) =>
        reports.push(report),
      );
    const perStep = (queryObjects(Promise, { format: 'count' }) - promisesBefore) / steps;
    expect(tracker.running()).toBe(steps);
    for (let cell = 0; cell < steps; cell++) cells.cancel(cell);
    await expect.poll(() => reports.length).toBe(steps);
    expect(new Set(reports.map((report) => report.status))).toEqual(new Set(['canceled']));
    expect(tracker.running()).toBe(0);
    expect(perStep).toBeLessThanOrEqual(3.5);
  });

  it('keeps none of the tasks it was given while their steps sleep, and at most 2,150 bytes a step asleep', async () => {
    // A task a class of its own, so that the live ones can be counted (queryObjects collects garbage first). The
    // runtime's closures kept the whole task, each context an object of the thread's resources, and the reactions
    // that end a task the frame Node's AsyncLocalStorage.run leaves behind: 2,290 bytes a step asleep here, then 2,074
    // (this process's heap, after a full collection). Its objects alone, in ten runs: 2,082–2,099.
    class CountedTask {
      constructor(
        readonly cell: number,
        readonly module: string,
        readonly order: Order,
        readonly run = 1,
        readonly requestId = 'r',
      ) {}
    }
    const steps = 2000;
    const { cells, tracker, modules, runStep } = await runtimeOnThisThread(steps);
    const reports: StepReport[] = [];
    // Objects only: the code V8 compiles while the loop runs (its code spaces) is no step's, and it came to 20–260
    // bytes a step from one run to the next, enough to cross the bound by itself.
    const heapAfterCollection = (): number => {
      queryObjects(CountedTask, { format: 'count' });
      return getHeapSpaceStatistics()
        .filter((space) => !space.space_name.startsWith('code_'))
        .reduce((bytes, space) => bytes + space.space_used_size, 0);
    };
    const heapBefore = heapAfterCollection();
    for (let cell = 0; cell < steps; cell++)
      runStep(new CountedTask(cell, modules[cell % 2]!, orderOf(cell, 60_000)), (report) => reports.push(report));
    const bytesPerStep = (heapAfterCollection() - heapBefore) / steps;
    expect(tracker.running()).toBe(steps);
    expect(queryObjects(CountedTask, { format: 'count' })).toBe(0);
    for (let cell = 0; cell < steps; cell++) cells.cancel(cell);
    await expect.poll(() => reports.length).toBe(steps);
    expect(tracker.running()).toBe(0);
    expect(bytesPerStep).toBeLessThanOrEqual(2150);
  });

  it('reports a step that ends, and one that fails, once each, with the tracker back at 0', async () => {
    const { tracker, modules, runStep } = await runtimeOnThisThread(2);
    const reports: StepReport[] = [];
    runStep({ cell: 0, module: modules[0]!, order: orderOf(0, 5), run: 1, requestId: 'r' }, (r) => reports.push(r));
    const failing = { ...orderOf(1, 5), failStep: 'vendor' as const };
    runStep({ cell: 1, module: modules[1]!, order: failing, run: 1, requestId: 'r' }, (r) => reports.push(r));
    await expect.poll(() => reports.length).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(reports).toHaveLength(2);
    expect(reports.map((r) => [r.status, r.status === 'error' ? r.kind : r.dependency])).toEqual(
      expect.arrayContaining([
        ['ok', 'answered'],
        ['error', 'vendor_unavailable'],
      ]),
    );
    expect(tracker.running()).toBe(0);
  });

  it('reports a step that is no async function: one that returns nothing is done, one that throws fails internal', async () => {
    const { tracker, runStep } = await runtimeOnThisThread(2);
    const reports: StepReport[] = [];
    const returnsNothing = 'data:text/javascript,export default () => undefined;';
    const throwsAtOnce = 'data:text/javascript,export default () => { throw new TypeError("step bug"); };';
    runStep({ cell: 0, module: returnsNothing, order: orderOf(0, 5), run: 1, requestId: 'r' }, (r) => reports.push(r));
    runStep({ cell: 1, module: throwsAtOnce, order: orderOf(1, 5), run: 1, requestId: 'r' }, (r) => reports.push(r));
    await expect.poll(() => reports.length).toBe(2);
    expect(reports.map((r) => [r.status, r.status === 'error' ? r.kind : undefined])).toEqual(
      expect.arrayContaining([
        ['ok', undefined],
        ['error', 'internal'],
      ]),
    );
    expect(tracker.running()).toBe(0);
  });
});

/**
 * One step that returns nothing, run to its end on a runtime from `runtimeModule` (imported by the test, with or
 * without a mock): its report, and the steps still counted running after it.
 */
async function oneStepOn(runtimeModule: typeof import('../../workers/step-runtime.js'), logLevel: string) {
  const cells = CancelCells.create(1);
  const tracker = StepTracker.create(1);
  const setup = {
    cancelCells: cells.buffer,
    stepTracker: tracker.buffer,
    courierSlots: SlotSemaphore.create(1).buffer,
    logLevel,
    stepModules: [],
  };
  const { run: runStep } = await runtimeModule.createStepRuntime(setup, THREAD, () => {});
  const reports: StepReport[] = [];
  const returnsNothing = 'data:text/javascript,export default () => undefined;';
  runStep({ cell: 0, module: returnsNothing, order: orderOf(0, 5), run: 1, requestId: 'r' }, (r) => reports.push(r));
  await expect.poll(() => reports.length).toBe(1);
  return { report: reports[0], running: tracker.running() };
}

describe('the step runtime, with a log that cannot be written', () => {
  // The unit files share one module registry (isolate: false, vitest.config.ts): the step runtime imported against the
  // broken log would stay in it, and a file run after this one in the same worker (ring-server.test.ts) would get its
  // steps failed by the log. The mock goes, and so does every module imported with it, however the test ended.
  afterEach(() => {
    vi.doUnmock('../../workers/step-log.js');
    vi.resetModules();
  });

  it("fails a step whose 'done' line throws, as the step's own line would have, and still ends it", async () => {
    vi.resetModules();
    vi.doMock('../../workers/step-log.js', async (original) => {
      const { pino } = await import('pino');
      const broken = pino(
        { level: 'debug' },
        {
          write: () => {
            throw new Error('EPIPE: stdout is gone');
          },
        },
      );
      return { ...(await original<typeof import('../../workers/step-log.js')>()), threadLogger: () => broken };
    });
    const { report, running } = await oneStepOn(await import('../../workers/step-runtime.js'), 'debug');
    expect(report).toMatchObject({ status: 'error', kind: 'internal' });
    expect(running).toBe(0);
  });

  it('leaves no broken log behind: the runtime imported after it logs as it should', async () => {
    const { report, running } = await oneStepOn(await import('../../workers/step-runtime.js'), 'info');
    expect(report).toMatchObject({ status: 'ok' });
    expect(running).toBe(0);
  });

  it('makes the outcomes a step throws, and an order aborted, without a stack trace (a bug in a step keeps its own)', () => {
    const limit = Error.stackTraceLimit;
    const outcomes = [new StepFailure('payment_declined'), new StepCanceled(), new OrderAborted('timeout')];
    expect(outcomes.map((error) => error.stack?.includes('\n    at '))).toEqual([false, false, false]);
    expect(outcomes.map((error) => error instanceof Error)).toEqual([true, true, true]);
    expect(new Error('a bug').stack).toContain('\n    at ');
    expect(Error.stackTraceLimit).toBe(limit);
  });
});
