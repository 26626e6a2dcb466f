/**
 * The step tasks in flight, by cancel cell, as the main thread knows them: whose order, which step, which attempt, and
 * the placement that says which thread the task was handed to (set by the pool's balancer as it places the task, so
 * read when looked at). The runner adds a task when its attempt takes a cell and removes it before the cell is
 * given back, so a cell never names a task that is not its own. What the task is doing on its thread is in the cell.
 *
 * Only for watching (the thread view): an entry set and cleared in a table by cell per attempt, and nothing else until
 * someone looks.
 */
import type { ActionName } from '../domain/order.js';
import type { PlacedStep } from './step-balancer.js';

export interface TaskInFlight {
  readonly orderId: string;
  readonly step: ActionName;
  /** 1, or 2 when the step runs again after its thread was lost under it. */
  readonly attempt: number;
  /** `placedOn` is the thread it was handed to, once it is. */
  readonly placement: PlacedStep;
  /** performance.now() when the attempt began. */
  readonly since: number;
}

export class TasksInFlight {
  private readonly tasks: Array<TaskInFlight | undefined>;
  private count = 0;

  /** `cells`: how many cancel cells there are. */
  constructor(cells: number) {
    this.tasks = new Array<TaskInFlight | undefined>(cells).fill(undefined);
  }

  add(cell: number, task: TaskInFlight): void {
    if (this.tasks[cell] === undefined) this.count++;
    this.tasks[cell] = task;
  }

  remove(cell: number): void {
    if (this.tasks[cell] !== undefined) this.count--;
    this.tasks[cell] = undefined;
  }

  get size(): number {
    return this.count;
  }

  /** Oldest attempt first. */
  forEach(visit: (task: TaskInFlight, cell: number) => void): void {
    const cells: number[] = [];
    this.tasks.forEach((task, cell) => task && cells.push(cell));
    cells.sort((a, b) => this.tasks[a]!.since - this.tasks[b]!.since);
    for (const cell of cells) visit(this.tasks[cell]!, cell);
  }
}
