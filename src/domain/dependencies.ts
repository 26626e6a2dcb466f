/**
 * The remote services the steps call — their dependencies — as the step
 * registry declares them (src/domain/steps.ts): which step calls which
 * service, and the kind the step fails with when that service is unavailable.
 *
 * An order needs every dependency (its three steps run at once), so a
 * dependency known to be down — its circuit breaker open — turns every new
 * order away with that dependency's kind.
 */
import type { StepFailureKind } from './errors.js';
import { STEP_NAMES, STEPS, type PerStep, type StepName } from './steps.js';

/** The dependencies' names, from the step registry (src/domain/steps.ts), in its order. */
export type DependencyName = (typeof STEPS)[StepName]['dependency']['name'];

export interface Dependency {
  readonly name: DependencyName;
  /** The step that calls it. */
  readonly step: StepName;
  /**
   * What the step fails with when the service does not answer (an outage):
   * a failure of the service, never a business answer — a declined payment
   * is the provider answering.
   */
  readonly unavailable: StepFailureKind;
  /** For people: in messages and on the thread view. */
  readonly title: string;
}

export const DEPENDENCIES: readonly Dependency[] = STEP_NAMES.map((step) => ({ step, ...STEPS[step].dependency }));

export const DEPENDENCY_NAMES = DEPENDENCIES.map((dependency) => dependency.name) as unknown as readonly [
  DependencyName,
  ...DependencyName[],
];

/** An outage's added latency at most: as long as a step's own delay may be. */
export const MAX_ADDED_LATENCY_MS = 60_000;

/** Each step's dependency. */
export const DEPENDENCY_OF_STEP: PerStep<Dependency> = Object.fromEntries(
  DEPENDENCIES.map((dependency) => [dependency.step, dependency]),
) as Record<StepName, Dependency>;

/** The dependency a path or a body names, if there is one by that name. */
export function dependencyNamed(name: string): Dependency | undefined {
  return DEPENDENCIES.find((dependency) => dependency.name === name);
}

/**
 * What a step's dependency had to do with how the step ended, as the step
 * saw it: `answered` — its last call was answered (a business "no", such as a
 * declined payment, is an answer); `failed` — the step failed because of the
 * dependency: answered unavailable (an outage), or cut by its order's
 * deadline while waiting out the dependency's added latency or a backoff
 * before calling it again. A step failure that is not `failed` was asked for
 * by the order (fail_step, faults, its own delay_ms) or is a bug.
 */
export type DependencyVerdict = 'answered' | 'failed';
