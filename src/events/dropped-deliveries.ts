/**
 * Deliveries dropped because their client's share of the backlog was full
 * (src/fairness/held-shares.ts), as the operator is told of them: a count per client for
 * the metrics (`webhook_deliveries_dropped_total{client}`), and a warning
 * line per client at most every NOTICE_MS, saying how many went since the
 * last — not one line per delivery: a client whose endpoints all fail at its
 * rate limit dropped 19,871 in 20 s, and a line for each took the log (and
 * the CPU that writes it) from everyone.
 */
import type { Logger } from 'pino';

/** A client's next line about its dropped deliveries comes this long after its last, at the soonest. */
const NOTICE_MS = 10_000;

export class DroppedDeliveries {
  private readonly counts = new Map<string, number>();
  /** Per client: when its last line was written, and how many were dropped since. */
  private readonly unsaid = new Map<string, { at: number; count: number }>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** `count` deliveries of `client` were dropped; `share`: what its share allowed it to hold. */
  dropped(client: string, count: number, share: number): void {
    this.counts.set(client, (this.counts.get(client) ?? 0) + count);
    const at = this.now();
    const last = this.unsaid.get(client);
    if (last && at - last.at < NOTICE_MS) {
      last.count += count;
      return;
    }
    this.unsaid.set(client, { at, count: 0 });
    this.log.warn(
      { client, dropped: count + (last?.count ?? 0), share },
      "webhook deliveries dropped: the client's share of the backlog is full (its endpoints fail or are slow); GET /events still has the events; other clients' deliveries are not affected",
    );
  }

  /** Dropped since start, by client. */
  byClient(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}
