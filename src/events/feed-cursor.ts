/**
 * The feed's cursor (GET /events?after=): opaque to the client, checked by
 * the service. It names the client it was given to and the last event seen;
 * a cursor of another client, or one the service never made, is refused
 * rather than read as "from the start" — a client that sends garbage must
 * learn it, not silently receive everything again.
 */
export const CURSOR_PREFIX = 'c1.';
/** The longest cursor read. */
export const CURSOR_MAX_LENGTH = 512;
/** Elements of a position at most (Postgres's: transaction id, seq). */
const MAX_POSITION = 2;

export type CursorReading =
  | { readonly ok: true; readonly after: readonly number[] }
  | { readonly ok: false; readonly why: 'malformed' | 'other_client' };

/** The cursor after `position` (an event's, or empty: before the first). */
export function cursorOf(client: string, position: readonly number[]): string {
  return CURSOR_PREFIX + Buffer.from(JSON.stringify([client, ...position])).toString('base64url');
}

export function readCursor(cursor: string, client: string): CursorReading {
  if (!cursor.startsWith(CURSOR_PREFIX) || cursor.length > CURSOR_MAX_LENGTH) return { ok: false, why: 'malformed' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor.slice(CURSOR_PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    return { ok: false, why: 'malformed' };
  }
  if (!Array.isArray(parsed) || parsed.length > 1 + MAX_POSITION || typeof parsed[0] !== 'string')
    return { ok: false, why: 'malformed' };
  const position = parsed.slice(1) as unknown[];
  if (!position.every((part) => Number.isSafeInteger(part) && (part as number) >= 0))
    return { ok: false, why: 'malformed' };
  if (parsed[0] !== client) return { ok: false, why: 'other_client' };
  return { ok: true, after: position as number[] };
}
