import { getHeapSpaceStatistics, queryObjects } from 'node:v8';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Order } from '../../src/domain/order.js';
import { CancelCells } from '../../src/shared-memory/cancel-cells.js';
import { SlotSemaphore } from '../../src/shared-memory/slot-semaphore.js';
import { StepTracker } from '../../src/shared-memory/step-tracker.js';
import type { StepReport, StepTask } from '../../src/threads/protocol.js';
import { createStepRuntime } from '../../workers/step-runtime.js';
import { StepCanceled, StepFailure } from '../../workers/step-api.js';
import { OrderAborted } from '../../src/domain/errors.js';

/** The step modules as this run loads them (sources here): the runtime and the steps share one step API. */
const stepModule = (name: string): string => new URL(`../../workers/steps/${name}.ts`, import.meta.url).href;
const THREAD = 7;
/** Where the steps' requests to the payment provider go: nowhere, by one sender for all (as a thread's messages are). */
const noLedger = (): void => {};

const orderOf = (n: number, delayMs: number): Order => ({
  orderId: `o-${n}`,
  client: 'c',
  amount: 100,
  failStep: undefined,
  failCompensation: false,
  delayMs: { payment: delayMs, vendor: delayMs, courier: delayMs, refund: delayMs },
  cpuMs: { payment: 0, vendor: 0, courier: 0 },
});

/** A step of a user's own: a function that sleeps through its context. */
const SLEEPS_THROUGH_ITS_CONTEXT =
  'data:text/javascript,export default (order, ctx) => ctx.sleep(order.delayMs.payment);';

/** The runtime a thread makes, made here, over real shared memory, with the built-in steps and one of a function. */
async function runtimeOnThisThread(cellCount: number, { couriers = 1 } = {}) {
  const cells = CancelCells.create(cellCount);
  const tracker = StepTracker.create(1);
  const courierSlots = SlotSemaphore.create(couriers);
  const modules = [stepModule('payment'), stepModule('vendor'), stepModule('courier'), SLEEPS_THROUGH_ITS_CONTEXT];
  const setup = {
    cancelCells: cells.buffer,
    stepTracker: tracker.buffer,
    courierSlots: courierSlots.buffer,
    logLevel: 'silent',
    stepModules: modules,
  };
  const { run } = await createStepRuntime(setup, THREAD, noLedger);
  const runStep = (task: StepTask, ended: (report: StepReport) => void): void => void run(task).then(ended);
  return { cells, tracker, courierSlots, modules, runStep };
}

/**
 * Bytes of this isolate's heap each of `steps` tasks holds while its step sleeps, after a full collection: the tasks
 * are of a class of their own, so that the live ones can be counted (none: the runtime keeps none of them).
 */
async function bytesAsleep(steps: number, moduleOf: (modules: readonly string[], cell: number) => string) {
  class CountedTask {
    constructor(
      readonly cell: number,
      readonly module: string,
      readonly order: Order,
      readonly run = 1,
      readonly fence = 0,
      readonly requestId = 'r',
    ) {}
  }
  const { cells, tracker, modules, runStep } = await runtimeOnThisThread(steps);
  const reports: StepReport[] = [];
  // Objects only: the code V8 compiles while the loop runs is no step's. Its code spaces came to 20–260 bytes a step
  // from one run to the next, enough to cross the bound by itself; its trusted spaces (bytecode, deoptimization data:
  // never a JavaScript object) 10–20 here, and they vary with the code.
  const spacesAfterCollection = (): Map<string, number> => {
    queryObjects(CountedTask, { format: 'count' });
    return new Map(
      getHeapSpaceStatistics()
        .filter((space) => !/^(code|trusted|shared_trusted)_/.test(space.space_name))
        .map((space) => [space.space_name, space.space_used_size]),
    );
  };
  const spacesBefore = spacesAfterCollection();
  for (let cell = 0; cell < steps; cell++)
    runStep(new CountedTask(cell, moduleOf(modules, cell), orderOf(cell, 60_000)), (report) => reports.push(report));
  const grown = [...spacesAfterCollection()].map(([name, bytes]) => ({
    name,
    perStep: (bytes - (spacesBefore.get(name) ?? 0)) / steps,
  }));
  const bytesPerStep = grown.reduce((sum, { perStep }) => sum + perStep, 0);
  // Which space grew, if the bound fails: a step's objects are in old_space.
  const bySpace = grown
    .filter(({ perStep }) => perStep !== 0)
    .map(({ name, perStep }) => `${name} ${perStep.toFixed(1)}`)
    .join(', ');
  const tasksKept = queryObjects(CountedTask, { format: 'count' });
  const runningWhileAsleep = tracker.running();
  for (let cell = 0; cell < steps; cell++) cells.cancel(cell);
  await expect.poll(() => reports.length).toBe(steps);
  expect(new Set(reports.map((report) => report.status))).toEqual(new Set(['canceled']));
  expect(tracker.running()).toBe(0);
  return { bytesPerStep, bySpace, tasksKept, runningWhileAsleep };
}

