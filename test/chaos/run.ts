/**
 * `npm run chaos -- --seconds N [--seed S] [--database-url URL] [--clients N]`:
 * a Jepsen-style run of the durable mode. A real Postgres (the one given, or
 * a throwaway one), three instances each in its own process — one of them
 * small (MAX_INFLIGHT), so that a survivor can be full — clients sending
 * ordinary and duplicated orders with hang-ups and retries, and a nemesis
 * killing, stopping gracefully and pausing instances, pausing and stopping
 * Postgres, cutting LISTEN connections, switching dependencies out (on a
 * survivor as it takes a lost instance's runs over, too) and bringing
 * threads down — for N seconds. Then everything is brought back,
 * given a few lease periods to recover, and the whole history is checked
 * (checker.ts says what).
 *
 * Prints its seed first, the timeline as it happens, totals, and every
 * violation with the order's history; keeps the run in
 * test/chaos/results/<time>/. Exit 0: no violation; 1: a violation (or the
 * harness itself failed, said so); 2: bad usage. The same seed replays the
 * plan — every order each client sends, every fault the nemesis commits —
 * not the timing, so a violation may need a few runs of its seed to show again.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../scripts/free-port.js';
import { observe, probeCouriers, untilAtRest, untilBreakersClosed } from './at-rest.js';
import { check, courierFindings, type Limits, type Violation } from './checker.js';
import { CourierMonitor } from './courier-monitor.js';
import { Recorder } from './history.js';
import { Supervisor } from './instances.js';
import { Nemesis, type NemesisSettings } from './nemesis.js';
import { parseOptions, USAGE, type ChaosOptions } from './options.js';
import { openPostgres, type ChaosPostgres } from './postgres.js';
import { formatEntry, formatTotals, formatViolation, formatViolations, keepRun } from './report.js';
import { Seeded } from './seeded.js';
import { Workload } from './workload.js';
import { EventReceiver } from './event-receiver.js';
import { describeOwed, untilEventsDelivered, readCommittedEvents } from './event-rest.js';

const INSTANCES = ['A', 'B', 'C'];
const LEASE_MS = 1000;
const COURIERS = 3;
const ORDER_TIMEOUT_MS = 3000;
/** Share of webhook attempts the receiver answers 500, so that every run retries. */
const WEBHOOK_FAILURE_RATIO = 0.2;
/** The service's default, said here because the checker's bound for a paused holder depends on it. */
const CANCEL_GRACE_MS = 250;
/** The service's default, said here because the recovery window of an accepted order depends on it. */
const REFUND_TIMEOUT_MS = 5000;
/**
 * What every instance runs with: short leases so takeovers happen within a run, few couriers so they are fought over.
 */
const INSTANCE_ENV = {
  FAULT_INJECTION: 'on',
  LEASE_MS: String(LEASE_MS),
  COURIERS: String(COURIERS),
  THREADS: '2',
  ORDER_TIMEOUT_MS: String(ORDER_TIMEOUT_MS),
  CANCEL_GRACE_MS: String(CANCEL_GRACE_MS),
  REFUND_TIMEOUT_MS: String(REFUND_TIMEOUT_MS),
  // Thread faults that allocate (oom) reach their limit fast.
  THREAD_MAX_HEAP_MB: '32',
  // The harness's webhook receiver is on loopback, over http; retries start fast so that a run sees many.
  WEBHOOK_ALLOW_PRIVATE_TARGETS: 'on',
  WEBHOOK_RETRY_FIRST_MS: '200',
  // A delivery can fail many times under the nemesis (instances paused and killed, Postgres stopped, the receiver's
  // 500s): grown four-fold each time, its sixth retry came 100–200 s after the fifth, past the harness's wait for
  // deliveries (seed 1502107252). Capped, every delivery owed is tried again within 5 s once the faults stop.
  WEBHOOK_RETRY_MAX_MS: '5000',
  // LOG_BUFFER as in production (lines gathered into larger writes): the checker proves an alarm line, which is
  // written at once whatever the buffering, reaches the file even when its instance is SIGKILLed a moment later.
};
/**
 * One instance small enough to be filled: a survivor at capacity takes runs over only as room allows, and an accepted
 * order waits for room or for an instance that has it. Above the final probe's COURIERS + 1 orders at once, within its
 * tier's ceiling.
 */
