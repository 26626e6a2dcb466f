/**
 * Recovery, as ordinary code run often: at start and every half lease, every
 * instance takes over the orders left `running` by an instance whose lease
 * has expired — and its own runs it could not finish (the database went away
 * under them). Forward where it can: a run whose own deadline (`deadline_ms`)
 * still leaves its steps time, with no cancel marked and its payment not
 * voided, is resumed here — this instance takes it as its own, under the
 * claim's fence, and its listener runs it on after its steps recorded ok
 * (order_steps), the others again under the same run, the provider's
 * idempotency key. Backward otherwise: its payment voided and recorded
 * `interrupted` (503 + Retry-After: nothing of the order stands, a retry runs
 * it afresh) — an order on the service's deadline has none left by the time
 * a lease has expired. A run claimed more than `recoveriesMax` times that
 * would be resumed is voided and parked `dead_lettered`, with its alarm line.
 *
 * Invariant: a run whose owner is gone is voided before it is recorded, by
 * exactly one recoverer — the claim (`FOR UPDATE SKIP LOCKED`, then the
 * owner set to the recoverer) splits the work, and the recoverer's own lease
 * then covers the run, so a recoverer dying half-way is recovered in turn.
 * The claim also raises the run's fence: a finish sent before it — by a
 * lost instance, or by this one, whose own runs it claims too — no longer
 * matches, and cannot record a success over the void that follows.
 * A run of a live instance is never touched: its finish would be fenced and
 * its caller answered `interrupted` for nothing. Nor is a run this instance
 * still runs under an identity it gave up: that run ends here and is
 * recorded under that identity (its owner on record still), its undo not
 * fenced; claimed by the new identity, it would be recorded by the run under
 * way here as the new identity's, after its undo was refused as a lost
 * instance's late word — its money kept under an outcome that holds none.
 *
 * The claim also records, for the run's timeline, each of its steps whose
 * end the lost instance did not record: under way there when it was lost
 * (or ended unrecorded), in the same transaction as the claim — an order on
 * the service's deadline, whose steps are never recorded, shows all three.
 *
 * A claimed run a cancel was marked on is voided and recorded canceled.
 * Each pass also tells this instance of its own runs a cancel was marked
 * on (the NOTIFY that told it may have been lost while it reconnected).
 *
 * Each pass also raises the alarms nobody raised: a run recorded
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
import { orderLogFields, STEP_NAMES, type Order, type OrderKey } from '../domain/order.js';
import type { Resumption, UnraisedAlarm } from '../orders/order-records.js';
import type { OrderResult } from '../pipeline/order-pipeline.js';
import type { StepOutcome } from '../pipeline/steps.js';

/**
 * The claim, and in its transaction an attempt on the lost instance of each of the run's steps whose end it recorded
 * not (`lost`: from the run's start — or from the claim before, which resumed it there — to this claim, its thread
 * unknown): what the run's timeline keeps of them.
 *
 * A run of this instance's own is claimed only if it is not among the runs it knows it runs ($2) and began more than
 * $3 ago: the list is read before the statement, so a run begun or redriven as it is sent is not on it yet. Began: the
 * run's start, not the order's receipt, since a redriven run is new on an order received long ago.
 */
