/**
 * A thread's side of its pair of step rings (src/threads/step-rings.ts): it
 * reads the batches the main thread writes for it, runs their steps through
 * the step runtime, and writes each step's report back as it ends. Reports
 * leave once per turn of the thread's event loop, with one wake-up for all
 * of them (none if the main thread is reading already). A turn that ends
 * steps also reads the batches come meanwhile, and says so in advance: the
 * main thread then writes them without a wake-up.
 */
import { RingReader } from '../src/shared-memory/word-ring.js';
import { readBatch, writeReport, type RingPair } from '../src/threads/step-rings.js';
import { taskOf, type BatchedReport, type StepBatch, type StepReport } from '../src/threads/protocol.js';
import type { StepTaskRunner } from './step-runtime.js';

/** How long to wait before writing again reports the main thread has had no room for yet. */
const FULL_RETRY_MS = 1;

interface Ended {
  readonly seq: number;
  readonly report: StepReport;
  readonly endedAt: number;
}

export function serveRing(pair: RingPair, modules: readonly string[], runStep: StepTaskRunner): void {
  let ended: Ended[] = [];
  let flushing = false;

  const run = (batch: StepBatch): void => {
    for (const step of batch.steps) void runStep(taskOf(batch, step)).then((report) => reportEnded(step.seq, report));
  };
  const tasks = new RingReader(pair.tasks, (at) => run(readBatch(pair.tasks, at, modules)));

  const flush = (): void => {
    flushing = false;
    const now = performance.now();
    let written = 0;
    for (; written < ended.length; written++) {
      const { seq, report, endedAt } = ended[written]!;
      const batched: BatchedReport = { ...report, endedEarlierMs: now - endedAt };
      if (!writeReport(pair.reports, seq, batched)) break;
    }
    pair.reports.publish();
    pair.reports.wake();
    ended = written === ended.length ? [] : ended.slice(written);
    if (ended.length > 0) {
      flushing = true;
      setTimeout(flush, FULL_RETRY_MS);
    }
    tasks.look();
  };

  const reportEnded = (seq: number, report: StepReport): void => {
    ended.push({ seq, report, endedAt: performance.now() });
    if (flushing) return;
    flushing = true;
    tasks.stayAwake();
    // An immediate runs once the thread is back in its event loop, after every timer and message of this turn.
    setImmediate(flush);
  };

  tasks.look();
}
