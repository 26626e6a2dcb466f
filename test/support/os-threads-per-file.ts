/**
 * Every test file (each in a process of its own) must give back every OS
 * thread it started: worker threads, and whatever else a test leaves running.
 * The check is by name and count, and fewer than at the start passes: a
 * thread listed at the start can be one still winding down (a full run once
 * ended a file with 11 threads against 12 at its start, with no worker left).
 * libuv's thread pool starts all its threads at its first use and keeps them
 * for the life of the process, so it is started before the count is taken.
 *
 * With TEST_CPU_LOG set (by `npm run test:timings`), each file also appends
 * the CPU it cost to that file: its own process's and that of the processes
 * it started and reaped (servers, Postgres clients, kubectl), from
 * /proc/self/stat — on two cores the suite is bounded by CPU as much as by
 * its waits, and a file's seconds alone do not say which.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, expect } from 'vitest';
import { expectNoOsThreadsBeyond, osThreadNames, settledOsThreadCount } from './leaks.js';

/** Linux's USER_HZ: /proc reports CPU time in these ticks on every architecture Node runs on. */
const TICKS_PER_SECOND = 100;

function cpuSecondsWithReapedChildren(): number {
  // After the command's closing parenthesis: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) / TICKS_PER_SECOND;
}

let atStart: string[];
beforeAll(async () => {
  await readFile('/proc/self/status');
  await settledOsThreadCount();
  atStart = osThreadNames();
});

afterAll(async () => {
  await expectNoOsThreadsBeyond(atStart);
  const log = process.env.TEST_CPU_LOG;
  if (log)
    appendFileSync(
      log,
      `${JSON.stringify({ file: expect.getState().testPath, cpuSeconds: cpuSecondsWithReapedChildren() })}\n`,
    );
});