const CLAIM: Statement = {
  name: 'recovery_claim',
  text: `WITH claimed AS (
           UPDATE orders o SET owner = $1, fence = o.fence + 1, recoveries = o.recoveries + 1
             FROM (SELECT c.order_id, c.owner AS lost_owner FROM orders c
                    WHERE c.state = 'running' AND c.run <> ALL ($2::bigint[])
                      AND (NOT EXISTS (SELECT 1 FROM instances i WHERE i.instance_id = c.owner AND i.lease_until > now())
                           OR (c.owner = $1 AND order_run_started_at(c) < now() - $3 * interval '1 millisecond'))
                    LIMIT $4 FOR UPDATE SKIP LOCKED) c
            WHERE o.order_id = c.order_id
              AND EXISTS (SELECT 1 FROM instances i WHERE i.instance_id = $1 AND i.lease_until > now())
            RETURNING o.order_id, o.run, o.runs, o.fence, o.cancel_requested, o.fingerprint, o.request, o.recoveries,
                      floor(extract(epoch FROM o.deadline_at - now()) * 1000)::bigint AS deadline_left_ms,
                      EXISTS (SELECT 1 FROM provider_payments p WHERE p.order_id = o.order_id AND p.run = o.run AND p.voided)
                        AS voided,
                      c.lost_owner, order_run_started_at(o.*) AS run_started_at),
         lost AS (
           INSERT INTO order_step_tries (order_id, run, step, attempt, thread, instance, started_at, ended_at, outcome)
           SELECT c.order_id, c.run, lost_step.name, c.recoveries, NULL, c.lost_owner,
                  coalesce((SELECT max(t.ended_at) FROM order_step_tries t
                             WHERE t.order_id = c.order_id AND t.run = c.run AND t.step = lost_step.name
                               AND t.outcome = 'lost'), c.run_started_at),
                  now(), 'lost'
             FROM claimed c CROSS JOIN unnest($5::text[]) AS lost_step(name)
            WHERE c.lost_owner IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM order_steps s
                               WHERE s.order_id = c.order_id AND s.run = c.run AND s.step = lost_step.name))
         SELECT order_id, run, runs, fence, cancel_requested, fingerprint, request, recoveries, deadline_left_ms, voided
           FROM claimed`,
};
const STEPS_RECORDED_OK: Statement = {
  name: 'recovery_steps_recorded_ok',
  text: `SELECT order_id, run, result FROM order_steps WHERE order_id = ANY($1::text[]) AND outcome = 'ok'`,
};

interface ClaimedRow {
  readonly order_id: string;
  readonly run: string;
  readonly runs: number;
  readonly fence: number;
  readonly cancel_requested: boolean;
  readonly fingerprint: string;
  /** The order as asked for (JSON): kept only for one with its own deadline. */
  readonly request: string | null;
  readonly recoveries: number;
  readonly deadline_left_ms: string | null;
  /** The run's payment was voided already (its instance undid it before it was lost): it cannot charge again. */
  readonly voided: boolean;
}

/** The alarm's words for an order parked after too many takeovers: what people and scripts look for. */
const DEAD_LETTER_ALARM =
  'order dead-lettered: its instances were lost more than ORDER_RECOVERIES_MAX times while it ran; its payment voided, a person must look';
/** The line of a run taken over and voided, by the outcome the pass recorded. */
const VOIDED: Readonly<Record<'interrupted' | 'canceled', string>> = {
  interrupted: 'took over an order whose instance was lost: its payment voided, recorded interrupted',
  canceled: 'took over an order whose instance was lost, a cancel marked on it: its payment voided, recorded canceled',
};
/** The finish answered another outcome than the one the pass tried to record: `outcome` says which. */
const VOIDED_NOT_RECORDED = 'took over an order whose instance was lost, and found another outcome on record';

