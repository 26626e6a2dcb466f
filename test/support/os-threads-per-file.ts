/**
 * Every test file (each in a process of its own) must give back every OS
 * thread it started: worker threads, and whatever else a test leaves running.
 * libuv's thread pool starts all its threads at its first use and keeps them
 * for the life of the process, so it is started before the count is taken.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll } from 'vitest';
import { expectOsThreadsBackTo, settledOsThreadCount } from './leaks.js';

let atStart: number;

beforeAll(async () => {
  await readFile('/proc/self/status');
  atStart = await settledOsThreadCount();
});

afterAll(async () => {
  await expectOsThreadsBackTo(atStart);
});
