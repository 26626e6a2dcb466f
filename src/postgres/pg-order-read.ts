/**
 * An order's row read as its record (GET /orders/{id}, its timeline, a cancel's answer), by key, on the reads' own
 * connections and with the reads made at the same time (Database.readByKey): what its latest run is, how it ended,
 * the answer kept of it, and who canceled it.
 */
import type { OrderKey } from '../domain/order.js';
import type { Tier } from '../domain/tier.js';
import type { CancelRequest, OrderRecord, OutcomeKind, RecordedOutcome } from '../orders/order-records.js';
import type { OrderResult } from '../pipeline/order-pipeline.js';
import type { Statement } from './database.js';

export const GET_MANY: Statement = {
  name: 'order_get_many',
  text: "SELECT order_id, fingerprint, runs, state, kind, replay, answer, tier, recoveries, canceled_by, canceled_by_key, canceled_at, canceled_run = run AS canceled_this_run FROM orders WHERE order_id = ANY($1::text[]) AND NOT (state = 'done' AND replay_until <= now())",
};

export interface RecordRow {
  readonly order_id: string;
  readonly fingerprint: string;
  readonly runs: number;
  readonly state: 'running' | 'done';
  readonly kind: OutcomeKind | null;
  readonly replay: string | null;
  /** A passing outcome's answer (migration 21): shown, never replayed. */
  readonly answer: string | null;
  readonly tier: Tier | null;
  readonly recoveries: number;
  /** Who marked a run canceled, with which admin key, and when (migration 22); of this run if `canceled_this_run`. */
  readonly canceled_by: string | null;
  readonly canceled_by_key: string | null;
  readonly canceled_at: Date | null;
  readonly canceled_this_run: boolean | null;
}

export function recordOf(key: OrderKey, row: RecordRow): OrderRecord {
  const answered = parseAnswer(row.answer);
  const outcome: RecordedOutcome | undefined =
    row.state === 'done'
      ? { kind: row.kind!, replay: parseAnswer(row.replay), ...(answered ? { answered } : {}) }
      : undefined;
  const canceled = canceledOf(row);
  return {
    key,
    fingerprint: row.fingerprint,
    runs: row.runs,
    state: row.state,
    outcome,
    ...(row.tier ? { tier: row.tier } : {}),
    // Claimed by recovery and running still: resumed (a run it voids is done once claimed).
    ...(row.state === 'running' && row.recoveries > 0 ? { resumed: true as const } : {}),
    ...(canceled ? { canceled } : {}),
  };
}

/** Who canceled the run, while it winds down from the cancel and once it ended canceled (one that failed first was not). */
function canceledOf(row: RecordRow): CancelRequest | undefined {
  if (!row.canceled_this_run || (row.state === 'done' && row.kind !== 'canceled')) return undefined;
  // Written together by the cancel: one set is all set.
  const actorKey = row.canceled_by_key ?? undefined;
  return { actor: row.canceled_by!, ...(actorKey === undefined ? {} : { actorKey }), at: row.canceled_at!.getTime() };
}

/** An answer as stored: JSON text, or NULL for none. */
export const parseAnswer = (text: string | null): OrderResult | undefined =>
  text === null ? undefined : (JSON.parse(text) as OrderResult);
