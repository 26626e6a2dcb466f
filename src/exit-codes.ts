/**
 * The exit codes a service process ends with when it cannot start, from
 * sysexits(3): the primary of INSTANCES=N reads them too, to tell an
 * instance that cannot start for a while (Postgres unreachable) from one
 * that never will (a setting or a schema this code refuses).
 */

/** EX_CONFIG: a bad variable, or a database whose schema history this code does not know. */
export const EXIT_BAD_CONFIG = 78;

/** EX_UNAVAILABLE: Postgres (DATABASE_URL) cannot be reached at start. */
export const EXIT_DATABASE_UNAVAILABLE = 69;
