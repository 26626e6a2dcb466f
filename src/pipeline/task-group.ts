/**
 * Deadlines for work outside an order's own steps. A scope (a compensation's): a controller that follows a parent
 * signal, if any, and a deadline, with one listener and one timer rather than AbortSignal.any over several signals,
 * which costs the main thread several times as much. An order's own steps run under its record instead
 * (order-in-flight.ts). And a wait with a deadline (`settlesWithin`).
 */

/** A controller tied to a parent and a deadline; disposing of it (`using`) unties it. */
export interface Scope extends Disposable {
  readonly controller: AbortController;
  /** Clear the deadline and stop following the parent; idempotent (`[Symbol.dispose]` calls it too). */
  release(): void;
}

/**
 * A controller that follows `parent`, if any, and aborts by itself after `ms` (a deadline). Hold it with `using`, or
 * call `release` once done with it: the timer is cleared (AbortSignal.timeout cannot be, and kept one alive for its
 * whole span after every order) and the listener on the parent removed. A scope with nothing to follow has no parent —
 * rather than a shared signal that never aborts, on which every scope in flight would hang a listener.
 */
export function scopeOf(parent: AbortSignal | null, ms: number, onDeadline: () => unknown): Scope {
  const controller = new AbortController();
  const follow = (): void => controller.abort(parent?.reason);
  if (parent?.aborted) follow();
  else parent?.addEventListener('abort', follow, { once: true });
  const timer = setTimeout(() => controller.abort(onDeadline()), ms);
  const release = (): void => {
    clearTimeout(timer);
    parent?.removeEventListener('abort', follow);
  };
  return { controller, release, [Symbol.dispose]: release };
}

/** Whether `promise` settles within `ms`; its timer is cleared either way. */
export async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([promise.then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
