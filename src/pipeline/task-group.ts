/**
 * errgroup.WithContext for AbortSignals: run tasks at once under one signal;
 * the first task to report a failure aborts the signal with it, which
 * cancels the others. Like `Wait`, it resolves only when every task has
 * settled — never at the first failure — so nothing started here is still
 * running when the caller goes on.
 *
 * The group's controller is the caller's (Go's `ctx, cancel :=
 * context.WithCancel(parent)` made by the caller): it ties the controller to
 * whatever else ends the group — a parent signal, a deadline — with one
 * listener and one timer, rather than AbortSignal.any over several signals,
 * which costs the main thread several times as much on every order.
 */

export type GroupTask<T> = (signal: AbortSignal) => Promise<T>;

export interface GroupResult<T> {
  /** In the order the tasks were given. */
  readonly results: T[];
  /** Why the group's signal was aborted — the first failure, or what the caller aborted it with — or undefined. */
  readonly abortReason: unknown;
}

export async function runGroup<T>(
  group: AbortController,
  tasks: readonly GroupTask<T>[],
  failureOf: (result: T) => unknown,
): Promise<GroupResult<T>> {
  const { signal } = group;
  const settled = await Promise.allSettled(
    tasks.map(async (task) => {
      try {
        const result = await task(signal);
        const failure = failureOf(result);
        if (failure !== undefined) group.abort(failure);
        return result;
      } catch (error) {
        group.abort(error);
        throw error;
      }
    }),
  );
  const results: T[] = [];
  for (const outcome of settled) {
    if (outcome.status === 'rejected') throw outcome.reason;
    results.push(outcome.value);
  }
  return { results, abortReason: signal.aborted ? signal.reason : undefined };
}

/** A controller tied to a parent and a deadline; disposing of it (`using`) unties it. */
export interface Scope extends Disposable {
  readonly controller: AbortController;
  /** Clear the deadline and stop following the parent; idempotent (`[Symbol.dispose]` calls it too). */
  release(): void;
}

/**
 * A controller that follows `parent`, if any, and aborts by itself after `ms`
 * (a deadline). Hold it with `using`, or call `release` once done with it:
 * the timer is cleared (AbortSignal.timeout cannot be, and kept one alive for
 * its whole span after every order) and the listener on the parent removed.
 * A scope with nothing to follow has no parent — rather than a shared signal
 * that never aborts, on which every scope in flight would hang a listener.
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
