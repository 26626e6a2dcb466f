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
 * A run handed over by an instance stopping gracefully (./pg-hand-over.ts)
 * is taken over so too, at once: on the hand-over's notification, whatever
 * that instance's lease. From its own drain's start, an instance claims none.
 *
 * A run is resumed only in room this instance has: the runner (the order
 * desk) admits it as a new order and counts it before it is claimed
 * (src/orders/takeover-rooms.ts). One with no room stays claimable, for the
 * pass that comes as soon as a run here ends, or for an instance with room.
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
 * on (the NOTIFY that told it may have been lost while it reconnected),
 * raises the alarms nobody raised (./unraised-alarms.ts), and every ten
 * seconds it keeps house (./housekeeping.ts).
 */
import type { Logger } from 'pino';
import { HOUSEKEEPING_MS, keepHouse } from './housekeeping.js';
import { UnraisedAlarms } from './unraised-alarms.js';
import { asNumber, unstoredKey, type Database, type Statement } from './database.js';
import { CANDIDATES, CLAIM, lossesOf, stepsRecordedOk, whoseOf, type ClaimedRow } from './takeover-claims.js';
import type { RunsInDoubt } from './pg-ledger.js';
import type { PgOrderRecords } from './pg-order-records.js';
import { orderLogFields, STEP_NAMES, type Order, type OrderKey } from '../domain/order.js';
import type { UnraisedAlarm } from '../orders/order-records.js';
import type { TakeoverRoom, TakeoverRunner } from '../orders/takeover-rooms.js';
import type { Tier } from '../domain/tier.js';
import type { StepOutcome } from '../pipeline/steps.js';

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

