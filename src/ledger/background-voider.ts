/**
 * The main thread voids a failed order's payment itself when its refund could
 * not: the refund ran on the worker pool and ended without the provider
 * having answered its void — its thread lost twice, or its deadline passed
 * before the void left. A lost thread is the infrastructure's failure, not
 * the provider's refusal, so the money must still go back.
 *
 * The void is asked of the provider at once; an answer (refunded, nothing to
 * refund, refused) settles it. A provider that cannot be asked is asked again,
 * backing off from RETRY_FIRST_MS to RETRY_MAX_MS, for as long as the service
 * runs: a void is never dropped. The provider is idempotent per run, so a
 * void asked twice gives back what the run charged once.
 *
 * In the durable mode it asks once and keeps at nothing (`keepAsking`
 * false): a void the provider did not answer leaves the run in doubt, so its
 * record is not written done but left for recovery, which voids it whoever
 * runs it, durably (src/postgres/recovery.ts). Asking again from here too
 * would only race it — and, with the test switch, be refused where recovery
 * refunds.
 */
import type { Logger } from 'pino';
import type { PaymentKey, PaymentLedger, VoidAnswer } from './payment-ledger.js';
import { orderLogFields } from '../domain/order.js';
import { traceLogFields, type Trace } from '../domain/trace.js';

/** The first retry, and the longest wait between two. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 30_000;
/** From this many failed attempts on, each failure is an error line: a person should know. */
const ATTEMPTS_BEFORE_ALARM = 10;

interface Pending {
  readonly refuse: boolean;
  /** Attempts made so far, the first included. */
  attempts: number;
  timer: NodeJS.Timeout | undefined;
  /** The order's trace id, for the lines written long after its answer. */
  readonly traceFields: { readonly trace_id?: string };
}

export class BackgroundVoider {
  /** Voids not answered yet, by run. */
  private readonly pending = new Map<string, Pending & PaymentKey>();
  /** Attempts that failed (the provider could not be asked), since start. */
  failedAttempts = 0;

  constructor(
    private readonly ledger: PaymentLedger,
    private readonly log: Logger,
    /**
     * Whether an unanswered void is asked again from here; false where the store's recovery voids the run (the durable
     * mode).
     */
    private readonly keepAsking = true,
  ) {}

  /**
   * Void the run's payment. `refuse`: the provider's test switch. Resolves
   * with the provider's answer, or `pending` if it could not be asked: then
   * it is asked again in the background until it answers.
   */
  async void(key: PaymentKey, refuse: boolean, trace?: Trace): Promise<VoidAnswer | 'pending'> {
    const id = idOf(key);
    // Already being asked for: the background attempts will answer.
    if (this.pending.has(id)) return 'pending';
    try {
      return await this.ledger.void(key, refuse);
    } catch (error) {
      this.failedAttempts++;
      const traceFields = trace ? traceLogFields(trace) : {};
      const about = { err: error, ...orderLogFields(key.order), ...traceFields, run: key.run };
      if (!this.keepAsking) {
        this.log.warn(
          about,
          'payment provider unreachable while voiding a failed order; the run is in doubt, recovery voids it',
        );
        return 'pending';
      }
      const entry = { ...key, refuse, attempts: 1, timer: undefined, traceFields };
      this.pending.set(id, entry);
      this.log.warn(about, 'payment provider unreachable while voiding a failed order; asking again in the background');
      this.schedule(id, entry);
      return 'pending';
    }
  }

  /** Voids asked for and not answered yet. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * At shutdown: what could not be voided is named, for a person to give back (in memory, the books go with the
   * process).
   */
  close(): void {
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      this.log.error(
        { ...orderLogFields(entry.order), ...entry.traceFields, run: entry.run, attempts: entry.attempts },
        'shutting down with a failed order whose payment is not voided yet: a person must look',
      );
    }
    this.pending.clear();
  }

  private schedule(id: string, entry: Pending & PaymentKey): void {
    // Jittered, so that voids that failed together are not asked again together.
    const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (entry.attempts - 1));
    entry.timer = setTimeout(() => void this.retry(id, entry), delay * (0.5 + Math.random() / 2));
    // The server keeps the process alive while it serves; this timer alone must not.
    entry.timer.unref();
  }

  private async retry(id: string, entry: Pending & PaymentKey): Promise<void> {
    const about = { ...orderLogFields(entry.order), ...entry.traceFields, run: entry.run };
    entry.attempts++;
    let answer: VoidAnswer;
    try {
      answer = await this.ledger.void(entry, entry.refuse);
    } catch (error) {
      this.failedAttempts++;
      // Closed meanwhile: said so already.
      if (this.pending.get(id) !== entry) return;
      const fields = { ...about, err: error, attempts: entry.attempts };
      if (entry.attempts >= ATTEMPTS_BEFORE_ALARM)
        this.log.error(fields, 'a failed order’s payment still cannot be voided; asking again');
      else this.log.warn(fields, 'payment provider unreachable while voiding a failed order; asking again');
      this.schedule(id, entry);
      return;
    }
    this.pending.delete(id);
    if (answer === 'refused')
      this.log.error(
        { ...about, attempts: entry.attempts },
        'order failed and its payment could not be voided: a person must look',
      );
    else
      this.log.info({ ...about, attempts: entry.attempts, answer }, 'failed order’s payment voided in the background');
  }
}

function idOf({ order, run }: PaymentKey): string {
  return `${run}\u0000${order}`;
}
