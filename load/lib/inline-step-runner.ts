/**
 * Runs steps on the main thread: the same step modules through the same
 * runtime as the worker threads, only without the threads. It exists for the
 * contrast benchmark (load/measure/bench.ts) and is not part of the service.
 *
 * It keeps the same books as the pool: a step's requests to the payment
 * provider go to a payment gateway, its effects to the effect gateway, and
 * are settled with them when the step's task ends, as the pooled runner does. Until 2026-11-27 they went nowhere,
 * and the pool's main thread was measured doing the books (about a fifth of
 * its CPU) against a baseline that did none.
 */
import type { StepOutcome, StepRun, StepRunner } from '../../src/pipeline/steps.js';
import type { Logger } from 'pino';
import { MemoryLedger } from '../../src/ledger/memory-ledger.js';
import { modulesOf, type StepDefinition } from '../../src/pipeline/steps.js';
import { CancelCellAllocator, CancelCells } from '../../src/shared-memory/cancel-cells.js';
import { SlotSemaphore } from '../../src/shared-memory/slot-semaphore.js';
import { StepTracker } from '../../src/shared-memory/step-tracker.js';
import { PaymentGateway } from '../../src/threads/payment-gateway.js';
import { EffectGateway } from '../../src/threads/effect-gateway.js';
import { MemoryServiceBooks } from '../../src/ledger/memory-service-books.js';
import { isLedgerRequest, readReport, REQUESTED_EFFECT, type WorkerSetup } from '../../src/threads/protocol.js';
import { createStepRuntime, type StepRuntime } from '../../workers/step-runtime.js';

/** Cancel cells for the steps in flight at once: the bench's largest workload is 200 orders of three steps. */
const INLINE_CELLS = 10_000;

/**
 * An inline runner with everything the pool's threads would share made for it here: cancel cells, the tracker, the
 * couriers, and the books (a gateway to an in-memory provider, as src/composition/engine.ts gives the pool).
 */
export async function inlineStepRunner(
  steps: readonly StepDefinition[],
  options: { readonly couriers: number; readonly keepMs: number; readonly log: Logger },
): Promise<{ readonly runner: InlineStepRunner; readonly tracker: StepTracker; readonly ledger: MemoryLedger }> {
  const cells = CancelCells.create(INLINE_CELLS);
  const tracker = StepTracker.create(1);
  const couriers = SlotSemaphore.create(options.couriers);
  const ledger = new MemoryLedger();
  const gateways = {
    payment: new PaymentGateway(ledger, options.log, options.keepMs),
    effects: new EffectGateway(new MemoryServiceBooks(), options.log),
  };
  const runner = await InlineStepRunner.create(new CancelCellAllocator(cells, () => couriers.wakeWaiters()), gateways, {
    cancelCells: cells.buffer,
    stepTracker: tracker.buffer,
    courierSlots: couriers.buffer,
    logLevel: 'silent',
    stepModules: modulesOf(steps),
  });
  return { runner, tracker, ledger };
}

/** The gateways of the steps' remote services, as the pool's engine has them. */
interface Gateways {
  readonly payment: PaymentGateway;
  readonly effects: EffectGateway;
}

/** Every run as begun: nothing takes one over here. */
const AS_BEGUN = { fence: 0, instance: undefined };

/** The main thread's threadId is 0, which the shared memory reserves for "nobody". */
const MAIN_THREAD_STAND_IN = 2 ** 31 - 1;

export class InlineStepRunner implements StepRunner {
  /**
   * A pending Atomics.waitAsync does not keep an event loop alive
   * (nodejs/node#44729): with every step asleep and nothing else to do, the
   * process would exit mid-order. A timer holds the loop while steps run.
   */
  private keepAlive: NodeJS.Timeout | undefined;
  private running = 0;

  private constructor(
    private readonly cells: CancelCellAllocator,
    private readonly gateways: Gateways,
    private readonly runtime: StepRuntime,
  ) {}

  static async create(cells: CancelCellAllocator, gateways: Gateways, setup: WorkerSetup): Promise<InlineStepRunner> {
    const runtime = await createStepRuntime(setup, MAIN_THREAD_STAND_IN, (request) =>
      isLedgerRequest(request) ? gateways.payment.receive(request) : gateways.effects.receive(request),
    );
    return new InlineStepRunner(cells, gateways, runtime);
  }

  async run({ step, run: orderRun, signal, trace }: StepRun): Promise<StepOutcome> {
    const started = performance.now();
    const cell = this.cells.take(signal);
    if (cell === undefined) throw new Error('no free cancel cell');
    if (this.running++ === 0) this.keepAlive = setInterval(() => {}, 60_000);
    try {
      const task = {
        cell,
        module: step.module,
        order: orderRun.order,
        run: orderRun.runNumber,
        fence: AS_BEGUN.fence,
        requestId: trace.requestId,
      };
      const report = await this.runtime.run(task);
      const requests = this.cells.cells.requestsOf(cell);
      const effect =
        requests === 0
          ? undefined
          : requests & REQUESTED_EFFECT
            ? await this.gateways.effects.settle(step.name, orderRun, AS_BEGUN)
            : await this.gateways.payment.settle(requests, orderRun);
      return {
        name: step.name,
        durationMs: Math.round(performance.now() - started),
        threadId: undefined,
        attempts: 1,
        ...readReport(report, signal),
        ...(effect === undefined ? {} : { effect }),
      };
    } finally {
      this.cells.give(cell);
      if (--this.running === 0) clearInterval(this.keepAlive);
    }
  }
}
