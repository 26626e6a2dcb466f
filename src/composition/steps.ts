/**
 * Where each step's code lives: the module a worker thread runs for it, one
 * per step and compensation of the registry (src/domain/steps.ts). Typed by
 * the registry's names, so a step declared there does not compile until its
 * module is given here.
 */
import { compensationOf, STEP_NAMES, type ActionName } from '../domain/steps.js';
import { compiledModule } from '../paths.js';
import type { StepDefinition } from '../pipeline/steps.js';

export const STEP_MODULES: Readonly<Record<ActionName, URL>> = {
  payment: compiledModule('workers/steps/payment'),
  vendor: compiledModule('workers/steps/vendor'),
  courier: compiledModule('workers/steps/courier'),
  refund: compiledModule('workers/steps/refund'),
};

/**
 * The steps every order runs, in the registry's order, each with its module and its compensation's (Go's
 * `[]order.Step`).
 */
export const DEFAULT_STEPS: readonly StepDefinition[] = STEP_NAMES.map((name) => {
  const compensation = compensationOf(name);
  return {
    name,
    module: STEP_MODULES[name].href,
    ...(compensation ? { compensation: { name: compensation, module: STEP_MODULES[compensation].href } } : {}),
  };
});
