/**
 * "A person must look" is raised for what the records hold, not for what a
 * run believed: a run whose refund the provider refused is on record as
 * compensation_failed — unless the store lost track of its money meanwhile,
 * when it is recorded interrupted and recovery voids it.
 */
import { describe, expect, it } from 'vitest';
import { StoreBusy } from '../../src/domain/errors.js';
import type { Order } from '../../src/domain/order.js';
import type { AdmissionPolicy } from '../../src/orders/admission.js';
import { OrderDesk, type RunEvents } from '../../src/orders/order-desk.js';
import { OrderWaiter } from '../../src/orders/order-waiter.js';
import { MemoryOrderRecords } from '../../src/orders/memory-order-records.js';
import type { Finished, OutcomeKind, RecordedOutcome } from '../../src/orders/order-records.js';
import type { OrderResult } from '../../src/pipeline/order-pipeline.js';
import { ANONYMOUS } from '../../src/auth/caller.js';
import { orderKey, type OrderKey } from '../../src/domain/order.js';
import { everyAction, everyStep } from '../../src/domain/steps.js';

/** A runner whose runs this test never undoes. */
const nothingToUndo = (): Promise<never> => Promise.reject(new Error('nothing is undone in this test'));

/** Every run may start. */
const ADMIT_EVERY_ORDER: AdmissionPolicy = { admit: () => 'admitted' };

const order: Order = {
  client: ANONYMOUS,
  orderId: 'o',
  amount: 10,
  failStep: 'vendor',
  failCompensation: true,
  delayMs: everyAction(0),
  cpuMs: everyStep(0),
};

const refused: OrderResult = {
  orderId: 'o',
  steps: [],
  compensations: [
    {
      name: 'refund',
      status: 'error',
      kind: 'refund_failed',
      effect: 'refused',
      durationMs: 1,
      threadId: 1,
      attempts: 1,
    },
  ],
  failure: 'compensation_failed',
};

/** Memory records whose finish says `recorded` instead (as a store that lost track of the run's money does). */
class RecordsSaying extends MemoryOrderRecords {
  constructor(private readonly recorded: OutcomeKind) {
    super(60_000, 1 << 20);
  }

  override async finish(orderId: OrderKey, run: number, outcome: RecordedOutcome): Promise<Finished> {
    await super.finish(orderId, run, outcome);
    return this.recorded;
  }
}

async function alarmsFor(recorded: OutcomeKind): Promise<{ alarms: string[]; answered: OrderResult['failure'] }> {
  const alarms: string[] = [];
  const events: RunEvents = {
    runEnded: () => {},
    compensationFailed: ({ order: { orderId } }) => void alarms.push(orderId),
  };
  const desk = new OrderDesk(
    { undo: nothingToUndo, process: async () => refused },
    new RecordsSaying(recorded),
    events,
  );
  const submission = await desk.submit(order, new OrderWaiter(), { requestId: 'r' }, ADMIT_EVERY_ORDER);
  return { alarms, answered: submission.kind === 'answered' ? submission.result.failure : undefined };
}

