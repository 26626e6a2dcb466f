/**
 * errgroup.WithContext for AbortSignals: run tasks at once under one signal;
 * the first task to report a failure aborts the signal with it, which
 * cancels the others. Like `Wait`, it resolves only when every task has
 * settled — never at the first failure — so nothing started here is still
 * running when the caller goes on.
 */

export type GroupTask<T> = (signal: AbortSignal) => Promise<T>;

export interface GroupResult<T> {
  /** In the order the tasks were given. */
  readonly results: T[];
  /** Why the group's signal was aborted — the first failure or the parent's reason — or undefined. */
  readonly abortReason: unknown;
}

/**
 * `parents` cancel the group from outside (Go's parent context); the group's
 * signal follows any of them and its own first failure.
 */
export async function runGroup<T>(
  parents: readonly AbortSignal[],
  tasks: readonly GroupTask<T>[],
  failureOf: (result: T) => unknown,
): Promise<GroupResult<T>> {
  const controller = new AbortController();
  const signal = AbortSignal.any([...parents, controller.signal]);
  const settled = await Promise.allSettled(
    tasks.map(async (task) => {
      try {
        const result = await task(signal);
        const failure = failureOf(result);
        if (failure !== undefined) controller.abort(failure);
        return result;
      } catch (error) {
        controller.abort(error);
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
