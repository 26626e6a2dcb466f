/**
 * How busy each worker thread's event loop has been lately: the share of time it was not idle, from
 * `worker.performance.eventLoopUtilization()` — read on the main thread from the Worker object, with no message to the
 * thread, so even a thread stuck in a loop is measured (at 1).
 *
 * Over a window rather than since start: each figure covers at least WINDOW_MS up to the last read that closed a
 * window, so /healthz polled every 250 ms, a scrape and the thread view can all read it without resetting each other's
 * figure.
 */
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';

const WINDOW_MS = 500;

interface Window {
  readonly start: EventLoopUtilization;
  readonly startedAt: number;
  /** The last closed window's figure; 0 until one has closed. */
  readonly figure: number;
}

export class ThreadUtilization {
  private readonly windows = new Map<number, Window>();

  /** 0..1 over the latest window of at least WINDOW_MS. */
  of(threadId: number, worker: Worker): number {
    const now = performance.now();
    const sample = worker.performance.eventLoopUtilization();
    const window = this.windows.get(threadId);
    if (!window) {
      // Not the figure since the thread started: loading its modules kept a new thread's loop busy, and read so, a thread
      // ready and idle showed as busy as a hung one until its first window closed.
      this.windows.set(threadId, { start: sample, startedAt: now, figure: 0 });
      return 0;
    }
    if (now - window.startedAt < WINDOW_MS) return window.figure;
    // The difference of two samples can come out a hair below 0 (measured: −2e-6) or above 1.
    const figure = Math.min(1, Math.max(0, worker.performance.eventLoopUtilization(sample, window.start).utilization));
    this.windows.set(threadId, { start: sample, startedAt: now, figure });
    return figure;
  }

  /** The thread has exited. */
  forget(threadId: number): void {
    this.windows.delete(threadId);
  }
}
