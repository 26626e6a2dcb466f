/**
 * COURIERS, global across instances: each instance holds some rows of
 * `courier_slots` under its lease and lends exactly that many slots of its
 * shared-memory semaphore to its steps. The other slots of the semaphore are
 * held by the main thread as ELSEWHERE, so no step can take one.
 *
 * Invariant: this instance lends at most as many slots as it holds rows,
 * and holds rows only while its lease holds — so never more couriers busy
 * than COURIERS, across all instances. Every move keeps it:
 * - taking: the row first (in Postgres), then a slot lent locally;
 * - giving back: a slot first taken back from the steps (waiting its turn
 *   in the semaphore's line, as a step would), then the row released — and
 *   while its release is on its way, the row is not this instance's to take
 *   again (a take would count it free to its holder, see courier_take, and
 *   the release, arriving after, would free a row lent again). The release
 *   names the hold it ends (`held_since`, set by every take): one that
 *   arrives late, after the row was taken again, frees nothing;
 * - losing the lease (`revokeAll`): the rows are forgotten, every lent slot
 *   is taken back as its step ends (what runs is canceled), well before
 *   Postgres lets anyone else take the rows (the lease's margin); a take
 *   still on its way then lends nothing and gives its rows back. Until every
 *   slot lent under the lease given up is back — those a give-back was
 *   already waiting for included — nothing is taken or lent under the next
 *   one, and such a give-back, served, releases no row: its row went with
 *   the lease. Once the last is back, the rows of the identity given up
 *   back nothing here, and are released at once (again at each tick while
 *   Postgres cannot be told): left to Postgres, they stayed held until its
 *   lease ran out there too, the margin later, and the next identity's steps
 *   waited a second or more for couriers (durable.test.ts's restart, orders
 *   timed out at 2 s).
 *
 * No round trip per courier step: a slot moves between instances only when
 * demand shifts. An instance whose steps wait for a slot it cannot get
 * publishes its want (`couriers_wanted`) and NOTIFYs; the others give back
 * what they hold beyond a fair share — ceil(COURIERS / instances wanting) —
 * or everything they hold if their own steps want none (an active client's
 * floor unused for a moment is a want, too). One instance alone
 * takes every slot at start and keeps them: zero round trips. A dead
 * instance's rows are free once its lease has expired.
 */
import type { Logger } from 'pino';
import { ELSEWHERE, NO_TOKEN, type Cancellation, type SlotSemaphore } from '../shared-memory/slot-semaphore.js';
import type { Database, Statement } from './database.js';
import type { InstanceLease } from './instance-lease.js';
import type { Notifications } from './notifications.js';

const POOL_SIZE: Statement = { name: 'courier_pool_size', text: 'SELECT courier_pool_size($1) AS size' };
/**
 * A hold, as the take made it: courier_take sets `held_since` to now(),
 * which is the same instant for the whole transaction, so the statement
 * can say it; in microseconds since the epoch, as text (exact, and beyond
 * what a JavaScript number holds exactly).
 */
const TAKE: Statement = {
  name: 'courier_take_held',
  text: 'SELECT slot, (extract(epoch FROM now()) * 1000000)::bigint::text AS since FROM courier_take($1, $2, $3) AS slot',
};
/** Ends one hold: the row's holder and the instant of the take that made the hold. */
const GIVE_BACK: Statement = {
  name: 'courier_give_back_held',
  text: `WITH freed AS (UPDATE courier_slots SET holder = NULL, held_since = NULL
                     WHERE slot = $2 AND holder = $1 AND (extract(epoch FROM held_since) * 1000000)::bigint = $3::bigint RETURNING slot)
         SELECT pg_notify('couriers', '') FROM freed`,
};
const GIVE_BACK_ALL: Statement = {
  name: 'courier_give_back_all',
  text: "WITH freed AS (UPDATE courier_slots SET holder = NULL, held_since = NULL WHERE holder = $1 RETURNING slot) SELECT count(*) AS freed, pg_notify('couriers', '') FROM freed",
};
const PUBLISH_WANT: Statement = {
  name: 'courier_publish_want',
  text: "WITH w AS (UPDATE instances SET couriers_wanted = $2 WHERE instance_id = $1 RETURNING couriers_wanted) SELECT pg_notify('couriers', '') FROM w WHERE couriers_wanted > 0",
};
const READ_WANTS: Statement = {
  name: 'courier_read_wants',
  text: `SELECT coalesce(sum(couriers_wanted), 0)::int AS wanted, count(*)::int AS instances
           FROM instances WHERE instance_id <> $1 AND couriers_wanted > 0 AND lease_until > now()`,
};

