/**
 * A thread's step modules: each imported once (all of them before the thread says it is ready), and the name a step
 * goes by in its log lines. A module that fails to load is left for its tasks, which then fail one by one (internal)
 * instead of every new thread dying at start.
 */
import type { CancelCells } from '../src/shared-memory/cancel-cells.js';
import type { StepFunction } from './step-api.js';

/** Whether a module's default export is a step: a function. */
const isStepFunction = (value: unknown): value is StepFunction => typeof value === 'function';

/** A step's name for its log lines: its module's file name. */
const nameOfModule = (module: string): string => module.slice(module.lastIndexOf('/') + 1).replace(/\.[jt]s$/, '');

export class StepModules {
  private readonly loaded = new Map<string, StepFunction>();
  /** One string per module, not two new ones per step that its context would keep while the step sleeps. */
  private readonly names = new Map<string, string>();

  /** The modules of `modules`, loaded; settled once each has loaded or failed to. */
  static async preload(modules: readonly string[]): Promise<StepModules> {
    const steps = new StepModules();
    await Promise.allSettled(modules.map((module) => steps.load(module)));
    return steps;
  }

  /** The step of `module` if it is loaded already. */
  loadedStep(module: string): StepFunction | undefined {
    return this.loaded.get(module);
  }

  nameOf(module: string): string {
    let name = this.names.get(module);
    if (name === undefined) this.names.set(module, (name = nameOfModule(module)));
    return name;
  }

  /**
   * `module` loaded, or undefined as soon as `cell` is canceled: the wait honors cancellation (the import goes on). The
   * wait on the cell stays pending once the module has loaded: it keeps no event loop alive, and ends with the cell.
   */
  loadOrCanceled(cells: CancelCells, cell: number, module: string): Promise<StepFunction | undefined> {
    return Promise.race([this.load(module), cells.whenCanceled(cell).then(() => undefined)]);
  }

  private async load(module: string): Promise<StepFunction> {
    const loaded = this.loaded.get(module);
    if (loaded) return loaded;
    const namespace = (await import(module)) as { default?: unknown };
    if (!isStepFunction(namespace.default))
      throw new TypeError(`step module ${module} has no default export: a step function`);
    this.loaded.set(module, namespace.default);
    return namespace.default;
  }
}
