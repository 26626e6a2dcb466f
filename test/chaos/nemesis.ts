/**
 * The nemesis (Jepsen's word): at random times it commits one fault —
 * SIGKILL an instance (the supervisor starts it again after a pause), SIGTERM
 * one (a graceful stop: its drain hands over the runs it cannot finish, and
 * it must exit 0; started again after a pause), SIGSTOP one and SIGCONT it
 * later (a process paused past its lease, the classic way a lease holder
 * wakes up believing it still holds it), stop Postgres and start it again,
 * pause Postgres (SIGSTOP its postmaster and children), cut the instances'
 * LISTEN connections, switch a dependency's outage on an instance for a while
 * (the admin's POST /admin/dependencies/{name}), or send a burst of orders
 * whose steps bring their threads down. An instance lost (killed, stopped or
 * paused) may also have a survivor's dependency switched out as the survivor
 * takes its runs over: the takeover then meets the outage. Faults overlap: an
 * instance may die while Postgres is paused.
 *
 * Every draw comes from its own seeded stream, the same number of draws per
 * fault whatever happens, so the sequence of faults replays from the seed. A
 * fault that cannot be committed when its time comes (its instance is
 * already down, Postgres is already away, two instances are already out) is
 * skipped, and the timeline says so.
 */
import { DEPENDENCY_NAMES } from '../../src/domain/dependencies.js';
import type { Recorder } from './history.js';
import { call } from './http.js';
import type { Supervisor } from './instances.js';
import { faultyOrder } from './order-plans.js';
import type { ChaosPostgres } from './postgres.js';
import { Seeded } from './seeded.js';
import type { Workload } from './workload.js';

const OPERATIONS = {
  kill_instance: 16,
  terminate_instance: 14,
  pause_instance: 16,
  stop_postgres: 7,
  pause_postgres: 8,
  cut_listeners: 12,
  thread_faults: 15,
  dependency_outage: 12,
} as const;
/** Out of 100: how often an instance lost has a survivor's dependency switched out as its runs are taken over. */
const SURVIVOR_OUTAGE_PERCENT = 60;
/**
 * How much longer a survivor's outage lasts than the nemesis's draw: the takeover comes a lease and a recovery pass
 * after the loss, and the outage must still be on then.
 */
const SURVIVOR_OUTAGE_EXTRA_MS = 2000;
/** A switch of an outage that gets no answer in this long is tried again, up to this many times (a minute or so). */
const SWITCH_TIMEOUT_MS = 2000;
const SWITCH_TRIES = 30;
export type Operation = keyof typeof OPERATIONS;
/** The faults that lose an instance, so that a survivor takes its runs over. */
const LOSSES: ReadonlySet<Operation> = new Set(['kill_instance', 'terminate_instance', 'pause_instance']);

