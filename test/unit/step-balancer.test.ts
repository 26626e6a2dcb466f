/**
 * The balancer's choice between a thread hung in a step's code and one waiting for work (src/threads/step-balancer.ts),
 * with the threads' readings set by the test: a thread in a step's code right now (the tracker's on-CPU mark) gets no
 * new step while another waits idle, though its event loop's share since the last look was below the busy line — the
 * idle time before the hang counted in it.
 */
import { Piscina, type PiscinaTask } from 'piscina';
import { describe, expect, it } from 'vitest';
import { StepBalancer, type PlacedStep } from '../../src/threads/step-balancer.js';

type Workers = Parameters<StepBalancer['pick']>[1];
type Utilization = ReturnType<typeof performance.eventLoopUtilization>;

/** A step that computes nothing, unstarted until the test says. */
function stepTask(): { task: PiscinaTask; step: PlacedStep } {
  const step: PlacedStep = {
    cpuMs: 0,
    placedOn: undefined,
    placedAt: 0,
    started: () => true,
    computed: () => true,
  };
  return { task: { [Piscina.queueOptionsSymbol]: step } as unknown as PiscinaTask, step };
}

const loop = (idle: number, active: number): Utilization => ({ idle, active, utilization: active / (idle + active) });

describe('the step balancer', () => {
  it("places no step on a thread in a step's code while another waits for work, whatever its loop's share read", async () => {
    const elu = new Map<number, Utilization>([
      [1, loop(0, 0)],
      [2, loop(0, 0)],
    ]);
    const executing = new Set<number>();
    const balancer = new StepBalancer({
      tasksPerThread: 1000,
      accepts: () => true,
      eventLoopOf: (threadId) => elu.get(threadId),
      executingStep: (threadId) => executing.has(threadId),
    });
    const workers = [
      { id: 1, currentUsage: 0, terminating: false, destroyed: false },
      { id: 2, currentUsage: 0, terminating: false, destroyed: false },
    ] as unknown as Workers;
    // The step that hangs: on thread 1, which then ran it 40 ms of a 50 ms span (0.8, below the busy line of 0.95)
    // and is in its code still.
    const hanging = balancer.pick(stepTask().task, workers);
    const hungId = hanging!.id;
    const otherId = hungId === 1 ? 2 : 1;
    await new Promise((resolve) => setTimeout(resolve, 15));
    Object.assign(
      workers.find((worker) => worker.id === hungId)!,
      { currentUsage: 1 },
    );
    elu.set(hungId, loop(10, 40));
    elu.set(otherId, loop(50, 0));
    executing.add(hungId);
    // Packing would send it to the fuller thread, the hung one.
    for (let i = 0; i < 3; i++) expect(balancer.pick(stepTask().task, workers)!.id).toBe(otherId);
    // Out of the step's code, waiting in its loop again: packed there as before.
    executing.delete(hungId);
    expect(balancer.pick(stepTask().task, workers)!.id).toBe(hungId);
  });
});
