/**
 * The alarm a person reads when a provider refused to give money back: a run
 * on record as compensation_failed. Raised only once the records hold that
 * outcome, and marked raised only after it is told, so that a death in
 * between leaves it to be raised again (recovery raises those it finds).
 */
import type { OrderKey, OrderRun } from '../domain/order.js';
import type { Trace } from '../domain/trace.js';
import type { StepOutcome } from '../pipeline/steps.js';
import type { OrderRecords } from './order-records.js';

/** A run's recorded outcome the store could not say is asked again this often. */
const UNSETTLED_RETRY_MS = 1000;

/** Tells a person: the run is on record as compensation_failed. */
export type TellCompensationFailed = (run: OrderRun, compensations: readonly StepOutcome[], trace: Trace) => void;

export class CompensationAlarms {
  /** The questions under way about runs whose recorded outcome the store could not say yet. */
  private readonly unsettled = new Set<AbortController>();

  constructor(
    private readonly records: Pick<OrderRecords, 'alarmRaised' | 'awaitRun'>,
    private readonly tell: TellCompensationFailed,
  ) {}

  /** The line a person reads, then the records told it is written (never before). */
  raise(key: OrderKey, run: OrderRun, compensations: readonly StepOutcome[], trace: Trace): void {
    this.tell(run, compensations, trace);
    void this.records.alarmRaised(key, run.runNumber);
  }

  /**
   * A run whose refund the provider refused, answered before the store could
   * say what it recorded: ask it until it can (the finish may have committed
   * compensation_failed, or recovery may void the run and record it
   * interrupted), and raise the alarm only for compensation_failed. A process
   * stopped before it learns leaves it to the store (`stopAsking`).
   */
  raiseOnceKnown(key: OrderKey, run: OrderRun, compensations: readonly StepOutcome[], trace: Trace): void {
    // A signal of its own: one shared by every such wait would gather their listeners.
    const asking = new AbortController();
    this.unsettled.add(asking);
    const learn = async (): Promise<void> => {
      for (;;) {
        try {
          const outcome = await this.records.awaitRun(key, run.runNumber, asking.signal);
          if (this.unsettled.delete(asking) && outcome.kind === 'compensation_failed')
            this.raise(key, run, compensations, trace);
          return;
        } catch {
          if (!this.unsettled.has(asking)) return;
          await new Promise((resolve) => setTimeout(resolve, UNSETTLED_RETRY_MS).unref());
        }
      }
    };
    void learn();
  }

  /**
   * At shutdown: stop asking. Those alarms are the store's now: only a store
   * shared by several instances answers outcome_unknown, and its recovery
   * raises the alarm of a run it holds compensation_failed once this
   * instance's lease is gone — or voids the run, recorded interrupted, if the
   * outcome never committed, when no one needs to look (raising it here, on a
   * guess, was a false alarm then).
   */
  stopAsking(): void {
    for (const asking of this.unsettled) asking.abort();
    this.unsettled.clear();
  }
}
