/**
 * Hostile clients and their victims, over real HTTP: the scenarios of the
 * bulkheads (issue 20) and of what all clients share (issue 25), each driven
 * the same way by the tests that prove them (test/integration/bulkheads.test.ts,
 * shared-isolation.test.ts) and by `npm run measure -- shared-isolation`.
 *
 * A "connection" here is a loop sending one order after another, each when
 * the last was answered (fetch keeps one connection per loop busy).
 */
import { floodFrom } from './flood.js';
import { percentile } from './stats.js';

/** How long a flood from a process of its own goes on past the window it is timed against. */
const FLOOD_MARGIN_MS = 1000;

/** Who sends: the service's address and a client's key (none in open mode). */
export interface Sender {
  readonly url: URL;
  readonly key?: string;
  /** Sent with every order (Order-Tier, say). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface Answer {
  readonly status: number;
  /** When it was sent (performance.now()). */
  readonly sentAt: number;
  readonly ms: number;
  readonly headers: Headers;
  readonly body: {
    readonly error?: { readonly kind: string; readonly message: string };
    readonly steps?: ReadonlyArray<{
      readonly name: string;
      readonly duration_ms: number;
      readonly thread_id?: number;
    }>;
  };
}

let serial = 0;
const runTag = `${process.pid}-${Date.now().toString(36)}`;

/** An order body with an id of its own (starting with `prefix`), and `fields` on top. */
export function freshOrder(fields: Record<string, unknown> = {}, prefix = 'c'): Record<string, unknown> {
  return { order_id: `${prefix}-${runTag}-${++serial}`, amount: 100, ...fields };
}

/** The prefix of the victims' order ids in the scenarios: the thread view tells their steps apart by it. */
export const VICTIM_PREFIX = 'victim';

export async function sendOrder({ url, key, headers }: Sender, body: unknown): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(new URL('/order', url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const parsed = (await response.json()) as Answer['body'];
  return {
    status: response.status,
    sentAt: started,
    ms: performance.now() - started,
    headers: response.headers,
    body: parsed,
  };
}

/**
 * `connections` loops sending `order()` until `until` (performance.now()); every answer. With `perSecond`, no more
 * than that many a second together: a flood far past what the service admits, that does not also take every core
 * (answered at once, an uncapped flood of 40 loops sent some 4,000 a second and kept both cores busy for as long as it
 * lasted; what a flood tests is admission, and a client's rate limit is what answers it on the CPU).
 */
export async function keepSending(
  sender: Sender,
  connections: number,
  until: number,
  order: () => unknown,
  perSecond = Number.POSITIVE_INFINITY,
): Promise<Answer[]> {
  const answers: Answer[] = [];
  const spacingMs = (connections * 1000) / perSecond;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < until) {
        const sentAt = performance.now();
        answers.push(await sendOrder(sender, order()));
        const wait = Math.min(sentAt + spacingMs, until) - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }),
  );
  return answers;
}

/**
 * `order()` sent at `rate` a second until `until`, each on schedule whether
 * or not the ones before were answered (an open loop: a flood does not wait
 * for the service); every answer.
 */
