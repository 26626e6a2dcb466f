/**
 * This instance's lease: a row in `instances` whose `lease_until` every
 * other instance reads as "it is alive". The lease covers every order the
 * instance runs and every courier slot it holds — one renewal, whatever it
 * runs (a heartbeat per instance, not per order: Temporal's heartbeat,
 * pg-boss's supervisor).
 *
 * - Renewed a third of LEASE_MS after the renewal before was sent (not on a
 *   fixed tick, which a held event loop pushes a whole period on), and at
 *   once when Postgres is back. A
 *   lease, once expired, is never renewed (`WHERE lease_until > now()`):
 *   someone may already be taking its orders. The identity is then dead for
 *   good, and a new one is registered at once.
 * - Self-fencing. The instance counts its lease from the moment it *sent*
 *   its last renewal that succeeded, on its own monotonic clock, less a
 *   margin: Postgres set `lease_until` from a later instant, so the instance
 *   always gives up before anyone may take over, whatever the clocks say.
 *   Giving up (`onLost`) means: stop lending courier slots, cancel what runs
 *   (`interrupted`). Until a new identity is registered, `id()` is undefined
 *   and no order starts. The margin is what the slots lent have to come
 *   back before Postgres lets another instance take their rows: at least a
 *   stuck thread's grace and its exit (leaseMarginMs in src/config.ts).
 * - A held process decides on what it was told. A process the machine did
 *   not run for a while (a starved core, a CPU quota, a pause) finds its
 *   lease's timer due and its renewal's answer already come back, both at
 *   once, and Node runs timers before it reads. While a renewal is on its
 *   way, a lease that ran out is only given up once what came back has been
 *   read (one turn of the event loop): an answer to a renewal sent in time
 *   extends it as it would have, from the moment it was sent.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Database, Statement } from './database.js';

const REGISTER: Statement = {
  name: 'instance_register',
  text: "INSERT INTO instances (instance_id, host, pid, lease_until) VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')",
};
const RENEW: Statement = {
  name: 'instance_renew',
  text: "UPDATE instances SET lease_until = now() + $2 * interval '1 millisecond' WHERE instance_id = $1 AND lease_until > now() RETURNING 1 AS renewed",
};
const EXPIRE: Statement = {
  name: 'instance_expire',
  text: 'UPDATE instances SET lease_until = now() WHERE instance_id = $1',
};

interface Identity {
  readonly id: string;
  /** performance.now() until which this instance counts on its lease. */
  validUntil: number;
}

export class InstanceLease {
  private current: Identity | undefined;
  private renewal: NodeJS.Timeout | undefined;
  private fence: NodeJS.Timeout | undefined;
  private stopped = false;
  private renewing = false;
  /** Identities given up since start. */
  lost = 0;

  private readonly leaseMs: number;
  /** Of the lease, given up early: the part of it this instance never counts on. */
  private readonly marginMs: number;

  constructor(
    private readonly db: Database,
    { leaseMs, marginMs }: { readonly leaseMs: number; readonly marginMs: number },
    private readonly log: Logger,
    /** Called when an identity's lease is given up: whatever it holds must stop now. */
    private readonly onLost: (id: string) => void,
  ) {
    this.leaseMs = leaseMs;
    this.marginMs = marginMs;
  }

  /** This instance's identity while its lease holds; undefined otherwise. */
  id(): string | undefined {
    const current = this.current;
    const now = performance.now();
    // Noticed late — by how much says how long the process could not look: a
    // freeze (SIGSTOP, a VM paused) or a starved event loop shows as a jump of
    // the monotonic clock past the lease.
    if (current && now >= current.validUntil) {
      // Counted on no longer either way; given up by the fence once the renewal's answer, if any, has been read.
      if (this.renewing) return undefined;
      this.giveUp(current, 'its lease ran out before it could be renewed', now - current.validUntil);
    }
    return this.current?.id;
  }

  /**
   * This instance's identity and until when it counts on its lease, in milliseconds since the epoch on the
   * performance clock (performance.timeOrigin + now): for another thread, which can hold it without asking.
   */
  holding(): { readonly id: string; readonly until: number } | undefined {
    const id = this.id();
    return id === undefined ? undefined : { id, until: performance.timeOrigin + this.current!.validUntil };
  }

