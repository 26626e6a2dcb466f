/**
 * Each test file's seconds and CPU seconds in the last `npm run test:timings`, by path from the project's root: what
 * the test sequencer (test/support/sequencer.ts) orders the files by. Committed, so a fresh clone has them.
 */
export const TIMINGS_FILE = 'test/timings.json';

export interface FileTiming {
  readonly seconds: number;
  /** Its process's CPU and that of what it started and reaped; absent when the run did not log it. */
  readonly cpuSeconds?: number;
}

export type Timings = Readonly<Record<string, FileTiming>>;
