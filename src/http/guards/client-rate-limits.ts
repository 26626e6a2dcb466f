/**
 * Each client's rate limits, counted by rate-limiter-flexible: its orders
 * (CLIENT_RATE_LIMIT, CLIENT_RATE_LIMITS) on POST /order, and its requests
 * on every other route (CLIENT_REQUEST_RATE_LIMIT), each a limiter of its own
 * (rate-limit.ts asks them): N per window of one second per client — a
 * burst of one second's worth — the window starting at the client's first
 * one in it.
 *
 * Where the counts are kept:
 * - one instance: in its own memory (RateLimiterMemory);
 * - INSTANCES=N on one machine: in the node:cluster primary
 *   (RateLimiterClusterMaster, src/cluster/primary.ts), which every instance
 *   asks over IPC (RateLimiterCluster): one limit per client across the
 *   instances of the machine. Should the primary not answer within
 *   CLUSTER_TIMEOUT_MS, the instance counts alone (an insurance limiter in
 *   its own memory) rather than refuse or wait, and the order's decision
 *   says so (rate-limit.ts logs it, on the order's line of ids): while it
 *   does, a client may pass the limit by what the instances counted alone;
 * - several machines sharing one Postgres: each machine's primary counts on
 *   its own, so a client may send the limit to each machine.
 */
import { RateLimiterCluster, RateLimiterMemory, RateLimiterRes, RLWrapperTimeouts } from 'rate-limiter-flexible';
import type { Logger } from 'pino';
import type { ClientRateLimiter, RateDecision } from './rate-limit.js';

/** How long an instance waits for the primary's count before counting alone. */
const CLUSTER_TIMEOUT_MS = 200;
const WINDOW_SECONDS = 1;

type LimiterOptions = ConstructorParameters<typeof RateLimiterMemory>[0];

/**
 * The insurance limiter, which rate-limiter-flexible asks only when the primary has not answered in time: each answer
 * it gives, allowed or refused, is marked, for `take` to tell the order it was counted alone.
 */
class CountedAlone extends RateLimiterMemory {
  constructor(
    options: LimiterOptions,
    private readonly marked: WeakSet<RateLimiterRes>,
  ) {
    super(options);
  }

  override consume(...args: Parameters<RateLimiterMemory['consume']>): ReturnType<RateLimiterMemory['consume']> {
    return super.consume(...args).then(
      (allowed) => (this.marked.add(allowed), allowed),
      (refused: unknown) => {
        if (refused instanceof RateLimiterRes) this.marked.add(refused);
        throw refused;
      },
    );
  }
}

export type RateStore = 'memory' | 'cluster';

export class ClientRateLimits implements ClientRateLimiter {
  /** One limiter per limit (rate-limiter-flexible counts one number of points per limiter), made on first use. */
  private readonly limiters = new Map<number, Pick<RateLimiterMemory, 'consume'>>();
  /** The answers this instance gave alone (CountedAlone). */
  private readonly countedAlone = new WeakSet<RateLimiterRes>();

  constructor(
    private readonly limitOf: (client: string) => number,
    private readonly store: RateStore,
    private readonly log: Logger,
    /** What it counts, for its keys in the cluster's primary: orders, or requests. */
    private readonly counted: 'orders' | 'requests' = 'orders',
  ) {}

  async take(client: string): Promise<RateDecision | undefined> {
    const limit = this.limitOf(client);
    if (limit === 0) return undefined;
    try {
      const counted = await this.limiterFor(limit).consume(client);
      return {
        limit,
        allowed: true,
        remaining: counted.remainingPoints,
        resetMs: counted.msBeforeNext,
        ...this.alone(counted),
      };
    } catch (refused: unknown) {
      if (refused instanceof RateLimiterRes)
        return { limit, allowed: false, remaining: 0, resetMs: refused.msBeforeNext, ...this.alone(refused) };
      // The counts could not be had (they always can in memory): let the order through rather than refuse it for that.
      this.log.warn({ err: refused, client }, 'rate limit not checked: its counts could not be read');
      return undefined;
    }
  }

  private alone(answer: RateLimiterRes): { countedAloneAfterMs?: number } {
    return this.countedAlone.has(answer) ? { countedAloneAfterMs: CLUSTER_TIMEOUT_MS } : {};
  }

  private limiterFor(points: number): Pick<RateLimiterMemory, 'consume'> {
    let limiter = this.limiters.get(points);
    if (!limiter) {
      // Each limit its own key prefix: the cluster's primary keeps one limiter per prefix.
      const options = { points, duration: WINDOW_SECONDS, keyPrefix: `${this.counted}-per-second-${points}` };
      limiter =
        this.store === 'memory'
          ? new RateLimiterMemory(options)
          : new RLWrapperTimeouts({
              limiter: new RateLimiterCluster(options),
              timeoutMs: CLUSTER_TIMEOUT_MS,
              insuranceLimiter: new CountedAlone(options, this.countedAlone),
            });
      this.limiters.set(points, limiter);
    }
    return limiter;
  }
}