/** How often the steps' demand is looked at (shared memory only: no statement unless it changed). */
const TICK_MS = 20;
/**
 * How often an instance that wants slots tries to take free ones, and reads the others' wants (a backstop to NOTIFY).
 */
const RETRY_MS = 250;
/** How long an instance whose steps waited for a slot still counts as wanting: its fair share is kept meanwhile. */
const WANT_REMEMBERED_MS = 4 * RETRY_MS;

/** The pool's size as the database has it: this instance's COURIERS, unless instances already running say otherwise. */
export async function coordinateCourierPool(db: Database, couriers: number, log: Logger): Promise<number> {
  const [row] = await db.query<{ size: number }>(POOL_SIZE, [couriers]);
  const size = row!.size;
  if (size !== couriers)
    log.warn({ couriers, pool: size }, 'COURIERS differs from the pool the running instances share; following theirs');
  return size;
}

/** A courier_slots row this instance holds, and which take of it: `since` is the take's instant (see TAKE). */
interface Hold {
  readonly slot: number;
  readonly since: string;
}

export class CourierAllotment {
  /** Semaphore slots the main thread holds as ELSEWHERE: not lent. */
  private readonly withheld: number[] = [];
  /** courier_slots rows this instance holds. */
  private rows: Hold[] = [];
  /** Rows whose release is on its way: no longer lent, not to be taken again until it has answered. */
  private readonly releasing = new Set<number>();
  /** Main-thread waits in the semaphore's line (giving back, revoking): not the steps' demand. */
  private ownWaiters = 0;
  /** Slots lent under a lease given up and not back yet: while any is out, nothing is taken or lent. */
  private outstanding = 0;
  /** When the slots still out were revoked (the first revocation of them). */
  private revokedAt: number | undefined;
  /** Identities given up whose rows Postgres may still count as held: released once no slot lent under them is out. */
  private readonly givenUp: string[] = [];
  private releasingGivenUp = false;
  /** When its steps last waited for a slot. */
  private lastWaitedAt = -Infinity;
  /** The want this instance last published. */
  private published = 0;
  private publishedAt = -Infinity;
  /** Other live instances wanting slots, and how many they want. */
  private others = { wanted: 0, instances: 0 };
  /** When the others' wants were last read, and free rows last looked for; -Infinity: now (a notification came). */
  private lookedAt = -Infinity;
  /** No slot is given back before then: the others need a moment to take the last ones and say what they still want. */
  private quietUntil = 0;
  private ticking = false;
  /** Moves on whenever what this instance holds is revoked or stopped: a take answered across it is stale. */
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly stopping = new AbortController();

  constructor(
    private readonly db: Database,
    private readonly semaphore: SlotSemaphore,
    private readonly lease: InstanceLease,
    notifications: Notifications,
    private readonly log: Logger,
  ) {
    // Before any step can run: nothing is lent until rows are held.
    for (let i = 0; i < semaphore.size; i++) {
      const slot = semaphore.tryAcquire(ELSEWHERE);
      if (slot < 0) throw new Error('the courier semaphore must be idle when the allotment takes it over');
      this.withheld.push(slot);
    }
    notifications.on('couriers', () => {
      this.lookedAt = -Infinity;
    });
  }

  /** Slots this instance may lend to its steps right now. */
  get lent(): number {
    return this.semaphore.size - this.withheld.length;
  }

  /** Rows of courier_slots this instance holds. */
  get held(): number {
    return this.rows.length;
  }

  /** Take what is free now (alone, that is everything), then follow demand. */
  async start(): Promise<void> {
    await this.take(this.semaphore.size);
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    this.timer.unref();
  }

