/**
 * The step tasks in flight, by cancel cell, as the main thread knows them: whose order, which step, which attempt, and
 * the placement that says which thread the task was handed to (set by the pool's balancer as it places the task, so
 * read when looked at). The runner adds a task when its attempt takes a cell and removes it before the cell is
 * given back, so a cell never names a task that is not its own. What the task is doing on its thread is in the cell.
 *
 * Only for watching (the thread view): an entry set and taken out of a table by cell per attempt (not a Map:
 * src/shared-memory/index-table.ts says why), and nothing else until someone looks.
 */
import type { ActionName } from '../domain/order.js';
import { IndexTable } from '../shared-memory/index-table.js';
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
  private readonly tasks: IndexTable<TaskInFlight>;

  /** `cells`: how many cancel cells there are. */
  constructor(cells: number) {
    this.tasks = new IndexTable(cells);
  }

  add(cell: number, task: TaskInFlight): void {
    this.tasks.set(cell, task);
  }

  remove(cell: number): void {
    this.tasks.delete(cell);
  }

  get size(): number {
    return this.tasks.size;
  }

  /** Oldest attempt first. (No iterator: it would allocate a pair per task, and there can be tens of thousands.) */
  forEach(visit: (task: TaskInFlight, cell: number) => void): void {
    this.tasks.forEach(visit);
  }
}
