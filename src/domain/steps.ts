/**
 * The step registry: what every order runs, keyed by step name — the one
 * place a step is declared. The API's per-step fields (`delay_ms`, `cpu_ms`,
 * `fail_step`, `faults`), the failure kinds, the defaults, the number of
 * tasks an order can put on the pool: all are derived from here. A new step
 * is a row here and a module in workers/steps/; the compiler then points at
 * the rest (its module's place in src/composition/steps.ts, its failure
 * kind's status in src/http/wire/error-status.ts). CONTRIBUTING.md walks through it.
 *
 * The order of the rows is the order of the steps in every answer.
 */

export interface StepSpec {
  /** The kind the step fails with when its remote service says no (a business answer, or the client's `fail_step`). */
  readonly failsWith: string;
  /**
   * The remote service the step calls (its dependency, with a circuit breaker
   * of its own), and the kind the step fails with when that service does not
   * answer (an outage) — never a business answer: a declined payment is the
   * provider answering.
   */
  readonly dependency: { readonly name: string; readonly unavailable: string; readonly title: string };
  /** Simulated I/O latency when the order does not say (the steps' are the Go service's defaults). */
  readonly defaultDelayMs: number;
  /** What undoes the step when it succeeded but its order failed (a saga's compensating action). */
  readonly compensation?: string;
}

export const STEPS = {
  payment: {
    failsWith: 'payment_declined',
    dependency: { name: 'payment', unavailable: 'payment_unavailable', title: 'the payment provider' },
    defaultDelayMs: 150,
    compensation: 'refund',
  },
  vendor: {
    failsWith: 'vendor_unavailable',
    dependency: { name: 'vendor', unavailable: 'vendor_unavailable', title: 'the vendor' },
    defaultDelayMs: 200,
  },
  courier: {
    failsWith: 'no_courier',
    dependency: { name: 'courier', unavailable: 'no_courier', title: 'the courier service' },
    defaultDelayMs: 100,
  },
} as const satisfies Readonly<Record<string, StepSpec>>;

/** Compensations: run only for a failed order, for a step whose effect may stand; they compute nothing. */
export const COMPENSATIONS = {
  refund: { failsWith: 'refund_failed', defaultDelayMs: 50 },
} as const satisfies Readonly<Record<string, Pick<StepSpec, 'failsWith' | 'defaultDelayMs'>>>;

export type StepName = keyof typeof STEPS;
export type CompensationName = keyof typeof COMPENSATIONS;
/** Everything an order runs on the worker pool: its steps, and its compensations if it fails. */
export type ActionName = StepName | CompensationName;

/** The kinds a step or a compensation fails with: its remote service said no, or did not answer. */
export type StepFailureKind =
  | (typeof STEPS)[StepName]['failsWith']
  | (typeof STEPS)[StepName]['dependency']['unavailable']
  | (typeof COMPENSATIONS)[CompensationName]['failsWith'];

const keys = <T extends object>(table: T): [keyof T & string, ...Array<keyof T & string>] =>
  Object.keys(table) as [keyof T & string, ...Array<keyof T & string>];

/** In registry order, as a non-empty tuple (what a schema's enum takes). */
export const STEP_NAMES: readonly [StepName, ...StepName[]] = keys(STEPS);
export const COMPENSATION_NAMES: readonly [CompensationName, ...CompensationName[]] = keys(COMPENSATIONS);
export const ACTION_NAMES: readonly [ActionName, ...ActionName[]] = [...STEP_NAMES, ...COMPENSATION_NAMES];

export const STEP_FAILURE_KINDS: readonly StepFailureKind[] = [
  ...new Set<StepFailureKind>([
    ...Object.values(STEPS).flatMap((spec) => [spec.failsWith, spec.dependency.unavailable]),
    ...Object.values(COMPENSATIONS).map((spec) => spec.failsWith),
  ]),
];

export function isCompensation(action: ActionName): action is CompensationName {
  return Object.hasOwn(COMPENSATIONS, action);
}

/** The compensation of a step, if it has one. */
export function compensationOf(step: StepName): CompensationName | undefined {
  const spec: StepSpec = STEPS[step];
  return spec.compensation as CompensationName | undefined;
}

export type PerStep<T> = Readonly<Record<StepName, T>>;
export type PerAction<T> = Readonly<Record<ActionName, T>>;

/** The same value for every step: a starting point a caller overrides by name, so a new step is never left out. */
export function everyStep<T>(value: T): PerStep<T> {
  return Object.fromEntries(STEP_NAMES.map((name) => [name, value])) as Record<StepName, T>;
}

/** The same value for every step and compensation. */
export function everyAction<T>(value: T): PerAction<T> {
  return Object.fromEntries(ACTION_NAMES.map((name) => [name, value])) as Record<ActionName, T>;
}

/** Simulated I/O latency per step and compensation when the order does not say. */
export const DEFAULT_DELAY_MS: PerAction<number> = Object.fromEntries(
  [...Object.entries(STEPS), ...Object.entries(COMPENSATIONS)].map(([name, spec]) => [name, spec.defaultDelayMs]),
) as PerAction<number>;
