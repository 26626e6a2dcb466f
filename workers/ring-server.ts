/**
 * A thread's side of its pair of step rings (src/threads/step-rings.ts): it
 * reads the batches the main thread writes for it, runs their steps through
 * the step runtime, and writes each step's report back as it ends, and its
 * requests to the payment provider as it makes them. They leave once per
 * turn of the thread's event loop, with one wake-up for all of them (none if
 * the main thread is reading already). A turn that ends steps also reads the
 * batches come meanwhile, and says so in advance: the main thread then writes
 * them without a wake-up.
 */
import { RingReader } from '../src/shared-memory/word-ring.js';
import { readBatch, writeLedgerRequest, writeReport, type RingPair } from '../src/threads/step-rings.js';
import { taskOf, type LedgerRequest, type StepBatch, type StepReport } from '../src/threads/protocol.js';
import type { LedgerSender } from './step-context.js';
import type { StepTaskRunner } from './step-runtime.js';

/** How long to wait before writing again reports the main thread has had no room for yet. */
const FULL_RETRY_MS = 1;

/** What leaves by the report ring at the end of the turn: a step's report, or a request of its to the payment provider. */
type Outgoing =
  | { readonly seq: number; readonly report: StepReport; readonly endedAt: number }
  | { readonly cell: number; readonly request: LedgerRequest };

export function serveRing(pair: RingPair, modules: readonly string[], runStep: StepTaskRunner): void {
  let outgoing: Outgoing[] = [];
  let flushing = false;

  // A step's request leaves before its report, in the same ring: the main thread reads it while the cell is the step's.
  const sendLedgerRequest: LedgerSender = (request, cell) => send({ cell, request });
  const run = (batch: StepBatch): void => {
    for (const step of batch.steps)
      runStep(
        taskOf(batch, step),
        (report) => send({ seq: step.seq, report, endedAt: performance.now() }),
        sendLedgerRequest,
      );
  };
  const tasks = new RingReader(pair.tasks, (at) => run(readBatch(pair.tasks, at, modules)));

  const write = (message: Outgoing, now: number): boolean => {
    if ('request' in message) return writeLedgerRequest(pair.reports, message.cell, message.request);
    return writeReport(pair.reports, message.seq, message.report, now - message.endedAt);
  };

  const flush = (): void => {
    flushing = false;
    const now = performance.now();
    let written = 0;
    while (written < outgoing.length && write(outgoing[written]!, now)) written++;
    pair.reports.publish();
    pair.reports.wake();
    outgoing = written === outgoing.length ? [] : outgoing.slice(written);
    if (outgoing.length > 0) {
      flushing = true;
      setTimeout(flush, FULL_RETRY_MS);
    }
    tasks.look();
  };

  const send = (message: Outgoing): void => {
    outgoing.push(message);
    if (flushing) return;
    flushing = true;
    tasks.stayAwake();
    // An immediate runs once the thread is back in its event loop, after every timer and message of this turn.
    setImmediate(flush);
  };

  tasks.look();
}