describe('the compensation_failed alarm', () => {
  it('is raised once the records hold compensation_failed', async () => {
    expect(await alarmsFor('compensation_failed')).toEqual({ alarms: ['o'], answered: 'compensation_failed' });
  });

  it('is not raised for a run the records hold interrupted: recovery voids it, no one needs to look', async () => {
    expect(await alarmsFor('interrupted')).toEqual({ alarms: [], answered: 'interrupted' });
  });

  it('waits, when the store cannot say what it recorded, and is raised once it says compensation_failed', async () => {
    const alarms: string[] = [];
    const events: RunEvents = {
      runEnded: () => {},
      compensationFailed: ({ order: { orderId } }) => void alarms.push(orderId),
    };
    // The finish committed (recorded compensation_failed) but its answer was lost.
    const desk = new OrderDesk(
      { undo: nothingToUndo, process: async () => refused },
      new RecordsSaying('outcome_unknown'),
      events,
    );
    const submission = await desk.submit(order, new OrderWaiter(), { requestId: 'r' }, ADMIT_EVERY_ORDER);
    expect(submission.kind === 'answered' ? submission.result.failure : undefined).toBe('outcome_unknown');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(alarms).toEqual(['o']);
  });

  it('is not raised for a run whose outcome was unknown and that recovery then voided (interrupted)', async () => {
    const alarms: string[] = [];
    const events: RunEvents = {
      runEnded: () => {},
      compensationFailed: ({ order: { orderId } }) => void alarms.push(orderId),
    };
    // Nothing was kept of the finish: the run stays running until recovery settles it.
    class NothingKept extends MemoryOrderRecords {
      override async finish(): Promise<OutcomeKind> {
        return 'outcome_unknown';
      }
      recover(key: OrderKey, run: number): Promise<Finished> {
        return super.finish(key, run, { kind: 'interrupted', replay: undefined });
      }
    }
    const records = new NothingKept(60_000, 1 << 20);
    const desk = new OrderDesk({ undo: nothingToUndo, process: async () => refused }, records, events);
    await desk.submit(order, new OrderWaiter(), { requestId: 'r' }, ADMIT_EVERY_ORDER);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(alarms).toEqual([]);
    await records.recover(orderKey(order.client, order.orderId), 1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(alarms).toEqual([]);
  });

  it('is left to the store at shutdown for a run the store never got to say anything of: no line on a guess', async () => {
    const alarms: string[] = [];
    const events: RunEvents = {
      runEnded: () => {},
      compensationFailed: ({ order: { orderId } }) => void alarms.push(orderId),
    };
    let asked = 0;
    class Silent extends MemoryOrderRecords {
      override async finish(): Promise<OutcomeKind> {
        return 'outcome_unknown';
      }
      override awaitRun(_key: OrderKey, _run: number, signal: AbortSignal): Promise<RecordedOutcome> {
        asked++;
        return new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }),
        );
      }
    }
    const desk = new OrderDesk(
      { undo: nothingToUndo, process: async () => refused },
      new Silent(60_000, 1 << 20),
      events,
    );
    await desk.submit(order, new OrderWaiter(), { requestId: 'r' }, ADMIT_EVERY_ORDER);
    desk.stopAskingUnsettled();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    // Its recovery raises it if the outcome committed, and voids the run (no one need look) if it did not.
    expect(alarms).toEqual([]);
    expect(asked).toBe(1);
  });

  it('tells the records the alarm is raised only once its line is written', async () => {
    const happened: string[] = [];
    const events: RunEvents = { runEnded: () => {}, compensationFailed: () => void happened.push('line') };
    class Told extends MemoryOrderRecords {
      override async alarmRaised(key: OrderKey, run: number): Promise<void> {
        happened.push(`records told: ${key} run ${run}`);
      }
    }
    const desk = new OrderDesk(
      { undo: nothingToUndo, process: async () => refused },
      new Told(60_000, 1 << 20),
      events,
    );
    await desk.submit(order, new OrderWaiter(), { requestId: 'r' }, ADMIT_EVERY_ORDER);
    expect(happened).toEqual(['line', `records told: ${orderKey(order.client, order.orderId)} run 1`]);
  });
});

describe('a store whose connections are all taken', () => {
  class BusyRecords extends MemoryOrderRecords {
    override async begin(): Promise<never> {
      throw new StoreBusy('no Postgres connection came free in time');
    }
  }

  it('sheds the order (503 overloaded, retry) rather than call the store unreachable, and runs nothing', async () => {
    let ran = 0;
    const desk = new OrderDesk(
      { undo: nothingToUndo, process: async () => (ran++, refused) },
      new BusyRecords(60_000, 1 << 20),
    );
    const submission = await desk.submit(order, new OrderWaiter(), { requestId: 'r' }, ADMIT_EVERY_ORDER);
    expect(submission.kind === 'answered' ? submission.result.failure : submission.kind).toBe('overloaded');
    expect(ran).toBe(0);
  });
});