describe('the step runtime', () => {
  it('keeps none of the tasks it was given, and at most 4,400 bytes a built-in step asleep', async () => {
    // A step is an async function awaiting its dependency's answer, a wait on its cancel cell: the frames and promises
    // of its call, its context, its task's frame of the thread's AsyncLocalStorage (about 460 of it), and its order:
    // 4,052 bytes here. As a record in a timer list of the thread's own it was 676
    // (docs/decisions/steps-as-piscina-tasks.md says what the difference costs a service with thousands asleep).
    const { bytesPerStep, bySpace, tasksKept, runningWhileAsleep } = await bytesAsleep(
      2000,
      (modules, cell) => modules[cell % 2]!,
    );
    expect(runningWhileAsleep).toBe(2000);
    expect(tasksKept).toBe(0);
    expect(bytesPerStep, bySpace).toBeLessThanOrEqual(4400);
  });

  it('keeps none of the tasks it was given, and at most 2,200 bytes a step of a function asleep', async () => {
    // A step of a user's own keeps what its own code makes (here its sleep's promise) and the runtime's frame awaiting
    // it, in its task's frame of the thread's AsyncLocalStorage: 1,937 bytes here.
    const { bytesPerStep, bySpace, tasksKept, runningWhileAsleep } = await bytesAsleep(2000, (modules) => modules[3]!);
    expect(runningWhileAsleep).toBe(2000);
    expect(tasksKept).toBe(0);
    expect(bytesPerStep, bySpace).toBeLessThanOrEqual(2200);
  });

  it('runs courier steps through the one courier: each in line until it has it, every one to its end', async () => {
    const inLine = 50;
    const { cells, tracker, courierSlots, modules, runStep } = await runtimeOnThisThread(inLine + 2, { couriers: 1 });
    const reports: StepReport[] = [];
    const [payment, , courier] = modules;
    runStep({ cell: 0, module: payment!, order: orderOf(0, 60_000), run: 1, fence: 0, requestId: 'r' }, (r) =>
      reports.push(r),
    );
    for (let cell = 1; cell < inLine + 2; cell++)
      runStep({ cell, module: courier!, order: orderOf(cell, 1), run: 1, fence: 0, requestId: 'r' }, (r) =>
        reports.push(r),
      );
    await expect.poll(() => reports.length).toBe(inLine + 1);
    cells.cancel(0);
    await expect.poll(() => reports.length).toBe(inLine + 2);
    expect(reports.map((report) => report.status)).toEqual([...Array<string>(inLine + 1).fill('ok'), 'canceled']);
    expect(courierSlots.busy()).toBe(0);
    expect(tracker.running()).toBe(0);
  });

  it('ends a courier step canceled while it waits in line, holding nothing', async () => {
    const { cells, tracker, courierSlots, modules, runStep } = await runtimeOnThisThread(2, { couriers: 1 });
    const reports: StepReport[] = [];
    const courier = modules[2]!;
    runStep({ cell: 0, module: courier, order: orderOf(0, 60_000), run: 1, fence: 0, requestId: 'r' }, (r) =>
      reports.push(r),
    );
    runStep({ cell: 1, module: courier, order: orderOf(1, 1), run: 1, fence: 0, requestId: 'r' }, (r) =>
      reports.push(r),
    );
    expect(courierSlots.waiting()).toBe(1);
    cells.cancel(1);
    // The main thread wakes the dispatchers after every cancellation (SlotSemaphore.wakeWaiters).
    courierSlots.wakeWaiters();
    await expect.poll(() => reports.length).toBe(1);
    expect(reports[0]!.status).toBe('canceled');
    expect(courierSlots.waiting()).toBe(0);
    expect(courierSlots.busy()).toBe(1);
    cells.cancel(0);
    await expect.poll(() => reports.length).toBe(2);
    expect(courierSlots.busy()).toBe(0);
    expect(tracker.running()).toBe(0);
  });

  it('reports a step that ends, and one that fails, once each, with the tracker back at 0', async () => {
    const { tracker, modules, runStep } = await runtimeOnThisThread(2);
    const reports: StepReport[] = [];
    runStep({ cell: 0, module: modules[0]!, order: orderOf(0, 5), run: 1, fence: 0, requestId: 'r' }, (r) =>
      reports.push(r),
    );
    const failing = { ...orderOf(1, 5), failStep: 'vendor' as const };
    runStep({ cell: 1, module: modules[1]!, order: failing, run: 1, fence: 0, requestId: 'r' }, (r) => reports.push(r));
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
    runStep({ cell: 0, module: returnsNothing, order: orderOf(0, 5), run: 1, fence: 0, requestId: 'r' }, (r) =>
      reports.push(r),
    );
    runStep({ cell: 1, module: throwsAtOnce, order: orderOf(1, 5), run: 1, fence: 0, requestId: 'r' }, (r) =>
      reports.push(r),
    );
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
  const { run } = await runtimeModule.createStepRuntime(setup, THREAD, noLedger);
  const runStep = (task: StepTask, ended: (report: StepReport) => void): void => void run(task).then(ended);
  const reports: StepReport[] = [];
  const returnsNothing = 'data:text/javascript,export default () => undefined;';
  runStep({ cell: 0, module: returnsNothing, order: orderOf(0, 5), run: 1, fence: 0, requestId: 'r' }, (r) =>
    reports.push(r),
  );
  await expect.poll(() => reports.length).toBe(1);
  return { report: reports[0], running: tracker.running() };
}

describe('the step runtime, with a log that cannot be written', () => {
  // The unit files share one module registry (isolate: false, vitest.config.ts): the step runtime imported against the
  // broken log would stay in it, and a file run after this one in the same worker would get its steps failed by the
  // log. The mock goes, and so does every module imported with it, however the test ended.
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