/** A run with less of its deadline left than this is not resumed: its steps would not have the time to run. */
const RESUME_MIN_LEFT_MS = 1000;
const CANCELS_MISSED: Statement = {
  name: 'recovery_cancels_missed',
  text: `SELECT order_id FROM orders WHERE owner = $1 AND state = 'running' AND cancel_requested`,
};
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
const FORGET_EXPIRED: Statement = {
  name: 'recovery_forget_expired',
  text: `WITH gone AS (
           DELETE FROM orders WHERE order_id IN (
             SELECT order_id FROM orders WHERE state = 'done' AND replay_until < now()
                AND NOT (kind = 'compensation_failed' AND alarm_raised_at IS NULL)
              LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING order_id),
         books AS (DELETE FROM provider_payments p USING gone WHERE p.order_id = gone.order_id RETURNING 1),
         steps AS (DELETE FROM order_steps s USING gone WHERE s.order_id = gone.order_id RETURNING 1),
         tries AS (DELETE FROM order_step_tries t USING gone WHERE t.order_id = gone.order_id RETURNING 1)
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
  /**
   * A run of this instance's own that it is not running is left alone for this long after it began (its begin may still
   * be on its way).
   */
  readonly orphanAfterMs: number;
  readonly owner: () => string | undefined;
  /** Takeovers of a run after which it is no longer resumed (ORDER_RECOVERIES_MAX). */
  readonly recoveriesMax: number;
  readonly log: Logger;
}

export class Recovery {
  private timer: NodeJS.Timeout | undefined;
  private housekeeping: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  /** Who writes the line of an alarm nobody raised; with no one to write it, no alarm is claimed. */
  private readonly alarmListeners: Array<(alarm: UnraisedAlarm) => void> = [];
  private readonly cancelListeners: Array<(key: OrderKey) => void> = [];
  private readonly resumeListeners: Array<(resumption: Resumption) => void> = [];
  /** Orders this instance took over and voided (recorded interrupted, canceled or dead_lettered), since start. */
  recovered = 0;
  /** Orders this instance took over and resumed, since start. */
  resumedRuns = 0;
  /** Orders this instance took over and parked dead_lettered, since start (each with its alarm). */
  deadLettered = 0;

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
      this.timer = setTimeout(
        () => void this.runOnce().finally(next),
        (this.options.leaseMs / 2) * (0.75 + Math.random() / 2),
      );
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

  /** Told of each alarm this instance's recovery raises for a lost one: it writes the line (synchronously). */
  onUnraisedAlarm(listener: (alarm: UnraisedAlarm) => void): void {
    this.alarmListeners.push(listener);
  }

  /**
   * Take over every order that needs it now (counted in `recovered`), and raise the alarms nobody raised. Never
   * rejects: the next pass tries again.
   */
  runOnce(): Promise<void> {
    this.pass ??= this.takeOver()
      .then(() => this.cancelMissed())
      .then(() => this.raiseAlarms())
      .finally(() => (this.pass = undefined));
    return this.pass;
  }

  private async takeOver(): Promise<void> {
    try {
      for (;;) {
        const me = this.options.owner();
        if (!me) return;
        const claimed = await this.db.query<ClaimedRow>(CLAIM, [
          me,
          this.records.localRuns(),
          this.options.orphanAfterMs,
          BATCH,
          STEP_NAMES,
        ]);
        const resumed = claimed.filter((row) => this.resumes(row));
        const finished = await this.stepsRecordedOk(resumed);
        for (const row of claimed) {
          const key = unstoredKey(row.order_id);
          const run = asNumber(row.run);
          if (resumed.includes(row)) {
            this.resume(row, key, run, me, finished.get(`${run}\u0000${row.order_id}`) ?? []);
            continue;
          }
          // A run a cancel was marked on ends canceled: voided all the same, never resumed. One that would be resumed
          // but for its takeovers so far is parked for a person.
          const ending = row.cancel_requested ? 'canceled' : this.exhausted(row) ? 'dead_lettered' : 'interrupted';
          const kind = await this.records.interrupt(key, run, me, row.fence, ending);
          this.inDoubt.take({ order: key, run });
          if (kind === ending) this.recovered++;
          if (kind === 'dead_lettered') {
            this.deadLettered++;
            this.options.log.error(
              { ...orderLogFields(key), runs: row.runs, run_key: run, recoveries: row.recoveries },
              DEAD_LETTER_ALARM,
            );
            continue;
          }
          // `runs` as GET /orders/{id} counts them; `run_key`: the run's key at the payment provider (a number drawn
          // from a sequence); `outcome`: what its records hold for the run, as the finish answered.
          this.options.log.warn(
            { ...orderLogFields(key), runs: row.runs, run_key: run, outcome: kind },
            kind === ending ? VOIDED[ending] : VOIDED_NOT_RECORDED,
          );
        }
        if (claimed.length < BATCH) return;
      }
    } catch (error) {
      this.options.log.debug({ err: error }, 'recovery pass stopped; the next one tries again');
    }
  }

  /** Told of each run taken over to be resumed here; without a listener, every run taken over is voided. */
  onResumable(listener: (resumption: Resumption) => void): void {
    this.resumeListeners.push(listener);
  }

  /**
   * A run is resumed while its deadline leaves its steps time to run, it has not been taken over more than
   * `recoveriesMax` times, no cancel was marked on it, and its payment was not voided (an instance that gave up its
   * lease undoes what its runs did: the provider refuses the run's charge from then on).
   */
  private resumes(row: ClaimedRow): boolean {
    return this.couldResume(row) && row.recoveries <= this.options.recoveriesMax;
  }

  /** A run that would be resumed but for having been taken over more than `recoveriesMax` times: it is parked. */
  private exhausted(row: ClaimedRow): boolean {
    return this.couldResume(row) && row.recoveries > this.options.recoveriesMax;
  }

  private couldResume(row: ClaimedRow): boolean {
    return (
      this.resumeListeners.length > 0 &&
      !row.cancel_requested &&
      !row.voided &&
      row.request !== null &&
      row.deadline_left_ms !== null &&
      asNumber(row.deadline_left_ms) >= RESUME_MIN_LEFT_MS
    );
  }

  /** The steps recorded ok of each run to resume, by run and order. */
  private async stepsRecordedOk(rows: readonly ClaimedRow[]): Promise<Map<string, StepOutcome[]>> {
    const byRun = new Map<string, StepOutcome[]>();
    if (rows.length === 0) return byRun;
    const current = new Set(rows.map((row) => `${asNumber(row.run)}\u0000${row.order_id}`));
    const recorded = await this.db.query<{ order_id: string; run: string; result: string }>(STEPS_RECORDED_OK, [
      rows.map((row) => row.order_id),
    ]);
    for (const row of recorded) {
      const at = `${asNumber(row.run)}\u0000${row.order_id}`;
      // Steps of the order's earlier runs are not this run's.
      if (!current.has(at)) continue;
      const steps = byRun.get(at) ?? [];
      steps.push(JSON.parse(row.result) as StepOutcome);
      byRun.set(at, steps);
    }
    return byRun;
  }

  /**
   * This instance runs the claimed run on from now on, under the fence its claim set: it is this instance's as its own
   * runs are (its own recovery leaves it alone), and no finish from before the claim can record it.
   */
  private resume(row: ClaimedRow, key: OrderKey, run: number, me: string, finished: readonly StepOutcome[]): void {
    this.records.adopt(run, me, row.fence);
    // What the provider did for the run is known again: the run charges under the same key, and the provider keeps one.
    this.inDoubt.take({ order: key, run });
    const order = { ...(JSON.parse(row.request!) as Order), deadlineMs: asNumber(row.deadline_left_ms!) };
    this.resumedRuns++;
    this.options.log.warn(
      { ...orderLogFields(key), runs: row.runs, run_key: run, recoveries: row.recoveries, steps_done: finished.length },
      'took over an order whose instance was lost: resumed after its recorded steps',
    );
    for (const listener of this.resumeListeners) listener({ key, run, fingerprint: row.fingerprint, order, finished });
  }

  /** Told of each run of this instance's a cancel was marked on (the NOTIFY may have been lost): it cancels it. */
  onCancelMissed(listener: (key: OrderKey) => void): void {
    this.cancelListeners.push(listener);
  }

  /** This instance's runs a cancel was marked on: told again, in case the notification was lost. */
  private async cancelMissed(): Promise<void> {
    const me = this.options.owner();
    if (!me || this.cancelListeners.length === 0) return;
    try {
      const rows = await this.db.query<{ order_id: string }>(CANCELS_MISSED, [me]);
      for (const row of rows) for (const listener of this.cancelListeners) listener(unstoredKey(row.order_id));
    } catch {
      // The next pass looks again.
    }
  }

  private async raiseAlarms(): Promise<void> {
    try {
      await this.records.markRaisedAlarms();
      if (this.alarmListeners.length === 0) return;
      for (;;) {
        const me = this.options.owner();
        if (!me) return;
        const claimed = await this.db.query<{
          order_id: string;
          run: string;
          replay: string | null;
          charged: string;
          refunded: string;
        }>(CLAIM_ALARMS, [me, BATCH]);
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
          for (const listener of this.alarmListeners) listener(alarm);
          // Marked only once its line is written: a death in between leaves it to be raised again.
          this.records.noteAlarmRaised(key, run);
        }
        await this.records.markRaisedAlarms();
        if (claimed.length < BATCH) return;
      }
    } catch (error) {
      this.options.log.debug({ err: error }, 'raising the alarms nobody raised stopped; the next pass tries again');
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