const SMALL_INSTANCE = { C: { MAX_INFLIGHT: '6' } };
const NEMESIS: NemesisSettings = {
  gapMs: [700, 2500],
  outageMs: [300, 3000],
  restartAfterMs: [200, 2500],
  maxDisrupted: 2,
  faultTimeoutMs: ORDER_TIMEOUT_MS + 1500,
};
/**
 * The `deadline_ms` of an order accepted with one (most accepted orders): long enough to outlive its instance, whose
 * lease then lapses and whose runs another instance resumes.
 */
const ACCEPTED_DEADLINE_MS: readonly [number, number] = [20_000, 30_000];
/**
 * How long after its deadline an accepted order may still end: its instance lost at the deadline is noticed when its
 * lease lapses (a lease, and half of one for the next recovery pass), a run past its deadline waits for its refund,
 * and the nemesis may keep Postgres away, or the instance down, for its longest outage meanwhile.
 */
const RECOVERY_WINDOW_MS = 2 * LEASE_MS + REFUND_TIMEOUT_MS + Math.max(NEMESIS.outageMs[1], NEMESIS.restartAfterMs[1]);
const SAMPLE_EVERY_MS = 100;
/**
 * A holder resumed from a pause past its lease has let go of every courier
 * it still lent by then: a canceled step that does not end is judged after
 * CANCEL_GRACE_MS (its thread terminated), once more if its thread showed
 * progress; two sampling periods for the samples to see it (docs/deploying.md, leases and self-fencing).
 */
const LIMITS: Limits = {
  pausedHolderBoundMs: 2 * CANCEL_GRACE_MS + 2 * SAMPLE_EVERY_MS,
  orderTimeoutMs: ORDER_TIMEOUT_MS,
  recoveryWindowMs: RECOVERY_WINDOW_MS,
};
const RESULTS = fileURLToPath(new URL('../../../test/chaos/results/', import.meta.url));