export async function sendAtRate(sender: Sender, rate: number, until: number, order: () => unknown): Promise<Answer[]> {
  const sent: Array<Promise<Answer | undefined>> = [];
  const started = performance.now();
  for (let n = 0; performance.now() < until; n++) {
    sent.push(sendOrder(sender, order()).catch(() => undefined));
    const wait = started + ((n + 1) * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return (await Promise.all(sent)).filter((answer): answer is Answer => answer !== undefined);
}

/** What a victim's orders got. */
export interface VictimFigures {
  readonly orders: number;
  /** Share answered 200. */
  readonly ok: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  /** Statuses other than 200, by status. */
  readonly others: Readonly<Record<string, number>>;
  /** The same answers by status and error kind, with one message of each: what a failing bound shows of its cause. */
  readonly refusals: Readonly<Record<string, { readonly count: number; readonly message: string }>>;
  /**
   * The three slowest answers, each with its steps' times: which step a failing latency bound waited in; with `beside`,
   * also how many of another client's orders were answered while it waited (a wave of their ends is work on the
   * instance, not a courier's wait).
   */
  readonly slowest: readonly string[];
}

export function victimFigures(answers: readonly Answer[], beside?: readonly Answer[]): VictimFigures {
  const besideEnds = beside?.map((other) => other.sentAt + other.ms);
  const sorted = answers.map((answer) => answer.ms).sort((a, b) => a - b);
  const others: Record<string, number> = {};
  const refusals: Record<string, { count: number; message: string }> = {};
  for (const { status, body } of answers) {
    if (status === 200) continue;
    others[status] = (others[status] ?? 0) + 1;
    const key = `${status} ${body.error?.kind ?? '(no kind)'}`;
    const seen = (refusals[key] ??= { count: 0, message: body.error?.message ?? '' });
    seen.count++;
  }
  return {
    orders: answers.length,
    ok: answers.filter((answer) => answer.status === 200).length / Math.max(1, answers.length),
    medianMs: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    others,
    refusals,
    slowest: [...answers]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 3)
      .map(({ sentAt, ms, status, body }) => {
        const steps = (body.steps ?? [])
          .map((step) => `${step.name} ${step.duration_ms} ms on thread ${step.thread_id ?? '?'}`)
          .join(', ');
        const meanwhile = besideEnds?.filter((end) => end >= sentAt && end <= sentAt + ms).length;
        return `${Math.round(ms)} ms, ${status}: ${steps}${meanwhile === undefined ? '' : `; ${meanwhile} of the other client's orders answered meanwhile`}`;
      }),
  };
}

/**
 * How much longer an answer's courier step took than the slower of its payment and vendor steps: its wait for a
 * courier, when the three were asked to last alike. They are dispatched together and wait alike for a thread and for
 * the machine, but only the courier step waits for a courier; so this is the wait a courier share bounds, where the
 * order's latency also holds a busy machine's delays before any step. NaN for an answer without steps.
 */
export function courierWaitMs({ body }: Answer): number {
  const took = (name: string): number => body.steps?.find((step) => step.name === name)?.duration_ms ?? Number.NaN;
  return took('courier') - Math.max(took('payment'), took('vendor'));
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Couriers held: the greedy client's `connections` keep orders whose courier
 * step lasts `courierMs` (longer than the order's deadline: each holds its
 * slot until the deadline cancels it); after `settleMs`, the victim sends
 * ordinary orders (default delays) on `victimConnections` for `seconds`.
 */
export async function courierHog(
  greedy: Sender,
  victim: Sender,
  { connections = 10, courierMs = 60_000, victimConnections = 2, seconds = 8, settleMs = 1500 } = {},
): Promise<{ victim: VictimFigures; greedy: VictimFigures }> {
  const until = performance.now() + settleMs + seconds * 1000;
  const hog = keepSending(greedy, connections, until, () => freshOrder({ delay_ms: { courier: courierMs } }));
  await pause(settleMs);
  const victims = await keepSending(victim, victimConnections, until, () => freshOrder({}, VICTIM_PREFIX));
  return { victim: victimFigures(victims), greedy: victimFigures(await hog) };
}

/**
 * Thread time held: the victim's orders with `delayMs` on every step, sent
 * one at a time, first alone for `seconds`, then while the greedy client's
 * `connections` keep orders whose payment computes `cpuMs`.
 */
export async function cpuHog(
  greedy: Sender,
  victim: Sender,
  { connections = 4, cpuMs = 10_000, delayMs = 20, seconds = 4, settleMs = 1000 } = {},
): Promise<{ alone: VictimFigures; withHog: VictimFigures }> {
  const victimOrder = (): Record<string, unknown> =>
    freshOrder({ delay_ms: { payment: delayMs, vendor: delayMs, courier: delayMs } }, VICTIM_PREFIX);
  const alone = await keepSending(victim, 1, performance.now() + seconds * 1000, victimOrder);
  const until = performance.now() + settleMs + seconds * 1000;
  const hog = keepSending(greedy, connections, until, () => freshOrder({ cpu_ms: { payment: cpuMs } }));
  await pause(settleMs);
  const withHog = await keepSending(victim, 1, until, victimOrder);
  await hog;
  return { alone: victimFigures(alone), withHog: victimFigures(withHog) };
}

/** How the admin switches a dependency's simulated outage: `admin` is the admin's sender. */
export async function switchOutage(admin: Sender, dependency: string, outage: Record<string, unknown>): Promise<void> {
  const response = await fetch(new URL(`/admin/dependencies/${dependency}`, admin.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(admin.key ? { authorization: `Bearer ${admin.key}` } : {}) },
    body: JSON.stringify(outage),
  });
  if (response.status !== 200) throw new Error(`switching ${dependency}'s outage: ${response.status}`);
}

/** The state of a dependency's breaker, as the admin reads it. */
export async function breakerState(admin: Sender, dependency: string): Promise<string | undefined> {
  const response = await fetch(new URL('/admin/dependencies', admin.url), {
    headers: admin.key ? { authorization: `Bearer ${admin.key}` } : {},
  });
  if (response.status !== 200) throw new Error(`reading the breakers: ${response.status} ${await response.text()}`);
  const { dependencies } = (await response.json()) as {
    dependencies: Array<{ dependency: string; breaker: { state: string } | null }>;
  };
  return dependencies.find((each) => each.dependency === dependency)?.breaker?.state;
}

/**
 * A slow vendor (`latencyMs`, no failures) and an attacker whose orders ask a vendor delay of `attackDelayMs`, just
 * short of the deadline, so that the deadline falls inside the vendor's latency: `rate` a second. The victim sends
 * ordinary orders at 5 a second after `settleMs`, for `seconds`. Also whether the vendor's breaker ever opened.
 */
export async function slowVendorDeadlines(
  attacker: Sender,
  victim: Sender,
  admin: Sender,
  { latencyMs = 300, attackDelayMs = 1900, rate = 20, seconds = 6, settleMs = 1500 } = {},
): Promise<{ victim: VictimFigures; opened: boolean }> {
  await switchOutage(admin, 'vendor', { outage: true, failure_ratio: 0, latency_ms: latencyMs });
  let opened = false;
  const until = performance.now() + settleMs + seconds * 1000;
  const watch = (async () => {
    while (performance.now() < until) {
      if ((await breakerState(admin, 'vendor')) !== 'closed') opened = true;
      await pause(100);
    }
  })();
  const attack = sendAtRate(attacker, rate, until, () => freshOrder({ delay_ms: { vendor: attackDelayMs } }));
  await pause(settleMs);
  const victims = await sendAtRate(victim, 5, until, () => freshOrder({}, VICTIM_PREFIX));
  await Promise.all([attack, watch]);
  await switchOutage(admin, 'vendor', { outage: false });
  return { victim: victimFigures(victims), opened };
}

/**
 * A vendor outage opens its breaker; then the outage ends, while an attacker's orders try to hold the half-open
 * probe: each waits `holdMs` on the vendor and ends first with a declined payment, so its vendor step says nothing
 * (`rate` a second). The victim sends ordinary orders at 5 a second throughout; its figures are those sent from
 * `openMs` + 5 s after the outage ended, for `seconds`.
 */
export async function probeHold(
  attacker: Sender,
  victim: Sender,
  admin: Sender,
  { openMs = 1000, holdMs = 1800, rate = 20, seconds = 6 } = {},
): Promise<{ victim: VictimFigures }> {
  await switchOutage(admin, 'vendor', { outage: true, failure_ratio: 1, latency_ms: 0 });
  const deadline = performance.now() + 20_000;
  while ((await breakerState(admin, 'vendor')) !== 'open') {
    if (performance.now() > deadline) throw new Error("the vendor's breaker did not open in 20 s of an outage");
    await sendOrder(victim, freshOrder({}, VICTIM_PREFIX));
  }
  const attackUntil = performance.now() + openMs + 5000 + seconds * 1000;
  const attack = sendAtRate(attacker, rate, attackUntil, () =>
    freshOrder({ fail_step: 'payment', delay_ms: { payment: holdMs, vendor: holdMs + 100 } }),
  );
  await pause(200);
  await switchOutage(admin, 'vendor', { outage: false });
  const ended = performance.now();
  // The victim keeps sending while the breaker should be closing; only what it sends after that is counted.
  await sendAtRate(victim, 5, ended + openMs + 5000, () => freshOrder({}, VICTIM_PREFIX));
  const victims = await sendAtRate(victim, 5, attackUntil, () => freshOrder({}, VICTIM_PREFIX));
  await attack;
  return { victim: victimFigures(victims) };
}

/** What a trickling socket sends: its first bytes, then `trickle` every while, never finishing its request. */
export interface Trickle {
  readonly opening: (host: string) => string;
  readonly trickle: string;
}

/** A keyless request's first lines, then a header line at a time. */
export const HEADERS_TRICKLE: Trickle = {
  opening: (host) => `POST /order HTTP/1.1\r\nHost: ${host}\r\n`,
  trickle: 'X-Trickle: 1\r\n',
};

/** A probe first (`GET /healthz`, which needs no key), answered; then, on the same connection, as HEADERS_TRICKLE. */
export const PROBE_THEN_HEADERS_TRICKLE: Trickle = {
  opening: (host) => `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\nPOST /order HTTP/1.1\r\nHost: ${host}\r\n`,
  trickle: HEADERS_TRICKLE.trickle,
};

/** An order's headers, with a valid `key`, whole; then its body a byte at a time. */
export function bodyTrickle(key: string): Trickle {
  return {
    opening: (host) =>
      `POST /order HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`,
    trickle: ' ',
  };
}

/**
 * Sockets that never finish a request: `sockets` of them kept open (each reopened when closed), each sending what
 * `trickle` opens with and then its trickle every `trickleMs` — keyless headers by default (HEADERS_TRICKLE). The
 * victim sends ordinary orders at 5 a second after `settleMs`, for `seconds`.
 */
export async function tricklingSockets(
  service: URL,
  victim: Sender,
  { sockets = 320, trickleMs = 500, seconds = 6, settleMs = 1500, trickle = HEADERS_TRICKLE } = {},
): Promise<{ victim: VictimFigures; reopened: number }> {
  const { connect } = await import('node:net');
  const until = performance.now() + settleMs + seconds * 1000;
  let reopened = 0;
  const open = new Set<import('node:net').Socket>();
  const keepOne = (): void => {
    if (performance.now() >= until) return;
    const socket = connect(Number(service.port), service.hostname);
    open.add(socket);
    socket.on('error', () => {});
    socket.once('connect', () => socket.write(trickle.opening(service.host)));
    const every = setInterval(() => socket.write(trickle.trickle), trickleMs);
    socket.once('close', () => {
      clearInterval(every);
      open.delete(socket);
      reopened++;
      keepOne();
    });
  };
  for (let i = 0; i < sockets; i++) keepOne();
  await pause(settleMs);
  const victims = await sendAtRate(victim, 5, until, () => freshOrder({}, VICTIM_PREFIX));
  for (const socket of open) socket.destroy();
  return { victim: victimFigures(victims), reopened };
}

/**
 * Busy keys: each of `busy` keeps `connections` orders of `holdMs` in flight (more than its share of MAX_INFLIGHT,
 * so that together they would take all of it); after `settleMs` the victim sends 1 ms orders at `rate` a second for
 * `seconds`. `hog` and `victimOrder`, if given, are the fields of the busy keys' orders and the victim's instead: what
 * they hold (couriers, turns of thread time). Each busy key sends from a process of its own (flood.ts), as from
 * another machine: from the measuring process, their fetches and answers shared the event loop of a service run in
 * the test's process, and the victim's 1 ms orders took 600–800 ms outside their steps on a busy machine.
 */
export async function busyKeys(
  busy: readonly Sender[],
  victim: Sender,
  {
    connections = 12,
    holdMs = 1500,
    rate = 10,
    seconds = 6,
    settleMs = 1500,
    hog = { delay_ms: { payment: holdMs, vendor: holdMs, courier: 1 } },
    victimOrder = { delay_ms: { payment: 1, vendor: 1, courier: 1 } },
    perSecond,
  }: {
    connections?: number;
    holdMs?: number;
    rate?: number;
    seconds?: number;
    settleMs?: number;
    hog?: Record<string, unknown>;
    victimOrder?: Record<string, unknown>;
    /** Each busy key's orders a second at most (keepSending's cap); uncapped by default. */
    perSecond?: number;
  } = {},
): Promise<{ victim: VictimFigures; answers: Answer[] }> {
  // Past the victim's window by a margin: the floods' processes start one after another, each its `ms` from then.
  const floods = busy.map((sender) =>
    floodFrom(sender, {
      connections,
      ms: settleMs + seconds * 1000 + FLOOD_MARGIN_MS,
      tier: '',
      perSecond: perSecond ?? 0,
      fields: hog,
    }),
  );
  await Promise.all(floods.map((flood) => flood.started));
  await pause(settleMs);
  const until = performance.now() + seconds * 1000;
  const victims = await sendAtRate(victim, rate, until, () => freshOrder(victimOrder, VICTIM_PREFIX));
  await Promise.all(floods.map((flood) => flood.figures));
  return { victim: victimFigures(victims), answers: victims };
}

/**
 * Couriers held across instances (INSTANCES=2 on Postgres, where COURIERS is global and each instance lends the
 * slots it holds): the victim's ordinary orders at `rate` a second, alone and beside the greedy client's `connections`
 * keeping orders whose courier step lasts `courierMs` (just within the deadline), in `rounds` that alternate — alone,
 * then the hog, its first `settleMs` not counted — `seconds` of each in all; `warmUpMs` of the victim's orders first,
 * not counted. Alternated, a machine that is busier for a while (another process's burst) weighs on both figures
 * alike, not on whichever phase it fell in. Both clients' orders share fetch's pool of keep-alive connections, which
 * the primary deals out to the instances in turn: each client reaches every instance.
 */
export async function couriersAcrossInstances(
  greedy: Sender,
  victim: Sender,
  { connections = 20, courierMs = 1900, rate = 5, seconds = 6, rounds = 1, settleMs = 3000, warmUpMs = 1500 } = {},
): Promise<{
  alone: VictimFigures;
  withHog: VictimFigures;
  greedy: VictimFigures;
  answers: { alone: readonly Answer[]; withHog: readonly Answer[] };
}> {
  // Three steps of one length, so that each answer tells its wait for a courier (courierWaitMs).
  const victimOrder = (): Record<string, unknown> =>
    freshOrder({ delay_ms: { payment: 100, vendor: 100, courier: 100 } }, VICTIM_PREFIX);
  const phaseMs = (seconds * 1000) / rounds;
  // Not counted: a fresh cluster's first orders open its connections and compile its code.
  await sendAtRate(victim, rate, performance.now() + warmUpMs, victimOrder);
  const alone: Answer[] = [];
  const withHog: Answer[] = [];
  const hogAnswers: Answer[] = [];
  for (let round = 0; round < rounds; round++) {
    alone.push(...(await sendAtRate(victim, rate, performance.now() + phaseMs, victimOrder)));
    const until = performance.now() + settleMs + phaseMs;
    const hog = keepSending(greedy, connections, until, () => freshOrder({ delay_ms: { courier: courierMs } }));
    await pause(settleMs);
    withHog.push(...(await sendAtRate(victim, rate, until, victimOrder)));
    // Every hog order answered, its courier back, before the victim is alone again.
    hogAnswers.push(...(await hog));
  }
  // The hog's orders end in waves (each waits out its deadline in the couriers' line, and is sent again at once): the
  // victim's slowest say how many ended while they waited.
  return {
    alone: victimFigures(alone),
    withHog: victimFigures(withHog, hogAnswers),
    greedy: victimFigures(hogAnswers),
    answers: { alone, withHog },
  };
}

/**
 * A flood of the event loop: `connections` sockets sending `GET /orders/x` — without a key (issue 77), or with
 * `key` — `pipelined` at a time, the next as soon as they are answered, from a worker thread (loop-flood-worker.ts),
 * as from another machine. After `settleMs` the victim sends ordinary orders at 5 a second for `seconds`. What the
 * victim got, and the flood's statuses.
 */
export async function loopFlood(
  service: URL,
  victim: Sender,
  {
    connections = 1000,
    pipelined = 8,
    seconds = 5,
    settleMs = 2000,
    key,
  }: { connections?: number; pipelined?: number; seconds?: number; settleMs?: number; key?: string } = {},
): Promise<{ victim: VictimFigures; refusedByTier: number; flood: Record<string, number> }> {
  const { Worker } = await import('node:worker_threads');
  const { compiledModule } = await import('../../src/paths.js');
  const { once } = await import('node:events');
  const worker = new Worker(compiledModule('load/lib/loop-flood-worker'), {
    workerData: { url: service.href, connections, pipelined, ms: settleMs + seconds * 1000, key },
  });
  const exited = once(worker, 'exit');
  const statuses = once(worker, 'message') as Promise<[Record<string, number>]>;
  await pause(settleMs);
  const victims = await sendAtRate(victim, 5, performance.now() + seconds * 1000, () => freshOrder({}, VICTIM_PREFIX));
  const [flood] = await statuses;
  await worker.terminate();
  await exited;
  const refusedByTier = victims.filter(
    (answer) => answer.status === 503 && /tier \w+ is shed/.test(answer.body.error?.message ?? ''),
  ).length;
  return { victim: victimFigures(victims), refusedByTier, flood };
}
