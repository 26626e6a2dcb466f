/**
 * Sampled every ~100 ms through the whole run, so that a report says who
 * lends what: how many couriers each instance has busy (its /healthz: slots
 * its steps hold, read from its shared memory), how many courier_slots rows
 * it believes it holds and under which identity (the same /healthz), and how
 * Postgres has the rows — per holder, live or not, and free. The checker sums
 * the instances' busy couriers against COURIERS, and tells a slot lent
 * beyond the rows Postgres has for it from one still lent after a lease was
 * given up.
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
import type { CourierSample, Recorder } from './history.js';
import type { Supervisor } from './instances.js';
import type { ChaosPostgres } from './postgres.js';

/** The rows per holder (a NULL holder: free), one statement so that they are one snapshot. */
const ROWS = `SELECT left(s.holder::text, 8) AS holder, count(*)::int AS rows, coalesce(bool_or(i.lease_until > now()), false) AS live
                FROM courier_slots s LEFT JOIN instances i ON i.instance_id = s.holder
               GROUP BY s.holder`;

interface RowsOfHolder {
  readonly holder: string | null;
  readonly rows: number;
  readonly live: boolean;
}

/** The sample's view of Postgres: totals and rows per holder. */
function ofPostgres(rows: readonly RowsOfHolder[]): Pick<CourierSample, 'rows' | 'holders'> {
  const held = rows.filter((row): row is RowsOfHolder & { holder: string } => row.holder !== null);
  const sum = (of: readonly RowsOfHolder[]): number => of.reduce((total, row) => total + row.rows, 0);
  return {
    rows: {
      live: sum(held.filter((row) => row.live)),
      dead: sum(held.filter((row) => !row.live)),
      free: sum(rows.filter((row) => row.holder === null)),
    },
    holders: held.map(({ holder, rows, live }) => ({ holder, rows, live })),
  };
}

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
      Promise.all(
        Array.from({ length: this.supervisor.size }, (_, i) =>
          this.supervisor.isUp(i) ? this.supervisor.health(i, timeoutMs) : Promise.resolve(undefined),
        ),
      ),
      this.postgres.query<RowsOfHolder>(ROWS).then(ofPostgres, () => ({ rows: null, holders: null })),
    ]);
    this.recorder.sample({
      atMs,
      busy: healths.map((health) => health?.couriers_busy ?? null),
      held: healths.map((health) => health?.durable?.couriers_held ?? null),
      identities: healths.map((health) => health?.durable?.instance_id?.slice(0, 8) ?? null),
      ...rows,
    });
    for (const [i, health] of healths.entries()) {
      const identity = health?.durable?.instance_id;
      if (identity === undefined || identity === this.identities[i]) continue;
      this.identities[i] = identity;
      this.recorder.event(
        'harness',
        identity === null
          ? `${this.supervisor.nameOf(i)} has given up its identity`
          : `${this.supervisor.nameOf(i)} holds identity ${identity.slice(0, 8)}`,
      );
    }
  }
}