/** Orders taken over per statement. */
const BATCH = 100;

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
  /** A pass was asked for while one was under way: another follows it. */
  private again = false;
  /** Passes are run from start() to stop() only: before, nobody may be there yet to resume what a pass takes over. */
  private started = false;
  private stopped = false;
  /** Whether this instance takes runs over (and alarms) at all: not once its drain has begun. */
  private claiming = true;
  /**
   * The last look found runs to resume that this instance had no room for: they wait, claimable, and a pass follows as
   * soon as room frees here, not only at the next tick.
   */
  private waitingForRoom = false;
  private readonly alarms: UnraisedAlarms;
  private readonly cancelListeners: Array<(key: OrderKey) => void> = [];
  /** Who runs the runs resumed here, and gives them room; without one, every run taken over is voided. */
  private runner: TakeoverRunner | undefined;
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
  ) {
    this.alarms = new UnraisedAlarms(db, records, options.log);
  }

  /** One pass now (what a start finds), then every half lease, with jitter so instances do not move in step. */
  async start(): Promise<void> {
    this.started = true;
    await this.runOnce();
    await keepHouse(this.db, this.records);
    const next = (): void => {
      this.timer = setTimeout(
        () => void this.runOnce().finally(next),
        (this.options.leaseMs / 2) * (0.75 + Math.random() / 2),
      );
      this.timer.unref();
    };
    next();
    this.housekeeping = setInterval(() => void keepHouse(this.db, this.records), HOUSEKEEPING_MS);
    this.housekeeping.unref();
  }

  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.housekeeping);
    return this.pass ?? Promise.resolve();
  }

  /**
   * Claim nothing from now on — no run, no alarm — the drain has begun: a run taken over by a stopping instance would
   * be stopped again in its drain, or not at all. Passes go on telling this instance of cancels marked on its own runs.
   * Resolves once a pass under way has ended, what it took over handed to the runner.
   */
  stopClaiming(): Promise<void> {
    this.claiming = false;
    return this.pass ?? Promise.resolve();
  }

  /** Runs were handed over by an instance that stops (or may have been, unheard: the notifications reconnected). */
  lookNow(): void {
    if (this.claiming) this.soon();
  }

  /** Told of each alarm this instance's recovery raises for a lost one: it writes the line (synchronously). */
  onUnraisedAlarm(listener: (alarm: UnraisedAlarm) => void): void {
    this.alarms.onAlarm(listener);
  }

  /**
   * Take over every order that needs it now (counted in `recovered`), and raise the alarms nobody raised. Never
   * rejects: the next pass tries again.
   */
  runOnce(): Promise<void> {
    this.pass ??= this.takeOver()
      .then(() => this.cancelMissed())
      .then(() => this.alarms.raise(this.options.owner, () => this.claiming))
      .finally(() => {
        this.pass = undefined;
        if (this.again) {
          this.again = false;
          this.soon();
        }
      });
    return this.pass;
  }

  /** A pass now, or right after the one under way (which may have looked before what asks for it). */
  private soon(): void {
    if (!this.started || this.stopped) return;
    if (this.pass) this.again = true;
    else void this.runOnce();
  }

  private async takeOver(): Promise<void> {
    try {
      for (;;) {
        const me = this.options.owner();
        if (!me || !this.claiming) return;
        const settled = await this.settleLost(me);
        const resumed = await this.resumeLost(me);
        if (settled < BATCH && !resumed) return;
      }
    } catch (error) {
      this.options.log.debug({ err: error }, 'recovery pass stopped; the next one tries again');
    }
  }

  /** The claim's parameters but the last three: which runs, how many, and the names of the steps. */
  private claimParameters(me: string): unknown[] {
    const { orphanAfterMs, recoveriesMax } = this.options;
    return [me, this.records.localRuns(), orphanAfterMs, this.runner !== undefined, recoveriesMax, RESUME_MIN_LEFT_MS];
  }

  /**
   * Claim up to BATCH lost runs that are not to be resumed, and settle each backward: voided, then recorded. They run
   * nothing here, so they need no room. How many were claimed.
   */
  private async settleLost(me: string): Promise<number> {
    const claimed = await this.db.query<ClaimedRow>(CLAIM, [
      ...this.claimParameters(me),
      BATCH,
      false,
      null,
      STEP_NAMES,
    ]);
    for (const row of claimed) await this.settle(row, me);
    return claimed.length;
  }

  /**
   * Resume the lost runs this instance has room for, earliest deadline first: room is given to each before it is
   * claimed (the runner admits it as it would a new order, and counts it), and only those given room are claimed. A run
   * given none stays claimable, for this instance once room frees or for another. Whether a full batch was claimed
   * (there may be more).
   */
  private async resumeLost(me: string): Promise<boolean> {
    const { runner } = this;
    if (!runner || !this.claiming) return false;
    const room = Math.min(BATCH, runner.room());
    // Full here: nothing is read, and whatever waited still waits.
    if (room <= 0) return false;
    const candidates = await this.db.query<{ order_id: string; tier: Tier | null }>(CANDIDATES, [
      ...this.claimParameters(me),
      room,
    ]);
    const rooms = new Map<string, TakeoverRoom>();
    for (const candidate of candidates) {
      const given = runner.roomFor({ key: unstoredKey(candidate.order_id), tier: candidate.tier ?? undefined });
      if (given) rooms.set(candidate.order_id, given);
    }
    this.waitingForRoom = candidates.length === room || rooms.size < candidates.length;
    if (rooms.size === 0) return false;
    try {
      const claimed = await this.db.query<ClaimedRow>(CLAIM, [
        ...this.claimParameters(me),
        rooms.size,
        true,
        [...rooms.keys()],
        STEP_NAMES,
      ]);
      const finished = await stepsRecordedOk(
        this.db,
        claimed.filter((row) => this.resumes(row)),
      );
      for (const row of claimed) {
        const given = rooms.get(row.order_id)!;
        rooms.delete(row.order_id);
        const run = asNumber(row.run);
        if (this.resumes(row)) this.resume(row, me, finished.get(`${run}\u0000${row.order_id}`) ?? [], given);
        else {
          // Changed between the look and the claim (a cancel marked, its deadline too near): settled, not run here.
          given.release();
          await this.settle(row, me);
        }
      }
      return claimed.length === BATCH;
    } finally {
      // Not claimed after all (another instance took it, or it ended meanwhile), or left unrun by a failure: its room
      // is free again.
      for (const given of rooms.values()) given.release();
    }
  }

  /**
   * A claimed run that is not resumed: voided, then recorded — canceled if a cancel was marked on it, parked
   * dead_lettered if it would be resumed but for its takeovers so far, interrupted otherwise.
   */
  private async settle(row: ClaimedRow, me: string): Promise<void> {
    const key = unstoredKey(row.order_id);
    const run = asNumber(row.run);
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
      return;
    }
    // `runs` as GET /orders/{id} counts them; `run_key`: the run's key at the payment provider (a number drawn from a
    // sequence); `outcome`: what its records hold for the run, as the finish answered.
    this.options.log.warn(
      { ...orderLogFields(key), runs: row.runs, run_key: run, outcome: kind },
      kind === ending ? VOIDED[ending] : VOIDED_NOT_RECORDED,
    );
  }

  /**
   * Who runs the runs taken over here to be resumed, and gives each room before it is claimed; without one, every run
   * taken over is voided. Room freeing here brings the next pass forward while runs wait for it.
   */
  resumeWith(runner: TakeoverRunner): void {
    this.runner = runner;
    runner.onRoomFreed(() => {
      if (this.waitingForRoom && this.claiming) this.soon();
    });
  }

  /**
   * A run is resumed while its deadline leaves its steps time to run, it has not been taken over more than
   * `recoveriesMax` times, no cancel was marked on it, and its payment was not voided (an instance that gave up its
   * lease undoes what its runs did: the provider refuses the run's charge from then on).
   */
  private resumes(row: ClaimedRow): boolean {
    return this.couldResume(row) && lossesOf(row) <= this.options.recoveriesMax;
  }

  /** A run that would be resumed but for having been taken over more than `recoveriesMax` times: it is parked. */
  private exhausted(row: ClaimedRow): boolean {
    return this.couldResume(row) && lossesOf(row) > this.options.recoveriesMax;
  }

  private couldResume(row: ClaimedRow): boolean {
    return (
      this.runner !== undefined &&
      !row.cancel_requested &&
      !row.voided &&
      row.request !== null &&
      row.deadline_left_ms !== null &&
      asNumber(row.deadline_left_ms) >= RESUME_MIN_LEFT_MS
    );
  }

  /**
   * This instance runs the claimed run on from now on, under the fence its claim set, in the room given for it: it is
   * this instance's as its own runs are (its own recovery leaves it alone), and no finish from before the claim can
   * record it.
   */
  private resume(row: ClaimedRow, me: string, finished: readonly StepOutcome[], room: TakeoverRoom): void {
    const key = unstoredKey(row.order_id);
    const run = asNumber(row.run);
    this.records.adopt(run, me, row.fence);
    // What the provider did for the run is known again: the run charges under the same key, and the provider keeps one.
    this.inDoubt.take({ order: key, run });
    const order = { ...(JSON.parse(row.request!) as Order), deadlineMs: asNumber(row.deadline_left_ms!) };
    this.resumedRuns++;
    // A run handed over is a rolling restart's ordinary work; a run whose instance was lost is news.
    this.options.log[row.handed_over ? 'info' : 'warn'](
      { ...orderLogFields(key), runs: row.runs, run_key: run, recoveries: row.recoveries, steps_done: finished.length },
      `took over an order ${whoseOf(row)}: resumed after its recorded steps`,
    );
    this.runner!.resume({ key, run, fingerprint: row.fingerprint, order, finished }, room);
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
}
