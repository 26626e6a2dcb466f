/**
 * Who runs a run here: the identity this instance began (or resumed) it under, and the run's fence then. Every write
 * for the run — a step's record, its finish, its undo, its hand-over — is sent under both, and lands only while they
 * are still the run's in Postgres.
 */

/** The fence of a run as begun (schema.ts, migration 2): each claim of recovery raises it, and so does a hand-over. */
export const FENCE_AS_BEGUN = 0;

/** Who runs a run here: the identity it began (or was resumed) under, and its fence then. */
export interface RunHolder {
  readonly owner: string;
  readonly fence: number;
}