  /**
   * The lease was given up: the rows are no longer this instance's. Take
   * every lent slot back as its step ends (the caller cancels what runs).
   */
  revokeAll(identity: string): void {
    this.generation++;
    this.rows = [];
    this.givenUp.push(identity);
    // Every slot lent now must come back before anything is lent again.
    this.outstanding = this.lent;
    if (this.outstanding > 0) this.revokedAt ??= performance.now();
    void this.releaseGivenUp();
    // Every wait already in line (giving back, revoking) brings one slot back too.
    for (let n = this.lent - this.ownWaiters; n > 0; n--) void this.takeBackSlot();
  }

  /**
   * A slot is back from the steps. The last one lent under a lease given up
   * ends the revocation: say how long the steps kept them — until then,
   * Postgres may already have lent their rows again (docs/durable-store.md#leases-and-self-fencing).
   */
  private slotBack(slot: number): void {
    this.withheld.push(slot);
    if (this.outstanding === 0 || --this.outstanding > 0) return;
    if (this.revokedAt !== undefined)
      this.log.info(
        { ms: Math.round(performance.now() - this.revokedAt) },
        'courier slots lent under the lease given up are all back',
      );
    this.revokedAt = undefined;
    void this.releaseGivenUp();
  }

  /**
   * The rows of identities given up, once nothing lent under them is out: free for any instance to take. Called
   * whenever that may have become so; it looks itself.
   */
  private async releaseGivenUp(): Promise<void> {
    if (this.releasingGivenUp || this.outstanding > 0 || this.givenUp.length === 0) return;
    this.releasingGivenUp = true;
    try {
      // Looked at again after each release: the next identity may have been given up meanwhile, its slots still out.
      while (this.givenUp.length > 0 && this.outstanding === 0) {
        // A take since, by anyone, made the row the taker's: only rows still under the old identity are released.
        await this.db.query(GIVE_BACK_ALL, [this.givenUp[0]]);
        this.givenUp.shift();
      }
    } catch {
      // Postgres cannot be told now: the next tick tries again (and at worst the old lease runs out there).
    } finally {
      this.releasingGivenUp = false;
    }
  }

  /** At shutdown, once no step runs: give every row back at once. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.generation++;
    this.stopping.abort();
    const id = this.lease.id();
    if (id && this.rows.length > 0) await this.db.query(GIVE_BACK_ALL, [id]).catch(() => {});
    this.rows = [];
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.releaseGivenUp();
      const id = this.lease.id();
      if (!id || this.outstanding > 0) return;
      const now = performance.now();
      const waiting = Math.max(0, this.semaphore.waiting() - this.ownWaiters);
      if (waiting > 0) this.lastWaitedAt = now;
      const want =
        this.rows.length < this.semaphore.size ? Math.min(waiting, this.semaphore.size - this.rows.length) : 0;
      await this.publish(id, want, now);
      // Free rows are looked for, and the others' wants read, every RETRY_MS
      // while it matters — at once after a notification.
      if (now - this.lookedAt < RETRY_MS || (want === 0 && this.rows.length === 0)) return;
      this.lookedAt = now;
      if (want > 0) await this.take(want);
      if (this.rows.length === 0) return;
      const [others] = await this.db.query<{ wanted: number; instances: number }>(READ_WANTS, [id]);
      this.others = others ?? { wanted: 0, instances: 0 };
      if (now >= this.quietUntil) this.giveBackExcess(waiting);
    } catch {
      // The database is down: nothing moves until it is back; what is held stays held under the lease.
    } finally {
      this.ticking = false;
    }
  }

  /** Publish this instance's want when it changes: at once when it falls, at most every RETRY_MS when it grows. */
  private async publish(id: string, want: number, now: number): Promise<void> {
    if (want === this.published || (want > this.published && this.published > 0 && now - this.publishedAt < RETRY_MS))
      return;
    await this.db.query(PUBLISH_WANT, [id, want]);
    this.published = want;
    this.publishedAt = now;
  }

