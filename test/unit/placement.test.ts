import { queueOptionsSymbol } from 'piscina';
import { describe, expect, it } from 'vitest';
import { Placement, type LoadBalancer, type TaskPlacement } from '../../src/threads/placement.js';

type Workers = Parameters<LoadBalancer>[1];

/** Piscina's view of two idle threads: no Piscina task on either. */
const idleThreads = (): Workers =>
  [1, 2].map((id) => ({ id, currentUsage: 0, terminating: false, destroyed: false })) as unknown as Workers;

const computingStep = (cpuMs: number): { task: Parameters<LoadBalancer>[0]; placement: TaskPlacement } => {
  const placement: TaskPlacement = { cpuMs };
  return { task: { [queueOptionsSymbol]: placement } as unknown as Parameters<LoadBalancer>[0], placement };
};

describe('Placement', () => {
  it("sends a computing step to the thread owing the least CPU, then to the one with the fewest tasks, its ring's counted", () => {
    // Thread 1's ring carries batches of other clients' steps; Piscina sees both threads idle.
    const ringTasks = new Map([[1, 3]]);
    const placement = new Placement(
      16,
      () => true,
      (threadId) => ringTasks.get(threadId) ?? 0,
    );
    const first = computingStep(500);
    expect(placement.balancer(first.task, idleThreads())?.id).toBe(2);
    expect(first.placement.placedOn).toBe(2);
    // Thread 2 now owes 500 ms: the next computing step goes to thread 1, whatever its ring runs.
    const second = computingStep(500);
    expect(placement.balancer(second.task, idleThreads())?.id).toBe(1);
    placement.settled(first.placement);
    placement.settled(second.placement);
    expect(placement.owedBy(1) + placement.owedBy(2)).toBe(0);
  });

  it('gives no task to a thread that accepts none, nor past the most tasks a thread runs', () => {
    const placement = new Placement(1, (threadId) => threadId !== 2);
    const busy = idleThreads();
    (busy[0] as { currentUsage: number }).currentUsage = 1;
    expect(placement.balancer(computingStep(0).task, busy)).toBeNull();
  });
});
