/**
 * The nemesis (Jepsen's word): at random times it commits one fault —
 * SIGKILL an instance (the supervisor starts it again after a pause), SIGSTOP
 * one and SIGCONT it later (a process paused past its lease, the classic way
 * a lease holder wakes up believing it still holds it), stop Postgres and
 * start it again, pause Postgres (SIGSTOP its postmaster and children), cut
 * the instances' LISTEN connections, or send a burst of orders whose steps
 * bring their threads down. Faults overlap: an instance may die while
 * Postgres is paused.
 *
 * Every draw comes from its own seeded stream, the same number of draws per
 * fault whatever happens, so the sequence of faults replays from the seed. A
 * fault that cannot be committed when its time comes (its instance is
 * already down, Postgres is already away, two instances are already out) is
 * skipped, and the timeline says so.
 */
import type { Recorder } from './history.js';
import type { Supervisor } from './instances.js';
import { faultyOrder } from './order-plans.js';
import type { ChaosPostgres } from './postgres.js';
import { Seeded } from './seeded.js';
import type { Workload } from './workload.js';

const OPERATIONS = {
  kill_instance: 22,
  pause_instance: 20,
  stop_postgres: 8,
  pause_postgres: 10,
  cut_listeners: 15,
  thread_faults: 20,
} as const;
export type Operation = keyof typeof OPERATIONS;

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
  /** Faults committed, by operation. */
  readonly committed: Record<Operation, number> = {
    kill_instance: 0,
    pause_instance: 0,
    stop_postgres: 0,
    pause_postgres: 0,
    cut_listeners: 0,
    thread_faults: 0,
  };
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

  /** No new fault; every fault under way ended now: processes resumed, Postgres started and resumed. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    for (const [timer, end] of [...this.pending]) {
      clearTimeout(timer);
      this.pending.delete(timer);
      await end();
    }
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
      try {
        await this.commit(operation, target, outage, restartAfter, burst);
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
  ): Promise<void> {
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
