/**
 * How the durable mode's failures are told apart, without pg: the process's
 * start (start-failure.ts) names them for every mode, and an in-memory
 * instance loads nothing of Postgres.
 */
import { StoreBusy, StoreUnavailable } from '../domain/errors.js';

/** A failure of the database itself — not of a statement — for callers to tell apart. */
export class DatabaseUnavailable extends StoreUnavailable {
  override readonly name = 'DatabaseUnavailable';
}

/** An SQLSTATE (its class is a digit or F, H, P, X first: never an errno name such as EPIPE). */
const SQLSTATE = /^[0-9FHPX][0-9A-Z]{4}$/;

/** Whether an error's code is Postgres's own answer (an SQLSTATE), not a network error's errno name. */
export function isSqlState(code: string): boolean {
  return SQLSTATE.test(code);
}
/**
 * SQLSTATE classes that mean the server or the connection failed, not the statement: 08 connection, 53 resources, 57
 * operator intervention (shutdown), 58 system.
 */
const UNAVAILABLE_STATES = /^(08|53|57|58)/;

/**
 * Whether a request failed for want of the database — it is down, or no connection was free — rather than through a
 * fault of its own.
 */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof DatabaseUnavailable || error instanceof StoreBusy) return true;
  const code = (error as { code?: unknown } | null)?.code;
  // A network error has an errno code (ECONNREFUSED…); pg's own have none, and say so in words.
  if (typeof code === 'string') return isSqlState(code) ? UNAVAILABLE_STATES.test(code) : true;
  return error instanceof Error && /timeout|terminated|Connection|ECONN|socket/i.test(error.message);
}

export type MigrationErrorKind = 'migration_failed' | 'history_mismatch';

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  constructor(
    readonly kind: MigrationErrorKind,
    message: string,
    options?: { cause: unknown },
  ) {
    super(message, options);
  }
}
