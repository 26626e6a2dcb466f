/**
 * Why the service could not start, as the process ends with it: an exit
 * code (src/exit-codes.ts) the primary of INSTANCES=N reads to tell an
 * instance that cannot start for a while from one that never will, and one
 * line for the operator. Postgres refusing to serve at that moment — down,
 * unreachable, starting or shutting down (SQLSTATE class 57) — is the same
 * "cannot reach it for now", whichever step of the start met it first, and
 * however deep in the causes the step that met it kept it (a thread's start
 * that failed names its thread, its cause the error the thread met). A port
 * another process holds is a setting to change (PORT), said in one line as
 * `npm run db` says its own.
 */
import { EXIT_BAD_CONFIG, EXIT_DATABASE_UNAVAILABLE } from './exit-codes.js';
import { DatabaseUnavailable, isUnavailable, MigrationError } from './postgres/failures.js';

export interface StartFailure {
  readonly exitCode: number;
  readonly line: string;
}

/**
 * `databaseUrl`: where Postgres was looked for, already without its password. Undefined: a failure of our own (exit 1,
 * logged with its stack).
 */
export function startFailure(error: unknown, databaseUrl: string): StartFailure | undefined {
  if (isAddressInUse(error))
    return {
      exitCode: EXIT_BAD_CONFIG,
      line: `port ${error.port} on ${error.address} is taken by another process; set PORT to another port`,
    };
  for (let cause = error; cause !== undefined && cause !== null; cause = (cause as { cause?: unknown }).cause) {
    if (cause instanceof MigrationError)
      return { exitCode: EXIT_BAD_CONFIG, line: `the database's schema does not fit this code: ${messageOf(error)}` };
    if (cause instanceof DatabaseUnavailable || (databaseUrl !== '' && isUnavailable(cause)))
      return {
        exitCode: EXIT_DATABASE_UNAVAILABLE,
        line: `cannot reach Postgres at ${databaseUrl}: ${messageOf(error)}`,
      };
  }
  return undefined;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Node's error for a listen on an address and port another socket holds. */
function isAddressInUse(error: unknown): error is Error & { address: string; port: number } {
  return (
    error instanceof Error &&
    (error as NodeJS.ErrnoException).code === 'EADDRINUSE' &&
    typeof (error as { port?: unknown }).port === 'number'
  );
}
