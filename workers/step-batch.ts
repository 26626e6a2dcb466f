/**
 * Runs a batch of steps of one order on this thread, all at once, each
 * through the step runtime. Its answer has every step's report and how much
 * earlier than the last each one ended; a step that fails is reported the
 * moment it does as well (an EarlyReport), so that its order's other steps
 * are canceled at once rather than when the batch ends.
 */
import type { BatchedReport, EarlyReport, StepBatch } from '../src/threads/protocol.js';
import type { StepTaskRunner } from './step-runtime.js';

export type StepBatchRunner = (batch: StepBatch) => Promise<BatchedReport[]>;

export function batchRunner(runStep: StepTaskRunner, sendEarly: (report: EarlyReport) => void): StepBatchRunner {
  return async ({ order, run, requestId, remainingMs, clientIndex, steps }) => {
    const endedAt: number[] = [];
    const reports = await Promise.all(
      steps.map(async ({ seq, cell, module }, i) => {
        const report = await runStep({
          cell,
          module,
          order,
          run,
          requestId,
          ...(remainingMs === undefined ? {} : { remainingMs }),
          ...(clientIndex ? { clientIndex } : {}),
        });
        endedAt[i] = performance.now();
        if (report.status === 'error' && steps.length > 1) sendEarly({ type: 'step-report', seq, report });
        return report;
      }),
    );
    const last = performance.now();
    return reports.map((report, i) => ({ ...report, endedEarlierMs: last - endedAt[i]! }));
  };
}
