/**
 * When a failed delivery is tried again: exponential backoff with jitter.
 * The first retry comes after WEBHOOK_RETRY_FIRST_MS at most (5 s by
 * default, 10 s at most: the Standard Webhooks schedule's first step), each
 * next wait four times longer up to 12 hours, so that with the default
 * window the attempts spread over about three days (5 s, 20 s, 80 s, 5 min,
 * 21 min, 85 min, 5.7 h, then every 12 h: 14 attempts). Each wait is drawn
 * between half and all of its step, so that deliveries that failed together
 * (an endpoint down for everyone) do not come back together.
 */
const GROWTH = 4;
/** The longest wait by default (WEBHOOK_RETRY_MAX_MS's default). */
const MAX_WAIT_MS = 12 * 3_600_000;

/** The wait before attempt `failures + 1`, after `failures` failed attempts; no step longer than `maxMs`. */
export function retryDelayMs(
  failures: number,
  firstMs: number,
  random: () => number = Math.random,
  maxMs: number = MAX_WAIT_MS,
): number {
  const step = Math.min(maxMs, firstMs * GROWTH ** Math.max(0, failures - 1));
  return Math.round(step * (0.5 + random() / 2));
}
