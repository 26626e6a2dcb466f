/**
 * The vendor's and the courier service's books in Postgres (`service_requests`), shared by every instance: the same
 * rule as the in-memory books, each request one call of a plpgsql function that keeps its invariant (migration 24).
 * A request is sent with the others of its turn, as the provider's charges are.
 *
 * A request that fails — the database down — rejects: the step's gateway says nothing of its effect then
 * (src/threads/effect-gateway.ts), and the step's own record, sent to the same database, fails with it.
 *
 * Counts are this instance's: each request it sent, by its answer.
 */
import type { OrderKey } from '../domain/order.js';
import type { StatementObserver } from '../domain/trace.js';
import type {
  EffectAnswer,
  EffectCaller,
  EffectCounts,
  EffectKey,
  ReceivedEffect,
  ServiceBooks,
} from '../ledger/service-books.js';
import { Batcher, type BatcherOptions } from './batcher.js';
import { asNumber, observedAs, storedKey, type Database, type Statement } from './database.js';

const REQUEST_MANY: Statement = {
  name: 'service_request_many',
  text: 'SELECT answer FROM service_request_many($1, $2, $3, $4, $5) AS answer',
};
const RECEIVED_FOR: Statement = {
  name: 'service_received_for',
  text: `SELECT run, step, fence, instance, answer, received_at FROM service_requests WHERE order_id = $1
          ORDER BY received_at, run, step`,
};

interface Request {
  readonly id: string;
  readonly run: number;
  readonly step: string;
  readonly fence: number;
  readonly instance: string | undefined;
}

interface ReceivedRow {
  readonly run: string;
  readonly step: ReceivedEffect['step'];
  readonly fence: number;
  readonly instance: string | null;
  readonly answer: EffectAnswer;
  readonly received_at: Date;
}

/** Keys locked in one order by every batch. */
const byKey = (a: Request, b: Request): number =>
  a.id < b.id ? -1 : a.id > b.id ? 1 : a.run !== b.run ? a.run - b.run : a.step < b.step ? -1 : a.step > b.step ? 1 : 0;

export class PgServiceBooks implements ServiceBooks {
  private readonly tally: Record<EffectAnswer, number> = { applied: 0, duplicate: 0, stale: 0 };
  private readonly requests: Batcher<Request, { answer: EffectAnswer }>;

  constructor(
    private readonly db: Database,
    batching: Omit<BatcherOptions<never>, 'order' | 'observe'>,
    statements?: StatementObserver,
  ) {
    this.requests = new Batcher<Request, { answer: EffectAnswer }>(
      (calls) =>
        db.query(REQUEST_MANY, [
          calls.map((c) => c.id),
          calls.map((c) => c.run),
          calls.map((c) => c.step),
          calls.map((c) => c.fence),
          calls.map((c) => c.instance ?? null),
        ]),
      { ...batching, order: byKey, observe: observedAs('service_request', statements) },
    );
  }

  async request({ order, run, step }: EffectKey, { fence, instance }: EffectCaller): Promise<EffectAnswer> {
    const { answer } = await this.requests.call({ id: storedKey(order), run, step, fence, instance });
    this.tally[answer]++;
    return answer;
  }

  async receivedFor(order: OrderKey): Promise<readonly ReceivedEffect[]> {
    const rows = await this.db.read<ReceivedRow>(RECEIVED_FOR, [storedKey(order)]);
    return rows.map((row) => ({
      run: asNumber(row.run),
      step: row.step,
      fence: row.fence,
      instance: row.instance ?? undefined,
      answer: row.answer,
      at: row.received_at,
    }));
  }

  counts(): EffectCounts {
    return { ...this.tally };
  }
}
