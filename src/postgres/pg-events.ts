/**
 * The outbox and the webhook endpoints in Postgres (schema.ts, migration 6),
 * shared by every instance. Events are written by triggers of the
 * statements that record what they report, never from here; this reads
 * them — the feed, by client, and one by id — and keeps the endpoints.
 *
 * The feed's order is the inserting transaction's id, then `seq`, and only
 * rows of transactions older than every one still open are shown: a
 * sequence value drawn by a transaction that commits later than another's
 * would otherwise appear behind a cursor already past it (a gap). A
 * transaction held open long holds the feed back, never makes it skip.
 * Events forgotten past EVENT_RETENTION_DAYS leave their newest position per
 * client behind (migration 11), so a feed resumed from before it is told of
 * its gap.
 */
import { orderKey, partsOfKey } from '../domain/order.js';
import type { DeliveryRecord, EventLog, FeedPage } from '../events/event-log.js';
import type { EventOutcomeKind, EventType, StoredEvent } from '../events/order-event.js';
import {
  newEndpointId,
  newSigningSecret,
  type Added,
  type DisabledReason,
  type EndpointBook,
  type WebhookEndpoint,
} from '../events/webhook-endpoints.js';
import { asNumber, storedKey, unstoredKey, type Database, type Statement } from './database.js';

export interface EventRow {
  readonly seq: string;
  readonly xid: string;
  readonly id: string;
  readonly client: string;
  readonly order_id: string;
  readonly run: string;
  readonly type: EventType;
  readonly kind: EventOutcomeKind;
  readonly charged: string;
  readonly refunded: string;
  readonly created_at: Date;
  readonly trace_id: string | null;
  readonly trace_span_id: string | null;
}

export const EVENT_COLUMNS =
  'seq, xid::text AS xid, id, client, order_id, run, type, kind, charged, refunded, created_at, trace_id, trace_span_id';

/**
 * Ordered by `events.xid`, the column: an unqualified name in ORDER BY means the output column of that name first, and
 * the output's `xid` is its text, in whose order 1000 comes before 999. Paged in that order while the cursor compares
 * numbers, a page that crossed to another count of digits left every event of the shorter ids behind the cursor, for
 * good. Served by events_feed (migration 6), read in its order: nothing is sorted.
 */
export const FEED_PAGE: Statement = {
  name: 'events_page',
  text: `SELECT ${EVENT_COLUMNS} FROM events
          WHERE client = $1 AND (xid, seq) > ($2::text::xid8, $3::bigint)
            AND xid < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY events.xid, events.seq LIMIT $4`,
};
/** Served by events_by_order (migration 13). */
const OF_ORDER: Statement = {
  name: 'events_of_order',
  text: `SELECT ${EVENT_COLUMNS} FROM events WHERE order_id = $1 ORDER BY seq`,
};
/** Served by event_deliveries_by_event (migration 13). */
const DELIVERIES_OF: Statement = {
  name: 'event_deliveries_of',
  text: `SELECT event_seq, endpoint_id, failures, first_attempt_at, done_at, outcome FROM event_deliveries
          WHERE event_seq = ANY($1::bigint[]) ORDER BY event_seq, endpoint_id`,
};
interface DeliveryRow {
  readonly event_seq: string;
  readonly endpoint_id: string;
  readonly failures: number;
  readonly first_attempt_at: Date | null;
  readonly done_at: Date | null;
  readonly outcome: string | null;
}
const BY_ID: Statement = { name: 'events_by_id', text: `SELECT ${EVENT_COLUMNS} FROM events WHERE id = $1` };
/** Whether some of the client's events after the position were forgotten (migration 11). */
const GAP: Statement = {
  name: 'events_gap',
  text: `SELECT 1 FROM events_forgotten WHERE client = $1 AND (xid, seq) > ($2::text::xid8, $3::bigint)`,
};
/**
 * The row there, or this one: ON CONFLICT DO UPDATE waits for an insert under way and returns the row it committed,
 * where DO NOTHING followed by a read saw the statement's own snapshot, and an instance that lost the race to another
 * starting beside it read no row at all. The update writes the secret it found back, unchanged.
 */
const SECRET: Statement = {
  name: 'feed_secret',
  text: `INSERT INTO feed_secrets (name, secret) VALUES ('cursor', $1)
         ON CONFLICT (name) DO UPDATE SET secret = feed_secrets.secret RETURNING secret`,
};

/** The secret every instance signs feed cursors with: the one in Postgres, or `fresh` if none is there yet. */
export async function feedSecret(db: Database, fresh: Buffer): Promise<Buffer> {
  const [row] = await db.query<{ secret: Buffer }>(SECRET, [fresh]);
  return row!.secret;
}

export function eventOfRow(row: EventRow): StoredEvent {
  const seq = asNumber(row.seq);
  return {
    id: row.id,
    seq,
    position: [asNumber(row.xid), seq],
    at: row.created_at,
    type: row.type,
    client: row.client,
    orderId: partsOfKey(unstoredKey(row.order_id)).orderId,
    run: asNumber(row.run),
    kind: row.kind,
    money: { charged: asNumber(row.charged), refunded: asNumber(row.refunded) },
    ...(row.trace_id !== null && row.trace_span_id !== null
      ? { trace: { traceId: row.trace_id, spanId: row.trace_span_id } }
      : {}),
  };
}

export class PgEventLog implements EventLog {
  constructor(private readonly db: Database) {}

