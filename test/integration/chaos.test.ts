/**
 * Chaos: thousands of orders on two threads, with every fault a step or its
 * refund can commit, clients that hang up mid-order and retry at once, and
 * duplicates sent side by side. Afterwards the money is where it belongs for
 * every single order, nothing is left running or held, no client that stayed
 * connected was answered 499, the last answer each client heard is its
 * order's record (unless a copy it hung up on arrived after that answer and
 * ran: the network may deliver a copy seconds late), and the service still
 * serves.
 *
 * The mix is drawn from a seeded generator (the seed is in the test's name),
 * so a failure can be replayed.
 */
import { describe, expect, it } from 'vitest';
import { FAULT_TARGETS, FAULTS } from '../../src/domain/faults.js';
import { expectAtRest } from '../support/leaks.js';
import { captureLog } from '../support/log-capture.js';
import { startTestService, type TestService } from '../support/service.js';
import { mulberry32 as random } from '../support/random.js';
import { pause } from '../support/wait.js';
import { STEP_NAMES } from '../../src/domain/steps.js';
import { readFollowingRetryAfter } from '../support/http.js';

const SEED = Number(process.env['CHAOS_SEED'] ?? 20261122);
const ORDERS = 1200;
const CLIENTS = 40;
const AMOUNT = 1200;

interface Plan {
  readonly body: Record<string, unknown>;
  /** Hang up this many ms after sending, then send it again at once. */
  readonly hangUpAfterMs: number | undefined;
  /** Send a second copy alongside the first. */
  readonly duplicate: boolean;
}

function planOrders(rand: () => number): Plan[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const ms = (max: number): number => Math.floor(rand() * (max + 1));
  return Array.from({ length: ORDERS }, (_, i) => {
    const faulty = rand() < 0.05;
    const target = pick(FAULT_TARGETS);
    // A refund runs only when its order fails after paying: make it so.
    const failStep = faulty && target === 'refund' ? 'vendor' : rand() < 0.15 ? pick(STEP_NAMES) : undefined;
    const body: Record<string, unknown> = {
      order_id: `chaos-${SEED}-${i}`,
      amount: AMOUNT,
      delay_ms: { payment: ms(20), vendor: ms(20), courier: ms(20), refund: ms(10) },
      cpu_ms: { payment: ms(2), vendor: 0, courier: 0 },
      ...(failStep ? { fail_step: failStep } : {}),
      ...(rand() < 0.03 ? { fail_compensation: true } : {}),
      ...(faulty ? { faults: { [target]: pick(FAULTS) } } : {}),
    };
    const roll = rand();
    return { body, hangUpAfterMs: roll < 0.1 ? ms(15) : undefined, duplicate: roll > 0.95 };
  });
}

interface Answer {
  readonly orderId: string;
  readonly status: number;
  /** Sent as X-Request-Id: the request's log line says the same. */
  readonly requestId: string;
}

/** Each request a client sent, as the client saw it. */
interface Sent {
  readonly orderId: string;
  readonly requestId: string;
  /** When the request left and when its answer (or the hang-up) came, in the log's clock (Date.now()). */
  readonly at: number;
  readonly ended: number;
  readonly heard: number | 'hung up';
}

let sends = 0;

async function send(
  service: TestService,
  body: Record<string, unknown>,
  timeline: Sent[],
  hangUpAfterMs?: number,
): Promise<Answer | 'hung up'> {
  const orderId = body['order_id'] as string;
  const requestId = `${orderId}.${sends++}`;
  const at = Date.now();
  const signal = hangUpAfterMs === undefined ? undefined : AbortSignal.timeout(hangUpAfterMs);
  let heard: Answer | 'hung up';
  try {
    const { status } = await service.order(body, { requestId, ...(signal ? { signal } : {}) });
    heard = { orderId, requestId, status };
  } catch (error) {
    if (!signal?.aborted) throw error;
    heard = 'hung up';
  }
  timeline.push({ orderId, requestId, at, ended: Date.now(), heard: heard === 'hung up' ? heard : heard.status });
  return heard;
}

interface OrderStatusJson {
  state: string;
  runs: number;
  outcome: { http_status: number; kind: string } | null;
  payment: { charged: number; refunded: number };
}

