/**
 * What the kernel says of a worker thread, by the id it has there (a step thread learns its own as it claims its
 * tracker shard: workers/kernel-thread-id.ts): how long it has run on a CPU and waited on the run queue for one, and
 * whether it waits for one now (Linux's /proc/<pid>/task/<tid>/schedstat and stat).
 *
 * Why the judge of a canceled step's thread asks (thread-verdict.ts): a thread's progress count standing still through
 * a grace period says something of its code only if the thread had a CPU to run on, and a canceled step shown running
 * its own code only if its thread ran on and the step did not end. On a busy machine the kernel may keep one thread off
 * every CPU for longer than a short grace period while the main thread runs on time, or take it off between a woken
 * step's wake and its end: both were terminated, with every other order's steps on them (kernel-schedule.test.ts holds
 * a step thread off at SCHED_IDLE beside two spinning processes; cancellation.test.ts cancels a hundred orders on a
 * thread busy with ten steps' CPU work).
 */
import { readFile } from 'node:fs/promises';

/** A thread's times so far, in nanoseconds. */
export interface KernelSchedule {
  /** On a CPU. */
  readonly ranNs: number;
  /** Runnable, waiting on the run queue for a CPU: counted once it runs again, so a wait still under way is not here. */
  readonly waitedNs: number;
  /** Running or waiting for a CPU now (state R), not asleep in a wait of its own. */
  readonly runnable: boolean;
  /** When it was read (performance.now()): a period is measured between two readings, whenever they came. */
  readonly atMs: number;
}

/** Readings of /proc under way, by kernel thread id. */
const underWay = new Map<number, Promise<KernelSchedule | undefined>>();

/**
 * A thread of this process, by its kernel id: its schedule so far, or undefined if the kernel does not say. Asked while
 * a reading of the same thread is under way, the answer is that reading: the judges of a burst of cancellations (a
 * wave of declined payments cancels two steps an order, each judged) ask of the same few threads in the same turn, and
 * each reading is two files read through libuv's pool. Readings of a thread so come one after the other, each begun
 * after the one before it ended: a judge's later reading is never older than its earlier one.
 */
export function scheduleOf(kernelThreadId: number | undefined): Promise<KernelSchedule | undefined> {
  if (kernelThreadId === undefined) return Promise.resolve(undefined);
  let reading = underWay.get(kernelThreadId);
  if (reading === undefined) {
    reading = readScheduleOf(kernelThreadId).finally(() => underWay.delete(kernelThreadId));
    underWay.set(kernelThreadId, reading);
  }
  return reading;
}

async function readScheduleOf(kernelThreadId: number): Promise<KernelSchedule | undefined> {
  const task = `/proc/self/task/${kernelThreadId}`;
  try {
    const [schedstat, stat] = await Promise.all([
      readFile(`${task}/schedstat`, 'utf8'),
      readFile(`${task}/stat`, 'utf8'),
    ]);
    const [ran, waited] = schedstat.split(' ');
    // `tid (comm) state …`: the name may hold spaces and parentheses, the state follows its last one.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    const schedule = { ranNs: Number(ran), waitedNs: Number(waited), runnable: state === 'R', atMs: performance.now() };
    return Number.isFinite(schedule.ranNs) && Number.isFinite(schedule.waitedNs) ? schedule : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the kernel held a thread off the CPUs between two readings of its schedule: it ran less than a fifth of the
 * time between them, and waited on the run queue for more or waits there still. Its standing still says nothing of its
 * code then. A thread stuck in a loop ran; a thread blocked in a wait of its own (a synchronous call, an
 * `Atomics.wait`) neither ran nor waited for a CPU: both are stuck. Unknown schedules hold nothing off.
 */
export function heldOff(start: KernelSchedule | undefined, end: KernelSchedule | undefined): boolean {
  if (!start || !end) return false;
  const fifthNs = ((end.atMs - start.atMs) * 1e6) / 5;
  return end.ranNs - start.ranNs < fifthNs && (end.waitedNs - start.waitedNs > fifthNs || end.runnable);
}
