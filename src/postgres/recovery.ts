/**
 * Recovery, as ordinary code run often: at start and every half lease, every
 * instance takes over the orders left `running` by an instance whose lease
 * has expired — and its own runs it could not finish (the database went away
 * under them) — voids their payments and records them `interrupted` (503 +
 * Retry-After: nothing of the order stands, a retry runs it afresh).
 * Backward recovery, not forward: by the time a lease has expired, the
 * order's deadline has long passed and its client has been answered or gone.
 *
 * Invariant: a run whose owner is gone is voided before it is recorded, by
 * exactly one recoverer — the claim (`FOR UPDATE SKIP LOCKED`, then the
 * owner set to the recoverer) splits the work, and the recoverer's own lease
 * then covers the run, so a recoverer dying half-way is recovered in turn.
 * The claim also raises the run's fence: a finish sent before it — by a
 * lost instance, or by this one, whose own runs it claims too — no longer
 * matches, and cannot record a success over the void that follows.
 * A run of a live instance is never touched: its finish would be fenced and
 * its caller answered `interrupted` for nothing.
 *
 * Every ten seconds it also forgets outcomes past their replay window (with
 * the provider's books of them, as the in-memory store does; up to 100,000
 * a pass, which outruns any rate this service reaches) and the rows of
 * instances long dead that own nothing.
 */
import type { Logger } from 'pino';
import { asNumber, unstoredKey, type Database, type Statement } from './database.js';
import type { RunsInDoubt } from './pg-ledger.js';
import type { PgOrderRecords } from './pg-order-records.js';
import { orderLogFields } from '../domain/order.js';

const CLAIM: Statement = {
  name: 'recovery_claim',
  text: `UPDATE orders o SET owner = $1, fence = o.fence + 1
          WHERE o.order_id IN (
            SELECT c.order_id FROM orders c
             WHERE c.state = 'running'
               AND (NOT EXISTS (SELECT 1 FROM instances i WHERE i.instance_id = c.owner AND i.lease_until > now())
                    OR (c.owner = $1 AND c.run <> ALL ($2::bigint[]) AND c.received_at < now() - $3 * interval '1 millisecond'))
             LIMIT $4 FOR UPDATE SKIP LOCKED)
            AND EXISTS (SELECT 1 FROM instances i WHERE i.instance_id = $1 AND i.lease_until > now())
          RETURNING o.order_id, o.run, o.runs, o.fence`,
};
const FORGET_EXPIRED: Statement = {
  name: 'recovery_forget_expired',
  text: `WITH gone AS (
           DELETE FROM orders WHERE order_id IN (
             SELECT order_id FROM orders WHERE state = 'done' AND replay_until < now() LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING order_id),
         books AS (DELETE FROM provider_payments p USING gone WHERE p.order_id = gone.order_id RETURNING 1)
         SELECT count(*)::int AS forgotten FROM gone`,
};
const FORGET_INSTANCES: Statement = {
  name: 'recovery_forget_instances',
  text: `DELETE FROM instances i WHERE i.lease_until < now() - interval '1 minute'
           AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.owner = i.instance_id AND o.state = 'running')`,
};
const COUNT: Statement = { name: 'recovery_count', text: 'SELECT count(*)::int AS n FROM orders' };

/** Orders taken over per statement. */
const BATCH = 100;
/** Outcomes forgotten per statement, and statements per housekeeping pass at most (the rest waits for the next). */
const FORGET_BATCH = 5000;
const FORGET_STATEMENTS = 20;
const HOUSEKEEPING_MS = 10_000;

export interface RecoveryOptions {
  readonly leaseMs: number;
  /** A run of this instance's own that it is not running is left alone for this long after it began (its begin may still be on its way). */
  readonly orphanAfterMs: number;
  readonly owner: () => string | undefined;
  readonly log: Logger;
}

export class Recovery {
  private timer: NodeJS.Timeout | undefined;
  private housekeeping: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  /** Orders this instance took over and recorded interrupted, since start. */
  recovered = 0;

  constructor(
    private readonly db: Database,
    private readonly records: PgOrderRecords,
    private readonly inDoubt: RunsInDoubt,
    private readonly options: RecoveryOptions,
  ) {}

  /** One pass now (what a start finds), then every half lease, with jitter so instances do not move in step. */
  async start(): Promise<void> {
    await this.runOnce();
    await this.keepHouse();
    const next = (): void => {
      this.timer = setTimeout(() => void this.runOnce().finally(next), (this.options.leaseMs / 2) * (0.75 + Math.random() / 2));
      this.timer.unref();
    };
    next();
    this.housekeeping = setInterval(() => void this.keepHouse(), HOUSEKEEPING_MS);
    this.housekeeping.unref();
  }

  stop(): Promise<void> {
    clearTimeout(this.timer);
    clearInterval(this.housekeeping);
    return this.pass ?? Promise.resolve();
  }

  /** Take over every order that needs it now (counted in `recovered`). Never rejects: the next pass tries again. */
  runOnce(): Promise<void> {
    this.pass ??= this.takeOver().finally(() => (this.pass = undefined));
    return this.pass;
  }

  private async takeOver(): Promise<void> {
    try {
      for (;;) {
        const me = this.options.owner();
        if (!me) return;
        const claimed = await this.db.query<{ order_id: string; run: string; runs: number; fence: number }>(CLAIM, [me, this.records.localRuns(), this.options.orphanAfterMs, BATCH]);
        for (const row of claimed) {
          const key = unstoredKey(row.order_id);
          const run = asNumber(row.run);
          const kind = await this.records.interrupt(key, run, me, row.fence);
          this.inDoubt.take({ order: key, run });
          if (kind === 'interrupted') this.recovered++;
          // `runs` as GET /orders/{id} counts them; `run_key`: the run's key at the payment provider (a number drawn from a sequence).
          this.options.log.warn({ ...orderLogFields(key), runs: row.runs, run_key: run }, 'took over an order whose instance was lost: its payment voided, recorded interrupted');
        }
        if (claimed.length < BATCH) return;
      }
    } catch (error) {
      this.options.log.debug({ err: error }, 'recovery pass stopped; the next one tries again');
    }
  }

  private async keepHouse(): Promise<void> {
    try {
      for (let n = 0; n < FORGET_STATEMENTS; n++) {
        const [row] = await this.db.query<{ forgotten: number }>(FORGET_EXPIRED, [FORGET_BATCH]);
        if ((row?.forgotten ?? 0) < FORGET_BATCH) break;
      }
      await this.db.query(FORGET_INSTANCES);
      const [row] = await this.db.query<{ n: number }>(COUNT);
      this.records.counted = row?.n ?? 0;
    } catch {
      // Next time.
    }
  }
}
