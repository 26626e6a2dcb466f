/**
 * The alarms nobody raised, raised by each pass of recovery: a run recorded
 * compensation_failed whose `alarm_by` — the instance that finished it, or
 * a recoverer that claimed its alarm before — no longer holds a lease, and
 * whose alarm was never marked raised (its instance died between the
 * outcome's commit and its line, or before it could mark it). The claim
 * (`FOR UPDATE SKIP LOCKED`, `alarm_by` set to the recoverer) gives each
 * such alarm to one recoverer, whose own lease then covers it; the line is
 * written, then marked raised. A recoverer dying in between leaves it to the
 * next: at least once, and once unless an instance dies mid-way. A run
 * recovery voided is recorded interrupted, never compensation_failed, so it
 * raises no alarm.
 */
import type { Logger } from 'pino';
import { asNumber, unstoredKey, type Database, type Statement } from './database.js';
import type { PgOrderRecords } from './pg-order-records.js';
import type { UnraisedAlarm } from '../orders/order-records.js';
import type { OrderResult } from '../pipeline/order-pipeline.js';

const CLAIM_ALARMS: Statement = {
  name: 'recovery_claim_alarms',
  text: `WITH claimed AS (
           UPDATE orders o SET alarm_by = $1
            WHERE o.order_id IN (
              SELECT c.order_id FROM orders c
               WHERE c.kind = 'compensation_failed' AND c.alarm_raised_at IS NULL
                 AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.instance_id = c.alarm_by AND i.lease_until > now())
               LIMIT $2 FOR UPDATE SKIP LOCKED)
              AND EXISTS (SELECT 1 FROM instances i WHERE i.instance_id = $1 AND i.lease_until > now())
            RETURNING o.order_id, o.run, o.replay)
         SELECT c.order_id, c.run, c.replay, coalesce(p.charged, 0) AS charged, coalesce(p.refunded, 0) AS refunded
           FROM claimed c LEFT JOIN provider_payments p ON p.order_id = c.order_id AND p.run = c.run`,
};

/** Alarms claimed per statement. */
const ALARMS_BATCH = 100;

export class UnraisedAlarms {
  /** Who writes the line of an alarm nobody raised; with no one to write it, no alarm is claimed. */
  private readonly listeners: Array<(alarm: UnraisedAlarm) => void> = [];

  constructor(
    private readonly db: Database,
    private readonly records: PgOrderRecords,
    private readonly log: Logger,
  ) {}

  /** Told of each alarm raised here for a lost instance: it writes the line (synchronously). */
  onAlarm(listener: (alarm: UnraisedAlarm) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Mark raised the alarms written here, then claim and write those nobody raised while `owner` holds a lease and
   * `claiming` says it still takes work over. Never rejects: the next pass tries again.
   */
  async raise(owner: () => string | undefined, claiming: () => boolean): Promise<void> {
    try {
      await this.records.markRaisedAlarms();
      if (this.listeners.length === 0) return;
      for (;;) {
        const me = owner();
        if (!me || !claiming()) return;
        const claimed = await this.db.query<{
          order_id: string;
          run: string;
          replay: string | null;
          charged: string;
          refunded: string;
        }>(CLAIM_ALARMS, [me, ALARMS_BATCH]);
        for (const row of claimed) {
          const key = unstoredKey(row.order_id);
          const run = asNumber(row.run);
          const compensations = row.replay === null ? [] : (JSON.parse(row.replay) as OrderResult).compensations;
          const alarm: UnraisedAlarm = {
            key,
            run,
            charged: asNumber(row.charged),
            refunded: asNumber(row.refunded),
            compensations,
          };
          for (const listener of this.listeners) listener(alarm);
          // Marked only once its line is written: a death in between leaves it to be raised again.
          this.records.noteAlarmRaised(key, run);
        }
        await this.records.markRaisedAlarms();
        if (claimed.length < ALARMS_BATCH) return;
      }
    } catch (error) {
      this.log.debug({ err: error }, 'raising the alarms nobody raised stopped; the next pass tries again');
    }
  }
}
