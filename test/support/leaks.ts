/**
 * Leak checks every test runs: nothing counted as running, no courier slot
 * held, no order in flight, the worker threads as many as configured — and,
 * around a whole file, the process's OS threads back where they were.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { TestService } from './service.js';

/** OS threads of this process, as the kernel counts them. */
export function osThreadCount(): number {
  const match = /^Threads:\s+(\d+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error('no Threads: line in /proc/self/status');
  return Number(match[1]);
}

/**
 * The OS thread count once it has stood still for 100 ms (at most 2 s): a
 * thread a previous test terminated can still be listed for a moment after
 * its pool said it closed, and a count taken then is one too many.
 */
export async function settledOsThreadCount(): Promise<number> {
  const until = performance.now() + 2000;
  let count = osThreadCount();
  let sameSince = performance.now();
  while (performance.now() - sameSince < 100 && performance.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    const now = osThreadCount();
    if (now !== count) [count, sameSince] = [now, performance.now()];
  }
  return count;
}

/**
 * The service is back at rest: asserted right away, with no waiting, because
 * an order is answered only after all its steps have exited.
 */
export async function expectAtRest(svc: TestService, threads: number): Promise<void> {
  const health = await svc.health();
  expect({
    running_steps: health.running_steps,
    couriers_busy: health.couriers_busy,
    orders_in_flight: health.orders_in_flight,
    queued: health.queued,
    threads: health.threads,
  }).toEqual({ running_steps: 0, couriers_busy: 0, orders_in_flight: 0, queued: 0, threads });
}

/** Names of this process's OS threads (for a message when they do not add up). */
function osThreadNames(): string[] {
  return readdirSync('/proc/self/task').map((tid) => readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim());
}

/**
 * The process's OS threads are back to `count`. A terminated worker's OS
 * thread can take a moment to be gone after its pool has closed, so this
 * waits up to two seconds; a thread that leaked would still be there.
 */
export async function expectOsThreadsBackTo(count: number): Promise<void> {
  const until = performance.now() + 2000;
  while (osThreadCount() !== count && performance.now() < until)
    await new Promise((resolve) => setTimeout(resolve, 20));
  expect(osThreadCount(), `OS threads: ${osThreadNames().join(', ')}`).toBe(count);
}