  async page(client: string, after: readonly number[], limit: number): Promise<FeedPage> {
    const [xid = 0, seq = 0] = after;
    // From the start, whatever is kept is asked for: no gap to say.
    if (after.length > 0 && (await this.db.read(GAP, [client, String(xid), seq], client)).length > 0)
      return { events: [], gap: true };
    const rows = await this.db.read<EventRow>(FEED_PAGE, [client, String(xid), seq, limit], client);
    return { events: rows.map(eventOfRow) };
  }

  async ofOrder(client: string, orderId: string): Promise<StoredEvent[]> {
    const rows = await this.db.read<EventRow>(OF_ORDER, [storedKey(orderKey(client, orderId))], client);
    return rows.map(eventOfRow);
  }

  async deliveriesOf(seqs: readonly number[], client?: string): Promise<DeliveryRecord[]> {
    if (seqs.length === 0) return [];
    const rows = await this.db.read<DeliveryRow>(DELIVERIES_OF, [seqs], client);
    return rows.map((row) => ({
      eventSeq: asNumber(row.event_seq),
      endpointId: row.endpoint_id,
      failures: row.failures,
      firstAttemptAt: row.first_attempt_at ?? undefined,
      doneAt: row.done_at ?? undefined,
      outcome: row.outcome ?? undefined,
    }));
  }

  async get(id: string): Promise<StoredEvent | undefined> {
    const [row] = await this.db.read<EventRow>(BY_ID, [id]);
    return row ? eventOfRow(row) : undefined;
  }

  /** Deliveries are the queue's (pg-webhook-lanes.ts), told by the triggers: nobody listens here. */
  onAppended(): void {}
}

interface EndpointRow {
  readonly id: string;
  readonly client: string;
  readonly url: string;
  readonly secret: string;
  readonly created_at: Date;
  readonly disabled: DisabledReason | null;
}

const ENDPOINT_COLUMNS = 'id, client, url, secret, created_at, disabled';
const ADD: Statement = {
  name: 'webhook_endpoint_add',
  // Counted and inserted in one statement; registrations of one client racing on two instances may pass the limit
  // by the few that raced (it bounds floods, not a count to the unit).
  text: `INSERT INTO webhook_endpoints (id, client, url, secret)
         SELECT $1, $2, $3, $4 WHERE (SELECT count(*) FROM webhook_endpoints WHERE client = $2) < $5
         RETURNING ${ENDPOINT_COLUMNS}`,
};
const LIST: Statement = {
  name: 'webhook_endpoint_list',
  text: `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE client = $1 ORDER BY created_at, id`,
};
const REMOVE: Statement = {
  name: 'webhook_endpoint_remove',
  text: 'DELETE FROM webhook_endpoints WHERE client = $1 AND id = $2 RETURNING id',
};
const GET: Statement = {
  name: 'webhook_endpoint_get',
  text: `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1`,
};
const DISABLE: Statement = {
  name: 'webhook_endpoint_disable',
  // What was still owed to it goes with it: nothing more is sent, and the backlog's age does not count it.
  text: `WITH disabled AS (UPDATE webhook_endpoints SET disabled = $2 WHERE id = $1 AND disabled IS NULL RETURNING id),
         dropped AS (UPDATE event_deliveries d SET done_at = now(), outcome = 'dropped'
                       FROM disabled WHERE d.endpoint_id = disabled.id AND d.done_at IS NULL RETURNING 1)
         SELECT count(*)::int AS disabled FROM disabled`,
};

const endpointOfRow = (row: EndpointRow): WebhookEndpoint => ({
  id: row.id,
  client: row.client,
  url: row.url,
  secret: row.secret,
  createdAt: row.created_at,
  disabled: row.disabled ?? undefined,
});

export class PgEndpointBook implements EndpointBook {
  /**
   * `lookups`: where list and get go. `reads` where clients ask (GET /webhooks, and a POST's count of the client's
   * endpoints): the reads' own share, turned away busy rather than taking a connection the orders need. `pool` on the
   * delivery thread, whose Database serves nothing else.
   */
  constructor(
    private readonly db: Database,
    private readonly lookups: 'reads' | 'pool' = 'reads',
  ) {}

  async add(client: string, url: string, max: number): Promise<Added> {
    const [row] = await this.db.query<EndpointRow>(ADD, [newEndpointId(), client, url, newSigningSecret(), max]);
    return row ? { kind: 'added', endpoint: endpointOfRow(row) } : { kind: 'full' };
  }

  async list(client: string): Promise<WebhookEndpoint[]> {
    return (await this.lookup(LIST, [client], client)).map(endpointOfRow);
  }

  async remove(client: string, id: string): Promise<boolean> {
    return (await this.db.query(REMOVE, [client, id])).length > 0;
  }

  async get(id: string): Promise<WebhookEndpoint | undefined> {
    const [row] = await this.lookup(GET, [id]);
    return row ? endpointOfRow(row) : undefined;
  }

  /** `reader`: the client a read is for, whose share of the reads it takes. */
  private lookup(statement: Statement, values: readonly unknown[], reader?: string): Promise<EndpointRow[]> {
    return this.lookups === 'reads'
      ? this.db.read<EndpointRow>(statement, values, reader)
      : this.db.query<EndpointRow>(statement, values);
  }

  async disable(id: string, reason: DisabledReason): Promise<boolean> {
    const [row] = await this.db.query<{ disabled: number }>(DISABLE, [id, reason]);
    return (row?.disabled ?? 0) > 0;
  }
}
