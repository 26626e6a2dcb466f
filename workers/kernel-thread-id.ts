/**
 * This thread's id in the kernel, kept in its tracker shard so that the main thread can ask the kernel whether the
 * thread had a CPU to run on (src/threads/kernel-schedule.ts).
 */
import { readlinkSync } from 'node:fs';

/** On the thread itself: its id in the kernel, or 0 where /proc does not say (not Linux). */
export function ownKernelThreadId(): number {
  try {
    // `<pid>/task/<tid>`: the link is resolved for the thread that reads it.
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isSafeInteger(tid) && tid > 0 ? tid : 0;
  } catch {
    return 0;
  }
}
