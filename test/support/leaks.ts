/**
 * Leak checks every test runs: nothing counted as running, no courier slot
 * held, no order in flight, the worker threads as many as configured — and,
 * around a whole file, the process's OS threads back where they were.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { socketsIn } from '../../src/http/port-ownership.js';
import type { TestService } from './service.js';

/** /proc/net/tcp's `st` for CLOSE_WAIT. */
const CLOSE_WAIT = '08';

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
export async function expectAtRest(svc: Pick<TestService, 'health'>, threads: number): Promise<void> {
  const health = await svc.health();
  expect({
    running_steps: health.running_steps,
    couriers_busy: health.couriers_busy,
    orders_in_flight: health.orders_in_flight,
    queued: health.queued,
    threads: health.threads,
  }).toEqual({ running_steps: 0, couriers_busy: 0, orders_in_flight: 0, queued: 0, threads });
}

/** Names of this process's OS threads, as the kernel lists them (a thread gone between the listing and its read is skipped). */
export function osThreadNames(): string[] {
  const names: string[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      names.push(readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim());
    } catch {
      // It ended after the listing: it is not running.
    }
  }
  return names;
}

/**
 * The threads in `now` that `before` does not account for, by name and count
 * (two `node-Worker`s now against one before leave one beyond). A thread
 * present before and gone since is not a leak: a file can begin while
 * something its process did earlier is still winding down.
 */
export function threadsBeyond(before: readonly string[], now: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const name of before) left.set(name, (left.get(name) ?? 0) + 1);
  const beyond: string[] = [];
  for (const name of now) {
    const count = left.get(name) ?? 0;
    if (count > 0) left.set(name, count - 1);
    else beyond.push(name);
  }
  return beyond;
}

/**
 * No OS thread beyond those of `before` is left: waits up to two seconds, as
 * {@link expectOsThreadsBackTo} does, for terminated workers to be gone.
 */
export async function expectNoOsThreadsBeyond(before: readonly string[]): Promise<void> {
  const until = performance.now() + 2000;
  while (threadsBeyond(before, osThreadNames()).length > 0 && performance.now() < until)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const now = osThreadNames();
  expect(threadsBeyond(before, now), `OS threads now: ${now.join(', ')}; at the start: ${before.join(', ')}`).toEqual(
    [],
  );
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

/**
 * Connections to `port` on this machine that their client has closed and the server has not (TCP's CLOSE_WAIT), as
 * the kernel lists them: a request sent before its client left may still wait there unread, to start an order once
 * the server reads it. A test that sends requests it abandons waits for none to be left before it looks at the rest.
 */
export function closedByClientOnly(port: number): number {
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    count += socketsIn(text, CLOSE_WAIT).filter((socket) => socket.port === port).length;
  }
  return count;
}