export interface NemesisSettings {
  /** Between two faults: from, to. */
  readonly gapMs: readonly [number, number];
  /** How long a pause or an outage lasts: from, to. */
  readonly outageMs: readonly [number, number];
  /** How long a killed instance stays down: from, to. */
  readonly restartAfterMs: readonly [number, number];
  /** Instances out (killed, stopped, starting) at once, at most: the others keep serving. */
  readonly maxDisrupted: number;
  /** How long a client of the thread faults waits for its answer. */
  readonly faultTimeoutMs: number;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export class Nemesis {
  private readonly stopping = new AbortController();
  private loop: Promise<void> = Promise.resolve();
  /** Faults under way, each with what ends it. */
  private readonly pending = new Map<NodeJS.Timeout, () => Promise<void>>();
  private postgresAway = false;
  private bursts = 0;
  /** The operation the last commit committed; undefined if it skipped. */
  private committedNow: Operation | undefined;
  /** Faults committed, by operation. */
  readonly committed: Record<Operation, number> = {
    kill_instance: 0,
    terminate_instance: 0,
    pause_instance: 0,
    stop_postgres: 0,
    pause_postgres: 0,
    cut_listeners: 0,
    thread_faults: 0,
    dependency_outage: 0,
  };
  /** Outages switched on a survivor as another instance was lost (besides `dependency_outage`'s). */
  survivorOutages = 0;
  skipped = 0;

  constructor(
    private readonly supervisor: Supervisor,
    private readonly postgres: ChaosPostgres,
    private readonly workload: Workload,
    private readonly recorder: Recorder,
    private readonly settings: NemesisSettings,
    private readonly idPrefix: string,
  ) {}

  start(rand: Seeded): void {
    this.loop = this.run(rand);
  }

  /**
   * No new fault; every fault under way ended now: processes resumed, Postgres started and resumed, outages switched
   * off. At once, not one after the other: an outage's switch waits for its paused instance to be resumed.
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    const ends = [...this.pending].map(([timer, end]) => {
      clearTimeout(timer);
      this.pending.delete(timer);
      return end();
    });
    await Promise.all(ends);
  }

  private async run(rand: Seeded): Promise<void> {
    const { gapMs, outageMs, restartAfterMs } = this.settings;
    while (!this.stopping.signal.aborted) {
      await this.sleep(rand.int(...gapMs));
      if (this.stopping.signal.aborted) return;
      // The same draws whatever the fault, so the next fault does not depend on this one.
      const operation = rand.weighted(OPERATIONS);
      const target = rand.int(0, this.supervisor.size - 1);
      const outage = rand.int(...outageMs);
      const restartAfter = rand.int(...restartAfterMs);
      const burst = new Seeded(rand.int(0, 2 ** 32 - 1));
      const dependency = DEPENDENCY_NAMES[rand.int(0, DEPENDENCY_NAMES.length - 1)]!;
      const survivorOutage = rand.int(0, 99) < SURVIVOR_OUTAGE_PERCENT;
      try {
        await this.commit(operation, target, outage, restartAfter, burst, dependency);
        if (survivorOutage && LOSSES.has(operation) && this.committedNow === operation)
          await this.survivorOutage(target, dependency, outage + SURVIVOR_OUTAGE_EXTRA_MS);
      } catch (error) {
        this.recorder.event('nemesis', `${operation} failed: ${(error as Error).message}`);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.stopping.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
  }

  /** `end` runs after `ms`, or at once when the nemesis stops. */
  private later(ms: number, end: () => Promise<void>): void {
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      end().catch((error: unknown) =>
        this.recorder.event('nemesis', `could not end a fault: ${(error as Error).message}`),
      );
    }, ms);
    this.pending.set(timer, end);
  }

  private skip(operation: Operation, why: string): void {
    this.skipped++;
    this.recorder.event('nemesis', `(skipped ${operation}: ${why})`);
  }

  private async commit(
    operation: Operation,
    target: number,
    outageMs: number,
    restartAfterMs: number,
    burst: Seeded,
    dependency: string,
  ): Promise<void> {
    this.committedNow = undefined;
    const name = this.supervisor.nameOf(target);
    const instanceOut = (): string | undefined =>
      !this.supervisor.isUp(target)
        ? `${name} is not up`
        : this.supervisor.disrupted() >= this.settings.maxDisrupted
          ? `${this.supervisor.disrupted()} instances already out`
          : undefined;
    switch (operation) {
      case 'kill_instance': {
        const why = instanceOut();
        if (why) return this.skip(operation, why);
        const { pid } = this.supervisor.processOf(target);
        this.supervisor.kill(target, restartAfterMs);
        this.recorder.event('nemesis', `SIGKILL ${name} (pid ${pid}); started again in ${seconds(restartAfterMs)}`);
        break;
      }
      case 'terminate_instance': {
        const why = instanceOut();
        if (why) return this.skip(operation, why);
        const { pid } = this.supervisor.processOf(target);
        this.supervisor.terminate(target, restartAfterMs);
        this.recorder.event(
          'nemesis',
          `SIGTERM ${name} (pid ${pid}): a graceful stop; started again ${seconds(restartAfterMs)} after it exits`,
        );
        break;
      }
      case 'dependency_outage': {
        if (!this.supervisor.isUp(target)) return this.skip(operation, `${name} is not up`);
        if (!(await this.switchOutage(target, dependency, outageMs)))
          return this.skip(operation, `${name} did not switch ${dependency} out`);
        break;
      }
      case 'pause_instance': {
        const why = instanceOut();
        if (why) return this.skip(operation, why);
        const { pid } = this.supervisor.processOf(target);
        this.supervisor.pause(target);
        this.recorder.event('nemesis', `SIGSTOP ${name} (pid ${pid}) for ${seconds(outageMs)}`);
        this.later(outageMs, async () => {
          this.supervisor.resume(target);
          this.recorder.event('nemesis', `SIGCONT ${name} (pid ${pid})`);
        });
        break;
      }
      case 'stop_postgres': {
        if (!this.postgres.canRestart) return this.skip(operation, 'a Postgres the harness did not start');
        if (this.postgresAway) return this.skip(operation, 'Postgres is already away');
        this.postgresAway = true;
        this.recorder.event('nemesis', `stop Postgres (fast shutdown) for ${seconds(outageMs)}`);
        await this.postgres.halt();
        this.later(outageMs, () => this.startPostgres());
        break;
      }
      case 'pause_postgres': {
        if (!this.postgres.canPause) return this.skip(operation, 'Postgres cannot be signalled');
        if (this.postgresAway) return this.skip(operation, 'Postgres is already away');
        this.postgresAway = true;
        const processes = await this.postgres.pause();
        this.recorder.event('nemesis', `SIGSTOP Postgres (${processes} processes) for ${seconds(outageMs)}`);
        this.later(outageMs, async () => {
          await this.postgres.unpause();
          this.postgresAway = false;
          this.recorder.event('nemesis', 'SIGCONT Postgres');
        });
        break;
      }
      case 'cut_listeners': {
        if (this.postgresAway) return this.skip(operation, 'Postgres is away');
        const cut = await this.postgres.terminateListeners();
        this.recorder.event('nemesis', `pg_terminate_backend on ${cut} LISTEN connection${cut === 1 ? '' : 's'}`);
        break;
      }
      case 'thread_faults': {
        if (!this.supervisor.isUp(target)) return this.skip(operation, `${name} is not up`);
        this.bursts++;
        const bodies = Array.from({ length: burst.int(2, 5) }, (_, i) =>
          faultyOrder(burst, `${this.idPrefix}-fault-${this.bursts}-${i + 1}`),
        );
        const faults = bodies
          .map((body) => Object.entries(body.faults ?? {}).map(([step, fault]) => `${step} ${fault}`))
          .join(', ');
        this.recorder.event('nemesis', `thread faults: ${bodies.length} orders to ${name} (${faults})`);
        void this.workload.sendOnce(bodies, target, 'fault_burst', this.settings.faultTimeoutMs);
        break;
      }
    }
    this.committed[operation]++;
    this.committedNow = operation;
  }

  /** Instance `lost` was just lost: the first instance still up switches `dependency` out as it takes the runs over. */
  private async survivorOutage(lost: number, dependency: string, outageMs: number): Promise<void> {
    const size = this.supervisor.size;
    const survivor = Array.from({ length: size - 1 }, (_, i) => (lost + 1 + i) % size).find((i) =>
      this.supervisor.isUp(i),
    );
    if (survivor === undefined) return;
    if (
      await this.switchOutage(
        survivor,
        dependency,
        outageMs,
        `as ${this.supervisor.nameOf(lost)}'s runs are taken over`,
      )
    )
      this.survivorOutages++;
  }

  /**
   * Switch `dependency` out on instance `target` for `outageMs`; false if it did not answer 200. The end switches it
   * back on, trying again while the instance is paused; a process gone took its outage with it.
   */
  private async switchOutage(target: number, dependency: string, outageMs: number, why = ''): Promise<boolean> {
    const name = this.supervisor.nameOf(target);
    const { pid } = this.supervisor.processOf(target);
    if (!(await this.postOutage(target, dependency, true))) return false;
    const fromMs = this.recorder.now();
    this.recorder.event(
      'nemesis',
      `${dependency} out on ${name} (pid ${pid}) for ${seconds(outageMs)}${why ? ` ${why}` : ''}`,
    );
    this.later(outageMs, async () => {
      for (let tries = 1; ; tries++) {
        const now = this.supervisor.processOf(target);
        if (now.pid !== pid) {
          this.recorder.outage({ dependency, instance: name, fromMs, toMs: this.recorder.now() });
          return this.recorder.event('nemesis', `${dependency} back on ${name}: its process (pid ${pid}) is gone`);
        }
        if (now.state === 'up' && (await this.postOutage(target, dependency, false))) {
          this.recorder.outage({ dependency, instance: name, fromMs, toMs: this.recorder.now() });
          return this.recorder.event('nemesis', `${dependency} back on ${name} (pid ${pid})`);
        }
        if (tries >= SWITCH_TRIES) {
          // Out until the end, for all the checker knows.
          this.recorder.outage({ dependency, instance: name, fromMs });
          return this.recorder.event('nemesis', `could not switch ${dependency} back on ${name} (pid ${pid})`);
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    });
    return true;
  }

  private async postOutage(target: number, dependency: string, outage: boolean): Promise<boolean> {
    const end = await call({
      port: this.supervisor.portOf(target),
      method: 'POST',
      path: `/admin/dependencies/${dependency}`,
      body: JSON.stringify({ outage }),
      timeoutMs: SWITCH_TIMEOUT_MS,
    });
    return end.kind === 'answered' && end.status === 200;
  }

  /** Start Postgres again, trying until it starts: everything else waits for it. */
  private async startPostgres(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.postgres.resume();
        this.postgresAway = false;
        this.recorder.event('nemesis', 'Postgres started again');
        return;
      } catch (error) {
        if (attempt >= 5) throw error;
        this.recorder.event(
          'nemesis',
          `Postgres did not start (${(error as Error).message.split('\n')[0]}); trying again`,
        );
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }
}
