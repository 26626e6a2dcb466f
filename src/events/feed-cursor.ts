/**
 * The feed's cursor (GET /events?after=): opaque to the client, checked by
 * the service. It names the client it was given to and the last event seen,
 * and is signed (HMAC-SHA256, truncated to 128 bits) with a secret of the
 * event log's: a cursor of another client, or one the service never made —
 * garbage, or a client's own forgery, naming a position of its choosing —
 * is refused rather than read as "from the start": a client that sends
 * garbage must learn it, not silently receive everything again.
 *
 * The secret is the store's (StoreEvents.cursorSecret): in memory a new one
 * per process, as the events themselves are; in the durable mode one kept in
 * Postgres, so that every instance reads every instance's cursors. A cursor
 * names its secret by a short fingerprint: one made under another secret
 * (before a restart, in memory) points into a history that is gone, and is
 * read as such (`expired`), not as garbage.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const CURSOR_PREFIX = 'c2.';
/** The longest cursor read. */
export const CURSOR_MAX_LENGTH = 512;
/** Elements of a position at most (Postgres's: transaction id, seq). */
const MAX_POSITION = 2;
const MAC_BYTES = 16;

export type CursorReading =
  | { readonly ok: true; readonly after: readonly number[] }
  | { readonly ok: false; readonly why: 'malformed' | 'other_client' | 'expired' };

export class FeedCursors {
  private readonly keyId: string;

  constructor(private readonly secret: Buffer) {
    this.keyId = createHash('sha256').update(secret).digest('base64url').slice(0, 8);
  }

  /** The cursor after `position` (an event's, or empty: before the first kept). */
  cursorOf(client: string, position: readonly number[]): string {
    const payload = Buffer.from(JSON.stringify([client, this.keyId, ...position])).toString('base64url');
    return `${CURSOR_PREFIX}${payload}.${this.mac(payload).toString('base64url')}`;
  }

  read(cursor: string, client: string): CursorReading {
    if (!cursor.startsWith(CURSOR_PREFIX) || cursor.length > CURSOR_MAX_LENGTH) return { ok: false, why: 'malformed' };
    const [payload, mac, ...rest] = cursor.slice(CURSOR_PREFIX.length).split('.');
    if (payload === undefined || mac === undefined || rest.length > 0) return { ok: false, why: 'malformed' };
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return { ok: false, why: 'malformed' };
    }
    if (
      !Array.isArray(parsed) ||
      parsed.length > 2 + MAX_POSITION ||
      typeof parsed[0] !== 'string' ||
      typeof parsed[1] !== 'string'
    )
      return { ok: false, why: 'malformed' };
    // Made under another secret: nothing in it can be checked, and the history it points into is not this one.
    if (parsed[1] !== this.keyId) return { ok: false, why: 'expired' };
    const given = Buffer.from(mac, 'base64url');
    if (given.length !== MAC_BYTES || !timingSafeEqual(given, this.mac(payload)))
      return { ok: false, why: 'malformed' };
    const position = parsed.slice(2) as unknown[];
    if (!position.every((part) => Number.isSafeInteger(part) && (part as number) >= 0))
      return { ok: false, why: 'malformed' };
    if (parsed[0] !== client) return { ok: false, why: 'other_client' };
    return { ok: true, after: position as number[] };
  }

  private mac(payload: string): Buffer {
    return createHmac('sha256', this.secret).update(payload).digest().subarray(0, MAC_BYTES);
  }
}