describe(`chaos (seed ${SEED})`, () => {
  it(
    `${ORDERS} orders with every fault, hang-ups, retries and duplicates on THREADS=2: the money balances for each, nothing is left behind`,
    { timeout: 180_000 },
    async () => {
      const log = captureLog();
      const service = await startTestService({
        config: {
          threads: 2,
          couriers: 4,
          orderTimeoutMs: 600,
          cancelGraceMs: 100,
          refundTimeoutMs: 300,
          threadMaxHeapMb: 32,
        },
        logger: log.logger,
      });
      try {
        const plans = planOrders(random(SEED));
        const answers: Answer[] = [];
        const timeline: Sent[] = [];
        let next = 0;
        const client = async (): Promise<void> => {
          for (let i = next++; i < plans.length; i = next++) {
            const { body, hangUpAfterMs, duplicate } = plans[i]!;
            const sent = [
              send(service, body, timeline, hangUpAfterMs),
              ...(duplicate ? [send(service, body, timeline)] : []),
            ];
            for (const answer of await Promise.all(sent)) if (answer !== 'hung up') answers.push(answer);
            // A client that hung up retries at once, and stays.
            if (hangUpAfterMs !== undefined) answers.push((await send(service, body, timeline)) as Answer);
          }
        };
        await Promise.all(Array.from({ length: CLIENTS }, client));

        // Nobody who stayed to hear the answer was told 499.
        expect(answers.filter(({ status }) => status === 499)).toEqual([]);
        await expectAtRest(service, 2);

        const broken: string[] = [];
        const kinds = new Map<string, number>();
        // The last answer a client heard is the one that reached it last, not the one it sent last: of two copies sent
        // side by side, the first may reach the service after the second was answered, and run the order again (seen:
        // a copy accepted 1.9 s after it left, behind a timed-out run it then retried).
        const lastAnswer = new Map<string, Answer>();
        // The timeline is in the order the answers came.
        for (const { orderId, requestId, heard } of timeline)
          if (heard !== 'hung up') lastAnswer.set(orderId, { orderId, requestId, status: heard });
        // Each request's line: when it was answered, and when it arrived (its time less its duration).
        const requestLines = new Map(
          log.lines
            .filter((line) => typeof line['duration_ms'] === 'number')
            .map((line) => {
              const answeredAt = Number(line['time']);
              return [
                line['request_id'],
                { answeredAt, arrivedAt: answeredAt - Number(line['duration_ms']), status: line['status'] },
              ];
            }),
        );
        let lateCopies = 0;
        const decidedByLateCopy = (last: Answer, record: OrderStatusJson): boolean => {
          const lastAnsweredAt = requestLines.get(last.requestId)?.answeredAt ?? Infinity;
          return timeline.some(({ orderId, requestId, heard }) => {
            const line = requestLines.get(requestId);
            return (
              orderId === last.orderId &&
              heard === 'hung up' &&
              line !== undefined &&
              line.arrivedAt > lastAnsweredAt &&
              line.status === record.outcome?.http_status
            );
          });
        };
        for (const { body } of plans) {
          const orderId = body['order_id'] as string;
          const record = (await (
            await readFollowingRetryAfter(new URL(`/orders/${orderId}`, service.url))
          ).json()) as OrderStatusJson;
          const kind = record.outcome?.kind ?? 'none';
          kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
          const net = record.payment.charged - record.payment.refunded;
          const say = (what: string): number => broken.push(`${orderId}: ${what} (${JSON.stringify(record)})`);
          if (record.state !== 'done' || record.outcome === null) say('not done');
          else if (kind === 'ok' && net !== AMOUNT) say('a 200 without its amount taken');
          else if (
            kind === 'ok' &&
            record.runs === 1 &&
            (record.payment.charged !== AMOUNT || record.payment.refunded !== 0)
          )
            say('run once, yet charged or refunded more than once');
          else if (
            kind === 'compensation_failed' &&
            !log.lines.some((line) => line['order_id'] === orderId && line['level'] === 50)
          )
            say('compensation_failed with no error line');
          else if (kind !== 'ok' && kind !== 'compensation_failed' && net !== 0) say('failed, yet money taken');
          // The last answer a client heard is the order's outcome, unless a request it had hung up on reached the
          // service only after that answer was written, and ran: a copy late in the network (the client's kernel
          // still delivers what it sent). Seen: a connection accepted 2.7 s after its client hung up, its order run
          // again and answered to no one. Then the record is that copy's answer.
          const last = lastAnswer.get(orderId);
          if (last && last.status !== record.outcome?.http_status) {
            if (decidedByLateCopy(last, record)) lateCopies++;
            else say(`last answered ${last.status}`);
          }
        }
        // What a broken order went through, to read in the failure: its clients' requests as they saw them, and its
        // log lines (a race seen once, beside busy loops, must be readable from the one run that showed it). Times are
        // ms after the order's first request left; a request line's arrival is its time less its duration.
        const historyOf = (orderId: string): string => {
          const sent = timeline.filter((request) => request.orderId === orderId);
          const t0 = Math.min(...sent.map(({ at }) => at));
          return [
            `${orderId}:`,
            ...sent.map(
              ({ requestId, at, ended, heard }) => `${requestId} sent at +${at - t0}, ${heard} at +${ended - t0}`,
            ),
            ...log.lines
              .filter((line) => String(line['request_id']).startsWith(`${orderId}.`))
              .map(({ time, msg, status, kind, steps, via, request_id, duration_ms }) =>
                JSON.stringify({ t: Number(time) - t0, msg, status, kind, steps, via, request_id, duration_ms }),
              ),
          ].join('\n');
        };
        expect(broken, broken.map((line) => historyOf(line.slice(0, line.indexOf(':')))).join('\n')).toEqual([]);
        // The mix did what it is for: threads were lost, payments voided, orders failed every way.
        const health = await service.health();
        console.info(
          `chaos seed ${SEED}: ${answers.length} answers, ${health.threads_replaced} threads replaced, outcomes ${JSON.stringify(Object.fromEntries(kinds))}, ${lateCopies} decided by a late copy`,
        );
        expect(health.threads_replaced).toBeGreaterThan(20);
        expect(kinds.get('ok')).toBeGreaterThan(ORDERS / 3);
        expect(kinds.get('internal')).toBeGreaterThan(0);
        expect(kinds.get('compensation_failed')).toBeGreaterThan(0);
        // And it still serves.
        await pause(100);
        expect(
          (
            await service.order({
              order_id: `after-chaos-${SEED}`,
              amount: 1,
              delay_ms: { payment: 0, vendor: 0, courier: 0 },
            })
          ).status,
        ).toBe(200);
        await expectAtRest(service, 2);
      } finally {
        await service.shutdown();
      }
    },
  );
});
