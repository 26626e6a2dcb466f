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

/** The schedule's settings: WEBHOOK_RETRY_FIRST_MS and WEBHOOK_RETRY_MAX_MS. */
export interface RetrySchedule {
  readonly retryFirstMs: number;
  readonly retryMaxMs: number;
}

/** The wait before attempt `failures + 1`, after `failures` failed attempts; no step longer than `retryMaxMs`. */
export function retryDelayMs(
  failures: number,
  { retryFirstMs, retryMaxMs }: RetrySchedule,
  random: () => number = Math.random,
): number {
  const step = Math.min(retryMaxMs, retryFirstMs * GROWTH ** Math.max(0, failures - 1));
  return Math.round(step * (0.5 + random() / 2));
}

/**
 * Whether a delivery that failed `failures` times, the first attempt `failingForMs` ago, is tried again after `waitMs`:
 * while that retry falls within the window, and always after its first failure. A window shorter than one attempt's
 * round trip (a slow endpoint, or the delivery thread kept off the cores of a busy machine) otherwise gave no retry at
 * all, and disabled an endpoint for a single failure.
 */
export function triedAgain(failures: number, failingForMs: number, waitMs: number, windowMs: number): boolean {
  return failures <= 1 || failingForMs + waitMs <= windowMs;
}
