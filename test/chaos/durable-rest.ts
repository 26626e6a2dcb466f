/**
 * What durable-check.ts checks, read at rest: each order's runs as Postgres
 * holds them (its latest run, its end and takeovers, the provider's books of
 * every run, its `order_steps` rows, the requests the vendor's and the
 * courier service's books received), and each takeover that resumed a run,
 * from the line its instance wrote (src/postgres/recovery.ts). Times on the
 * harness's clock: milliseconds since `startedAtMs`, the run's start.
 */
import type { EffectRecord, OrderBooks, RunMoney, StepRecord, Takeover } from './durable-check.js';
import { serviceLines } from './log-lines.js';
import type { ChaosPostgres } from './postgres.js';

/** What src/postgres/recovery.ts writes when it resumes a run taken over. */
const RESUMED = 'resumed after its recorded steps';
/** Orders are filed under their client's key; the harness's clients are the one anonymous client (open mode). */
const CLIENT = 'anonymous:';
const ORDER_ID = `substr(order_id, ${CLIENT.length + 1}) AS order_id`;

function grouped<T extends { readonly order_id: string }>(rows: readonly T[]): Map<string, T[]> {
  const byOrder = new Map<string, T[]>();
  for (const row of rows) byOrder.set(row.order_id, [...(byOrder.get(row.order_id) ?? []), row]);
  return byOrder;
}

export async function readBooks(
  postgres: ChaosPostgres,
  orderIds: readonly string[],
  startedAtMs: number,
): Promise<Map<string, OrderBooks>> {
  const keys = orderIds.map((id) => `${CLIENT}${id}`);
  const [orders, payments, steps, effects] = await Promise.all([
    postgres.query<{ order_id: string; run: string; finished_at_ms: number | null; recoveries: number }>(
      `SELECT ${ORDER_ID}, run::text, extract(epoch FROM finished_at)::float8 * 1000 AS finished_at_ms, recoveries
         FROM orders WHERE order_id = ANY($1)`,
      [keys],
    ),
    postgres.query<{ order_id: string; run: string; charged: string; refunded: string }>(
      `SELECT ${ORDER_ID}, run::text, charged::text, refunded::text FROM provider_payments WHERE order_id = ANY($1)`,
      [keys],
    ),
    postgres.query<{ order_id: string; run: string; step: string; attempt: number; outcome: string }>(
      `SELECT ${ORDER_ID}, run::text, step, attempt, outcome FROM order_steps WHERE order_id = ANY($1)`,
      [keys],
    ),
    postgres.query<{ order_id: string; run: string; step: string; answer: EffectRecord['answer'] }>(
      `SELECT ${ORDER_ID}, run::text, step, answer FROM service_requests WHERE order_id = ANY($1)
        ORDER BY received_at`,
      [keys],
    ),
  ]);
  const effectsById = grouped(effects);
  const ordersById = new Map(orders.map((row) => [row.order_id, row]));
  const paymentsById = grouped(payments);
  const stepsById = grouped(steps);
  const books = new Map<string, OrderBooks>();
  for (const orderId of new Set([...ordersById.keys(), ...paymentsById.keys(), ...effectsById.keys()])) {
    const order = ordersById.get(orderId);
    books.set(orderId, {
      run: order === undefined ? null : Number(order.run),
      finishedAtMs: order === undefined || order.finished_at_ms === null ? null : order.finished_at_ms - startedAtMs,
      recoveries: order?.recoveries ?? 0,
      payments: (paymentsById.get(orderId) ?? []).map((row): RunMoney => ({
        run: Number(row.run),
        charged: Number(row.charged),
        refunded: Number(row.refunded),
      })),
      steps: (stepsById.get(orderId) ?? []).map((row): StepRecord => ({
        run: Number(row.run),
        step: row.step,
        attempt: row.attempt,
        outcome: row.outcome,
      })),
      effects: (effectsById.get(orderId) ?? []).map((row): EffectRecord => ({
        run: Number(row.run),
        step: row.step,
        answer: row.answer,
      })),
    });
  }
  return books;
}

/** Each takeover that resumed a run, from the instances' output (a line lost with a SIGKILLed process is not seen). */
export async function readTakeovers(logFiles: readonly string[], startedAtMs: number): Promise<Takeover[]> {
  const lines = await serviceLines(logFiles, RESUMED);
  return lines.flatMap((line) =>
    typeof line.order_id === 'string' &&
    typeof line.run_key === 'number' &&
    typeof line.recoveries === 'number' &&
    typeof line.steps_done === 'number'
      ? [
          {
            orderId: line.order_id,
            run: line.run_key,
            recoveries: line.recoveries,
            stepsDone: line.steps_done,
            atMs: (line.time ?? startedAtMs) - startedAtMs,
          },
        ]
      : [],
  );
}
