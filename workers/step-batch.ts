/**
 * Runs a thread task — the batches of steps of one or more orders — on this
 * thread, all at once, each step through the step runtime. Its answer has
 * every step's report and how much earlier than the last of its order each
 * one ended. An order that ends before the task does has its reports mailed
 * at once rather than waiting in the answer for the other orders', and a
 * step that fails is mailed the moment it does, so that its order's other
 * steps are canceled at once rather than when the batch ends. The main
 * thread takes whichever of a report's two copies arrives first.
 */
import {
  taskOf,
  type BatchedReport,
  type MailedReport,
  type StepBatch,
  type StepReport,
  type ThreadTask,
} from '../src/threads/protocol.js';
import type { StepTaskRunner } from './step-runtime.js';

export type ThreadTaskRunner = (task: ThreadTask) => Promise<BatchedReport[][]>;

export function taskRunner(runStep: StepTaskRunner, mail: (report: MailedReport) => void): ThreadTaskRunner {
  return async ({ batches }) => {
    const mailed = batches.length > 1;
    return Promise.all(batches.map((batch) => runBatch(runStep, batch, mailed, mail)));
  };
}

async function runBatch(
  runStep: StepTaskRunner,
  batch: StepBatch,
  mailed: boolean,
  mail: (report: MailedReport) => void,
): Promise<BatchedReport[]> {
  const { steps } = batch;
  const endedAt: number[] = [];
  const reports = await Promise.all(
    steps.map(async (step, i) => {
      const report = await new Promise<StepReport>((ended) => runStep(taskOf(batch, step), ended));
      endedAt[i] = performance.now();
      if (report.status === 'error' && steps.length > 1)
        mail({ seq: step.seq, report: { ...report, endedEarlierMs: 0 } });
      return report;
    }),
  );
  const last = performance.now();
  const batched = reports.map((report, i) => ({ ...report, endedEarlierMs: last - endedAt[i]! }));
  if (mailed) batched.forEach((report, i) => mail({ seq: steps[i]!.seq, report }));
  return batched;
}
