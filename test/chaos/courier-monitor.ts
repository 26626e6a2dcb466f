/**
 * Sampled every ~100 ms through the whole run: how many couriers each
 * instance has busy (its /healthz: slots its steps hold, read from its
 * shared memory) and how Postgres has the courier_slots rows — held by a
 * live identity, by an identity whose lease has expired, or free. The
 * checker sums the instances' busy couriers against COURIERS.
 *
 * The instances are read at once but not at one instant: a slot given back
 * by one and taken by another between two reads counts twice. A sum over
 * COURIERS is therefore a violation only when consecutive samples see it
 * (the checker's rule); an over-count held for a sampling period is no
 * artefact of skew.
 *
 * Each instance's identity is read on the way: a change goes into the
 * timeline (an instance that gave up its lease registers anew).
 */
import type { Recorder } from './history.js';
import type { Supervisor } from './instances.js';
import type { ChaosPostgres } from './postgres.js';

const ROWS = `SELECT count(*) FILTER (WHERE i.lease_until > now())::int AS live,
                     count(*) FILTER (WHERE s.holder IS NOT NULL AND (i.instance_id IS NULL OR i.lease_until <= now()))::int AS dead,
                     count(*) FILTER (WHERE s.holder IS NULL)::int AS free
                FROM courier_slots s LEFT JOIN instances i ON i.instance_id = s.holder`;

export class CourierMonitor {
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  private readonly identities: Array<string | null | undefined>;

  constructor(
    private readonly supervisor: Supervisor,
    private readonly postgres: ChaosPostgres,
    private readonly recorder: Recorder,
    private readonly everyMs: number,
  ) {
    this.identities = Array.from({ length: supervisor.size }, () => undefined);
  }

  start(): void {
    this.timer = setInterval(() => {
      // A sample still under way (an instance or Postgres slow to answer) is not overtaken.
      this.sampling ??= this.sample().finally(() => (this.sampling = undefined));
    }, this.everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sampling;
  }

  private async sample(): Promise<void> {
    const atMs = this.recorder.now();
    const timeoutMs = Math.max(this.everyMs * 2, 250);
    const [healths, rows] = await Promise.all([
      Promise.all(Array.from({ length: this.supervisor.size }, (_, i) => (this.supervisor.isUp(i) ? this.supervisor.health(i, timeoutMs) : Promise.resolve(undefined)))),
      this.postgres.query<{ live: number; dead: number; free: number }>(ROWS).then(
        ([row]) => row ?? null,
        () => null,
      ),
    ]);
    this.recorder.sample({ atMs, busy: healths.map((health) => health?.couriers_busy ?? null), rows });
    for (const [i, health] of healths.entries()) {
      const identity = health?.durable?.instance_id;
      if (identity === undefined || identity === this.identities[i]) continue;
      this.identities[i] = identity;
      this.recorder.event('harness', identity === null ? `${this.supervisor.nameOf(i)} has given up its identity` : `${this.supervisor.nameOf(i)} holds identity ${identity.slice(0, 8)}`);
    }
  }
}
