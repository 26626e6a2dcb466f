/**
 * Runs handed over at a graceful stop (order_hand_over_many, migration 19):
 * an instance stopping with runs its drain cannot wait for stops their steps
 * and gives each run up, unended — nothing recorded, nothing undone — for a
 * live instance to claim at once and resume under the same run, the
 * provider's key, as it would after a crash, but without waiting for a lease
 * to run out. The statement raises the run's fence, so nothing the stopping
 * instance still sends for it lands afterwards, and NOTIFYs
 * `runs_handed_over`, on which the live instances run a recovery pass.
 * Hand-overs at about the same time (a drain hands over all its runs at once)
 * go as one statement.
 */
import { Batcher, type BatcherOptions } from './batcher.js';
import type { Database, Statement } from './database.js';
import type { RunHolder } from './run-holder.js';

const HAND_OVER_MANY: Statement = {
  name: 'order_hand_over_many',
  text: 'SELECT handed FROM order_hand_over_many($1, $2, $3, $4) AS handed',
};

interface HandOver extends RunHolder {
  readonly id: string;
  readonly run: number;
}

/** Rows of orders locked in one order by every batch, as the finishes lock them. */
const byId = (a: HandOver, b: HandOver): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class RunHandOvers {
  private readonly batches: Batcher<HandOver, { handed: boolean }>;

  constructor(db: Database, batching: Omit<BatcherOptions<never>, 'order' | 'observe'>) {
    this.batches = new Batcher<HandOver, { handed: boolean }>(
      (calls) =>
        db.query(HAND_OVER_MANY, [
          calls.map((c) => c.id),
          calls.map((c) => c.run),
          calls.map((c) => c.owner),
          calls.map((c) => c.fence),
        ]),
      { ...batching, order: byId },
    );
  }

  /**
   * Hand run `run` of stored order `id` over as it runs here (`local`, by run): whether it was — not if it was no longer
   * this instance's. Taken out of `local` once the hand-over has answered, whatever it said: it is someone else's now,
   * or nobody's to finish here.
   */
  async handOver(id: string, run: number, local: Map<number, RunHolder>): Promise<boolean> {
    const holder = local.get(run);
    if (holder === undefined) return false;
    try {
      return (await this.batches.call({ id, run, ...holder })).handed;
    } finally {
      local.delete(run);
    }
  }
}
