/**
 * A thread's side of its pair of step rings (src/threads/step-rings.ts): it reads the batches the main thread writes
 * for it, runs their steps through the step runtime, and writes each step's report back as it ends, and its requests to
 * the payment provider as it makes them. They leave once per turn of the thread's event loop, with one wake-up for all
 * of them (none if the main thread is reading already). A turn that ends steps also reads the batches come meanwhile,
 * and says so in advance: the main thread then writes them without a wake-up.
 *
 * Every message fits the ring (a report's detail is cut: step-rings.ts), so one the ring has no room for now goes once
 * the main thread has read what is ahead of it, and the ones behind it after it.
 *
 * A batch is one order's steps: when one of them fails, the others still running here are canceled here
 * (StepRuntime.cancelSiblings), and their reports leave in the same turn, behind the failure's.
 */
import { RingReader } from '../src/shared-memory/word-ring.js';
import { readBatch, writeLedgerRequest, writeReport, type RingPair } from '../src/threads/step-rings.js';
import { taskOf, type LedgerRequest, type StepBatch, type StepReport } from '../src/threads/protocol.js';
import type { LedgerSender } from './step-context.js';
import type { StepRuntime } from './step-runtime.js';

/** How long to wait before writing again reports the main thread has had no room for yet. */
const FULL_RETRY_MS = 1;

/** What leaves by the report ring at the end of the turn: a step's report, or a request of its to the payment provider. */
type Outgoing =
  | { readonly reportOf: number; readonly report: StepReport; readonly endedAt: number }
  | { readonly cell: number; readonly request: LedgerRequest };

export function serveRing(pair: RingPair, modules: readonly string[], runtime: StepRuntime): void {
  let outgoing: Outgoing[] = [];
  let flushing = false;

  // A step's request leaves before its report, in the same ring: the main thread reads it while the cell is the step's.
  const sendLedgerRequest: LedgerSender = (request, cell) => send({ cell, request });
  const run = (batch: StepBatch): void => {
    // The cells of the batch's steps still running: an order's steps, for the siblings a failure among them cancels.
    const running = batch.steps.length > 1 ? batch.steps.map((step) => step.cell) : undefined;
    for (const step of batch.steps)
      runtime.run(
        taskOf(batch, step),
        (report) => {
          send({ reportOf: step.cell, report, endedAt: performance.now() });
          if (running === undefined) return;
          // Out of the list before its report can be read: the main thread recycles the cell once it has.
          const at = running.indexOf(step.cell);
          if (at >= 0) running.splice(at, 1);
          // Behind the failure's report in the ring, so the main thread reads the failure first (protocol.ts's
          // readReport takes the failure's kind for a sibling read before the order learns of it all the same).
          if (report.status === 'error' && running.length > 0) runtime.cancelSiblings(running, report.kind);
        },
        sendLedgerRequest,
      );
  };
  const tasks = new RingReader(pair.tasks, (at) => run(readBatch(pair.tasks, at, modules)));

  const write = (message: Outgoing, now: number): boolean => {
    if ('request' in message) return writeLedgerRequest(pair.reports, message.cell, message.request);
    return writeReport(pair.reports, message.reportOf, message.report, now - message.endedAt);
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
