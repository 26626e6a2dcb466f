/** Each test file's seconds in the last `npm run test:timings`, by path from the project's root: what the test sequencer (test/support/sequencer.ts) orders the files by. Committed, so a fresh clone has them. */
export const TIMINGS_FILE = 'test/timings.json';

export type Timings = Readonly<Record<string, number>>;
