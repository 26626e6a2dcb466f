/**
 * Each client's share of the deliveries owed in the durable mode,
 * as in memory (src/events/webhook-relay.ts): EVENTS_MAX deliveries owed at
 * most, shared between the clients by src/fairness/held-shares.ts — floors by
 * weight, a newcomer's kept free. A client whose endpoints all fail at its
 * rate limit otherwise owed 1,000 more rows a second, each retried for the
 * retry window (three days), and the queue they filled held up every other
 * client's deliveries.
 *
 * The rows are written by the statement that records the event
 * (schema.ts, `events_emit`), in the order's own transaction: counting a
 * client's owed rows there would cost every order a count, or a row of
 * counts every transaction of the client writes to (a lock its batches would
 * queue on). So the bound is kept beside it, on the delivery thread: every
 * TRIM_EVERY_MS each client's owed rows are counted, its share of them found,
 * and what a client owes beyond its share is let go — its newest deliveries,
 * as in memory a delivery beyond the share is dropped as it comes — their
 * rows deleted, the events kept (GET /events still has them). A client may
 * pass its share by what it owes in one TRIM_EVERY_MS, never for longer.
 * Every instance trims: the statement ranks and deletes in one snapshot, so
 * two at once delete each row once, and each counts what it deleted.
 *
 * An order whose every owed row was let go has nothing left to deliver, but
 * its job would wait out its retry and then be claimed, read and completed
 * for nothing, in its order's named queue until it parks (which every claim,
 * any client's, locks: pg-webhook-lanes.ts, PARK_FROM_MS). A flood's let-go
 * orders are many — in the failing-endpoints test beside two busy loops, 220
 * jobs waiting where its share covered 30 orders — so their jobs go with their
 * rows (LET_GO_JOBS).
 */
import type { Logger } from 'pino';
import type { DeliveryCounts } from '../events/delivery-counts.js';
import { DroppedDeliveries } from '../events/dropped-deliveries.js';
import { HeldShares } from '../fairness/held-shares.js';
import type { Database, Statement } from './database.js';

/** How often owed rows are counted, and trimmed to each client's share. */
const TRIM_EVERY_MS = 1000;

/** The client of a delivery row: its order's stored key is `client:order` (a client name has no colon). */
const CLIENT_OF_ROW = "split_part(d.order_id, ':', 1)";

const OWED_BY_CLIENT: Statement = {
  name: 'webhook_owed_by_client',
  text: `SELECT ${CLIENT_OF_ROW} AS client, count(*)::int AS owed
           FROM event_deliveries d WHERE d.done_at IS NULL GROUP BY 1`,
};

/** Each named client's owed rows beyond the oldest `room`, deleted: its newest. */
const TRIM: Statement = {
  name: 'webhook_owed_trim',
  text: `WITH room AS (SELECT * FROM unnest($1::text[], $2::int[]) AS room (client, kept)),
         ranked AS (
           SELECT d.endpoint_id, d.event_seq, ${CLIENT_OF_ROW} AS client,
                  row_number() OVER (PARTITION BY ${CLIENT_OF_ROW} ORDER BY d.event_seq) AS n
             FROM event_deliveries d
            WHERE d.done_at IS NULL AND ${CLIENT_OF_ROW} = ANY ($1::text[]))
         DELETE FROM event_deliveries d USING ranked r JOIN room ON room.client = r.client
          WHERE d.endpoint_id = r.endpoint_id AND d.event_seq = r.event_seq AND r.n > room.kept
          RETURNING r.client, d.order_id`,
};

/**
 * The waiting jobs of orders (by stored key) that owe nothing now, deleted. An event written meanwhile for one of them
 * (a late refund) replaces its job in its own transaction, which bumps the job's revision: the delete, matching the
 * revision it read, passes over that job, whether the event committed before it reached the row or while it waited
 * for the row's lock. A job running is left to end by itself: it finds nothing owed.
 */
const LET_GO_JOBS: Statement = {
  name: 'webhook_let_go_jobs',
  text: `WITH idle AS (
           SELECT j.id, j.revision FROM graphile_worker._private_jobs j
            WHERE j.key IN (SELECT 'webhook:' || o FROM unnest($1::text[]) AS o)
              AND j.locked_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.order_id = substr(j.key, 9) AND d.done_at IS NULL))
         DELETE FROM graphile_worker._private_jobs j USING idle
          WHERE j.id = idle.id AND j.revision = idle.revision AND j.locked_at IS NULL`,
};

export class OwedDeliveries {
  private readonly shares: HeldShares;
  private readonly dropped: DroppedDeliveries;
  private timer: NodeJS.Timeout | undefined;
  private trimming = false;

  constructor(
    private readonly db: Database,
    /** EVENTS_MAX. */
    capacity: number,
    weights: ReadonlyMap<string, number>,
    log: Logger,
    /** Where `webhook_deliveries_total{outcome="dropped"}` is counted. */
    private readonly counts: DeliveryCounts,
  ) {
    this.shares = new HeldShares(capacity, weights);
    this.dropped = new DroppedDeliveries(log);
  }

  start(): void {
    this.timer = setInterval(() => void this.trim(), TRIM_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Deliveries this instance let go, by client, since start. */
  droppedByClient(): Record<string, number> {
    return this.dropped.byClient();
  }

  /** Count, and let go of what each client owes beyond its share. A lost Postgres: tried again at the next tick. */
  async trim(): Promise<void> {
    if (this.trimming) return;
    this.trimming = true;
    try {
      const rows = await this.db.query<{ client: string; owed: number }>(OWED_BY_CLIENT);
      this.shares.recount(new Map(rows.map(({ client, owed }) => [client, owed])));
      const over = rows
        .map(({ client, owed }) => ({ client, owed, room: this.shares.room(client) }))
        .filter(({ owed, room }) => owed > room);
      if (over.length === 0) return;
      const deleted = await this.db.query<{ client: string; order_id: string }>(TRIM, [
        over.map(({ client }) => client),
        over.map(({ room }) => room),
      ]);
      const byClient = new Map<string, number>();
      for (const { client } of deleted) byClient.set(client, (byClient.get(client) ?? 0) + 1);
      for (const { client, room } of over) {
        const count = byClient.get(client) ?? 0;
        if (count === 0) continue;
        this.dropped.dropped(client, count, room);
        this.counts.attempted('dropped', count);
      }
      if (deleted.length > 0) await this.db.query(LET_GO_JOBS, [[...new Set(deleted.map(({ order_id }) => order_id))]]);
    } catch {
      // Postgres away or busy: the bound is kept again at the next tick.
    } finally {
      this.trimming = false;
    }
  }
}
