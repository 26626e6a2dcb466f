/**
 * Requests that no key identifies, metered per peer address:
 * with keys, each peer may send PER_SECOND of them a second — a 401, a
 * 404, `/version`, the API document (the probes are never metered: a load
 * balancer's health checks come from the same addresses as the traffic it
 * passes on, and must always be answered). Past that, a request waits until
 * its peer's window ends and is answered 429 `rate_limited` with
 * Retry-After, its connection kept: a client that sends a request as soon as
 * the last is answered — as a flood does, on a thousand connections — then
 * sends one a second on each, where it sent as many as the event loop could
 * answer (unmetered, 1,000 connections of `GET /orders/x` put a keyed
 * client's p50 above 10 s). Its connections stay unauthenticated: they give
 * way whenever a keyed client needs room (server.ts). Counted by
 * rate-limiter-flexible (fixed one-second windows), in this instance's memory.
 *
 * What it is told: a warning line per peer every NOTICE_MS at most, with how
 * many were refused since, not a line for each (the requests' own lines are
 * left out); and `flooding`, which src/composition/service.ts uses to keep
 * the event loop's lateness that such traffic causes from shedding keyed
 * clients' orders by tier (src/fairness/tier-headroom.ts).
 */
import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/** Requests no key identifies, a second, from one peer address. */
export const UNAUTHENTICATED_PER_SECOND = 100;
/** A peer's next line about its refused requests comes this long after its last, at the soonest. */
const NOTICE_MS = 10_000;
/**
 * How long after a refusal the keyless traffic still counts as a flood. Metered in one-second windows, a flood's
 * refusals come in waves a second apart (its requests answered 429 at a window's end, sent again at the next), and the
 * lateness that answering a wave leaves is judged over half a second after it (src/composition/loop-lateness.ts): a
 * memory of one second lapsed between two waves, while the loop was still late from the last, and a keyed order was
 * shed by tier.
 */
const FLOOD_MEMORY_MS = 3000;

export class UnauthenticatedMeter {
  private readonly limiter = new RateLimiterMemory({
    points: UNAUTHENTICATED_PER_SECOND,
    duration: 1,
    keyPrefix: 'unauthenticated',
  });
  private lastRefusedAt = -Infinity;
  /** Per peer: when its last line was written, and how many were refused since. */
  private readonly unsaid = new Map<string, { at: number; count: number }>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Count one request of `peer` that no key identifies: undefined within its rate, else how long it is to wait (ms). */
  async take(peer: string): Promise<number | undefined> {
    try {
      await this.limiter.consume(peer);
      return undefined;
    } catch (refused: unknown) {
      // Counts kept in memory are always had: anything else lets the request through.
      if (!(refused instanceof RateLimiterRes)) return undefined;
      this.refused(peer);
      return refused.msBeforeNext;
    }
  }

  /** Whether a request no key identifies was refused within the last second: a keyless flood is under way. */
  get flooding(): boolean {
    return this.now() - this.lastRefusedAt < FLOOD_MEMORY_MS;
  }

  private refused(peer: string): void {
    const at = this.now();
    this.lastRefusedAt = at;
    const last = this.unsaid.get(peer);
    if (last && at - last.at < NOTICE_MS) {
      last.count++;
      return;
    }
    this.unsaid.set(peer, { at, count: 0 });
    this.log.warn(
      { peer, refused: 1 + (last?.count ?? 0), limit: UNAUTHENTICATED_PER_SECOND },
      'requests without a valid API key over their rate from this address: answered 429 after a wait',
    );
    // Peers that have gone quiet are forgotten, so that a scan of addresses leaves nothing behind.
    for (const [other, { at: since }] of this.unsaid) if (at - since > NOTICE_MS) this.unsaid.delete(other);
  }
}