/** The anonymous client's endpoint (the instances run in open mode); its signing secret. */
async function registerEndpoint(port: number, url: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/webhooks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url }),
  });
  if (response.status !== 201) throw new Error(`POST /webhooks answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { secret: string }).secret;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

async function chaos(options: ChaosOptions, started: number): Promise<number> {
  const runName = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(RESULTS, runName);
  await mkdir(dir, { recursive: true });
  const idPrefix = `s${options.seed}`;
  const settings = {
    seconds: options.seconds,
    clients: options.clients,
    recoveryWindowMs: RECOVERY_WINDOW_MS,
    ...INSTANCE_ENV,
    small_instance: JSON.stringify(SMALL_INSTANCE),
  };
  const recorder = new Recorder(options.seed, settings, INSTANCES, (entry) => console.log(formatEntry(entry)));
  const root = new Seeded(options.seed);

  let postgres: ChaosPostgres | undefined;
  let supervisor: Supervisor | undefined;
  let receiver: EventReceiver | undefined;
  const abandon = (): void => {
    supervisor?.killAllNow();
    void postgres
      ?.unpause()
      .then(() => postgres?.close(false))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', abandon).once('SIGTERM', abandon);
  process.once('exit', () => supervisor?.killAllNow());

  let violations: Violation[] | undefined;
  try {
    postgres = await openPostgres(options.databaseUrl, runName);
    console.log(`postgres: ${postgres.about}`);
    supervisor = new Supervisor(
      INSTANCES,
      await distinctFreePorts(INSTANCES.length),
      { ...INSTANCE_ENV, DATABASE_URL: postgres.url },
      dir,
      recorder,
      SMALL_INSTANCE,
    );
    await supervisor.startAll();
    receiver = await EventReceiver.start(root.fork('webhooks'), WEBHOOK_FAILURE_RATIO);
    receiver.registered(await registerEndpoint(supervisor.portOf(0), receiver.url));
    recorder.event('harness', `webhook endpoint ${receiver.url}: ${WEBHOOK_FAILURE_RATIO * 100}% of attempts fail`);
    const workload = new Workload(
      supervisor,
      recorder,
      { orderTimeoutMs: ORDER_TIMEOUT_MS, acceptedDeadlineMs: ACCEPTED_DEADLINE_MS },
      idPrefix,
    );
    const nemesis = new Nemesis(supervisor, postgres, workload, recorder, NEMESIS, idPrefix);
    const monitor = new CourierMonitor(supervisor, postgres, recorder, SAMPLE_EVERY_MS);

    recorder.event('harness', `run: ${options.clients} clients and the nemesis for ${options.seconds} s`);
    const runFrom = performance.now();
    monitor.start();
    workload.start(options.clients, root.fork('clients'));
    nemesis.start(root.fork('nemesis'));
    await sleep(options.seconds * 1000);
    recorder.event('harness', 'stop: no new fault, no new order; every process resumed, Postgres up');
    await Promise.all([nemesis.stop(), workload.stop()]);
    const runMs = performance.now() - runFrom;
    const healFailure = await supervisor.healAll(30_000).then(
      () => undefined,
      (error: unknown) => (error as Error).message,
    );
    recorder.event('harness', `every instance serves; ${2 * LEASE_MS} ms for recovery, then until nothing runs`);
    await sleep(2 * LEASE_MS);
    // An accepted order may run until its deadline, and end within the recovery window after it.
    await untilAtRest(supervisor, postgres, ACCEPTED_DEADLINE_MS[1] + RECOVERY_WINDOW_MS);
    recorder.event('harness', "breakers: every instance's closed, an order as the probe of any an outage opened");
    await untilBreakersClosed(workload, supervisor, idPrefix, 30_000);
    recorder.event('harness', 'probe: every instance wants couriers');
    await probeCouriers(workload, supervisor, COURIERS, idPrefix);
    await untilAtRest(supervisor, postgres, 10_000);
    await monitor.stop();
    recorder.event('harness', 'until every event owed is delivered');
    await untilEventsDelivered(postgres, 60_000);
    const owedAtEnd = await describeOwed(postgres);
    const atRest = await observe(
      recorder.history.orders.map((order) => order.order_id),
      supervisor,
      postgres,
      COURIERS,
      healFailure,
      Date.parse(recorder.history.startedAt),
    );
    const observed = {
      ...atRest,
      events: { committed: await readCommittedEvents(postgres), received: [...receiver.deliveries] },
    };
    violations = check(recorder.history, observed, LIMITS);
    const couriers = courierFindings(recorder.history, COURIERS, LIMITS);

    const refused = observed.events.received.filter((delivery) => !delivery.accepted).length;
    const eventsLine = `events: ${observed.events.committed.length} committed; webhook attempts received ${observed.events.received.length} (${refused} answered 500 on purpose)`;
    const totals = `${formatTotals(recorder.history, observed, violations, {
      wallMs: performance.now() - started,
      runMs,
      planned: workload.planned,
      nemesis: nemesis.committed,
      skipped: nemesis.skipped,
      pausedHolderOverlaps: couriers.pausedHolderOverlaps,
      survivorOutages: nemesis.survivorOutages,
    })}
${eventsLine}`;
    const report = [
      `seed ${options.seed}`,
      '',
      'timeline',
      ...recorder.history.timeline.map(formatEntry),
      '',
      'totals',
      totals,
      ...(violations.length
        ? [
            '',
            'violations',
            ...violations.map((violation) => `${formatViolation(violation, recorder.history, observed, LEASE_MS)}\n`),
          ]
        : []),
      ...(owedAtEnd.length ? ['', 'deliveries still owed, with their jobs', ...owedAtEnd] : []),
    ].join('\n');
    await keepRun(dir, recorder.history, observed, violations, report);
    console.log(`\ntotals\n${totals}`);
    if (owedAtEnd.length) console.log(`\ndeliveries still owed, with their jobs\n${owedAtEnd.join('\n')}`);
    if (violations.length)
      console.log(
        `\nviolations\n${formatViolations(violations, (violation) => formatViolation(violation, recorder.history, observed, LEASE_MS), join(dir, 'report.txt'))}`,
      );
  } finally {
    await supervisor?.stopAll(5000);
    await receiver?.close();
    if (postgres) console.log(await postgres.close(violations === undefined || violations.length > 0));
  }
  const found = violations?.length ?? 0;
  console.log(`\nseed ${options.seed}: ${found} violation${found === 1 ? '' : 's'}; the run is in ${dir}`);
  return found > 0 ? 1 : 0;
}

const parsed = parseOptions(process.argv.slice(2), process.env);
if (!parsed.ok) {
  process.stderr.write(`${parsed.message}\n${USAGE}\n`);
  process.exit(2);
}
const { options } = parsed;
console.log(
  `chaos: seed ${options.seed} (its plan again: npm run chaos -- --seconds ${options.seconds} --seed ${options.seed})`,
);
const started = performance.now();
// Exit at once: a connection to an instance the nemesis left half-open must not keep the harness waiting.
process.exit(
  await chaos(options, started).catch((error: unknown) => {
    console.error(`the harness itself failed: ${(error as Error).stack ?? String(error)}`);
    return 1;
  }),
);