  /** Register, then keep renewing until stopped. Rejects if the first registration fails. */
  async start(): Promise<void> {
    const sent = performance.now();
    await this.register();
    this.renewAfter(sent);
    // Postgres back: renew now, not at the next tick. The renewals missed during the outage leave the lease close to
    // its end, and a tick a third of LEASE_MS away let it run out with Postgres already back (durable.test.ts's
    // restart: the lease given up 350 ms after /readyz said 200, an order then refused store_unavailable).
    this.db.onChange((up) => {
      if (up) void this.renew();
    });
  }

  /** Stop renewing and let the lease go now: nothing of this instance is left for others to wait on. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.renewal);
    clearTimeout(this.fence);
    const current = this.current;
    this.current = undefined;
    if (current) await this.db.leaseQuery(EXPIRE, [current.id]).catch(() => {});
  }

  private async register(): Promise<void> {
    const id = randomUUID();
    const sent = performance.now();
    await this.db.leaseQuery(REGISTER, [id, hostname(), process.pid, this.leaseMs]);
    if (this.stopped) return;
    this.current = { id, validUntil: 0 };
    this.extend(this.current, sent);
    this.log.info({ instance_id: id, lease_ms: this.leaseMs, lease_margin_ms: this.marginMs }, 'instance registered');
  }

  private async renew(): Promise<void> {
    if (this.renewing || this.stopped) return;
    this.renewing = true;
    const sent = performance.now();
    try {
      const current = this.current;
      if (!current) return await this.register();
      const rows = await this.db.leaseQuery<{ renewed: number }>(RENEW, [current.id, this.leaseMs]);
      if (this.current !== current) return;
      if (rows.length === 0) this.giveUp(current, 'its lease had expired in Postgres');
      else this.extend(current, sent);
    } catch {
      // Unreachable: the lease runs out by itself if this goes on (the fence).
    } finally {
      this.renewing = false;
      this.renewAfter(sent);
    }
  }

  /** The next renewal, a third of the lease after the one sent at `sent`: at once if that is past. */
  private renewAfter(sent: number): void {
    clearTimeout(this.renewal);
    if (this.stopped) return;
    this.renewal = setTimeout(() => void this.renew(), Math.max(0, sent + this.leaseMs / 3 - performance.now()));
    this.renewal.unref();
  }

  private extend(identity: Identity, sent: number): void {
    identity.validUntil = sent + this.leaseMs - this.marginMs;
    this.armFence(identity);
  }

  /**
   * Give the identity up when its lease runs out, should nothing ask for it. Under a loaded CPU the timer was seen to
   * come due before the lease had, on this clock (the lease's unit test, 3 runs in 6 with the cores busy): it then
   * looks again at the time left, rather than never. With a renewal on its way, it looks once more after the event
   * loop's reads (setImmediate runs after them): its answer may be there, read after this timer only because timers
   * run first.
   */
  private armFence(identity: Identity): void {
    clearTimeout(this.fence);
    this.fence = setTimeout(
      () => {
        if (this.current !== identity) return;
        if (performance.now() < identity.validUntil) return this.armFence(identity);
        if (!this.renewing) return void this.id();
        setImmediate(() => {
          const now = performance.now();
          if (this.current !== identity) return;
          if (now < identity.validUntil) return this.armFence(identity);
          this.giveUp(identity, 'its lease ran out before its renewal came back', now - identity.validUntil);
        });
      },
      Math.max(0, identity.validUntil - performance.now()) + 1,
    );
    this.fence.unref();
  }

  /** `overdueMs`: how long after its lease ran out (on this instance's clock) the instance noticed. */
  private giveUp(identity: Identity, why: string, overdueMs?: number): void {
    if (this.current !== identity) return;
    this.current = undefined;
    this.lost++;
    const overdue = overdueMs === undefined ? {} : { overdue_ms: Math.round(overdueMs) };
    this.log.error(
      { instance_id: identity.id, ...overdue },
      `instance gave up its identity: ${why}; what it runs is interrupted, and it registers anew`,
    );
    this.onLost(identity.id);
    // A new identity at once, not at the next tick: until it is registered no order starts here. After the renewal
    // that gave up has let go of `renewing`.
    setImmediate(() => void this.renew());
  }
}