  /**
   * Others want slots: give back what is beyond this instance's fair share (all of it if its steps want none). An
   * active client's floor unused for a moment is a want too: counted idle, the instance gave its slots
   * away down to the one its hog took, and the victim's steps there waited for the hog's.
   */
  private giveBackExcess(waiting: number): void {
    // A moment without a waiter is not an instance wanting none: counted so, a saturated instance gave everything
    // away down to the one slot its hog held, the victim's steps behind it.
    const wanting =
      waiting > 0 || performance.now() - this.lastWaitedAt < WANT_REMEMBERED_MS || this.semaphore.unusedFloors() > 0;
    const instancesWanting = this.others.instances + (wanting ? 1 : 0);
    const share = wanting ? Math.ceil(this.semaphore.size / instancesWanting) : 0;
    // Gives-back still waiting their turn count as given (no revocation is under way here: every own wait is one).
    const givingBack = this.ownWaiters;
    const excess = Math.min(this.rows.length - givingBack - share, this.others.wanted - givingBack);
    if (excess <= 0) return;
    this.quietUntil = performance.now() + 2 * RETRY_MS;
    for (let n = 0; n < excess; n++) void this.giveBackOne();
  }

  private async giveBackOne(): Promise<void> {
    const generation = this.generation;
    const slot = await this.takeBackSlotRaw(true);
    if (slot < 0) return;
    this.slotBack(slot);
    // The lease was given up meanwhile: the row went with it, and the slot
    // was one the revocation waited for. The rows held now are the next
    // identity's, none of them this give-back's to release.
    if (this.generation !== generation) return;
    // The slot is no step's any more: the row can go. The rows held are the
    // identity's that holds the lease now (a take keeps rows only for it).
    const id = this.lease.id();
    const hold = this.rows.pop();
    if (hold === undefined || id === undefined) return;
    this.releasing.add(hold.slot);
    try {
      await this.db.query(GIVE_BACK, [id, hold.slot, hold.since]);
    } catch {
      // Unreleased, it stays held by this instance (and free to it again, see
      // courier_take) until its lease ends. If the release still reaches
      // Postgres later, it names this hold, and a take since made another.
    } finally {
      this.releasing.delete(hold.slot);
    }
  }

  private async take(n: number): Promise<void> {
    const id = this.lease.id();
    // Also from a tick that began before the lease was given up: nothing is lent while slots lent under it are out.
    if (!id || this.withheld.length === 0 || this.outstanding > 0) return;
    const generation = this.generation;
    // Rows on their way back count as known: courier_take must not hand them to this instance again before their
    // release lands.
    const known = [...this.rows.map((hold) => hold.slot), ...this.releasing];
    const rows = await this.db.query<Hold>(TAKE, [id, Math.min(n, this.withheld.length), known]);
    // The rows were taken for an identity this instance gave up (or for an
    // allotment stopped) while the take was on its way: in Postgres they may
    // still be held under that identity's lease, but they are nobody's here.
    // Lending them would outlive the lease (revokeAll has already taken back
    // what was lent then), so they are lent never and given back now.
    if (this.generation !== generation || this.lease.id() !== id) {
      if (rows.length > 0) await this.db.query(GIVE_BACK_ALL, [id]).catch(() => {});
      return;
    }
    for (const hold of rows) {
      // The row is held: now, and only now, a slot may be lent.
      this.rows.push(hold);
      this.semaphore.release(this.withheld.pop()!, ELSEWHERE);
    }
    if (rows.length > 0) this.log.debug({ rows: rows.map((row) => row.slot), lent: this.lent }, 'courier slots taken');
  }

  private async takeBackSlot(): Promise<void> {
    const slot = await this.takeBackSlotRaw();
    if (slot >= 0) this.slotBack(slot);
  }

  /**
   * A slot back from the steps, in its turn in the semaphore's line; -1 if stopped first. Given back while the lease
   * holds (`givingBack`), only one whose going leaves no client over its cap of those still lent.
   */
  private async takeBackSlotRaw(givingBack = false): Promise<number> {
    this.ownWaiters++;
    try {
      const stopped = stoppedBy(this.stopping.signal);
      return await (givingBack
        ? this.semaphore.acquireToGiveBack(stopped)
        : this.semaphore.acquire(ELSEWHERE, stopped));
    } finally {
      this.ownWaiters--;
    }
  }
}

function stoppedBy(signal: AbortSignal): Cancellation {
  return {
    token: NO_TOKEN,
    isCanceled: () => signal.aborted,
    whenCanceled: () =>
      new Promise((resolve) =>
        signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true }),
      ),
  };
}
