/**
 * Who runs a run here: the identity this instance began (or resumed) it under, and the run's fence then. Every write
 * for the run — a step's record, its finish, its undo, its hand-over — is sent under both, and lands only while they
 * are still the run's in Postgres.
 */

/** The fence of a run as begun (schema.ts, migration 2): each claim of recovery raises it, and so does a hand-over. */
export const FENCE_AS_BEGUN = 0;

/**
 * The fence a step's request is sent under by an instance that no longer holds its run (given up with the lease, or
 * handed over, while a step of it still ran here): older than every claim, so a service that has seen any refuses it.
 */
export const FENCE_NOT_HELD = FENCE_AS_BEGUN - 1;

/** Who runs a run here: the identity it began (or was resumed) under, and its fence then. */
export interface RunHolder {
  readonly owner: string;
  readonly fence: number;
}
