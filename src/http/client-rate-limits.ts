/**
 * Each client's rate limit (CLIENT_RATE_LIMIT, CLIENT_RATE_LIMITS) on POST
 * /order (rate-limit.ts asks it), counted by
 * rate-limiter-flexible: N orders per window of one second per client — a
 * burst of one second's worth — the window starting at the client's first
 * order in it.
 *
 * Where the counts are kept:
 * - one instance: in its own memory (RateLimiterMemory);
 * - INSTANCES=N on one machine: in the node:cluster primary
 *   (RateLimiterClusterMaster, src/cluster/primary.ts), which every instance
 *   asks over IPC (RateLimiterCluster): one limit per client across the
 *   instances of the machine. Should the primary not answer within
 *   CLUSTER_TIMEOUT_MS, the instance counts alone (an insurance limiter in
 *   its own memory) rather than refuse or wait, and says so in a warning
 *   line per order: while it does, a client may pass the limit by what the
 *   instances counted alone;
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

/** The insurance limiter, which rate-limiter-flexible asks only when the primary has not answered in time. */
class CountedAlone extends RateLimiterMemory {
  constructor(
    options: LimiterOptions,
    private readonly counted: (client: string) => void,
  ) {
    super(options);
  }

  override consume(...args: Parameters<RateLimiterMemory['consume']>): ReturnType<RateLimiterMemory['consume']> {
    this.counted(String(args[0]));
    return super.consume(...args);
  }
}

export type RateStore = 'memory' | 'cluster';

export class ClientRateLimits implements ClientRateLimiter {
  /** One limiter per limit (rate-limiter-flexible counts one number of points per limiter), made on first use. */
  private readonly limiters = new Map<number, Pick<RateLimiterMemory, 'consume'>>();

  constructor(
    private readonly limitOf: (client: string) => number,
    private readonly store: RateStore,
    private readonly log: Logger,
  ) {}

  async take(client: string): Promise<RateDecision | undefined> {
    const limit = this.limitOf(client);
    if (limit === 0) return undefined;
    try {
      const counted = await this.limiterFor(limit).consume(client);
      return { limit, allowed: true, remaining: counted.remainingPoints, resetMs: counted.msBeforeNext };
    } catch (refused: unknown) {
      if (refused instanceof RateLimiterRes)
        return { limit, allowed: false, remaining: 0, resetMs: refused.msBeforeNext };
      // The counts could not be had (they always can in memory): let the order through rather than refuse it for that.
      this.log.warn({ err: refused, client }, 'rate limit not checked: its counts could not be read');
      return undefined;
    }
  }

  private limiterFor(points: number): Pick<RateLimiterMemory, 'consume'> {
    let limiter = this.limiters.get(points);
    if (!limiter) {
      // Each limit its own key prefix: the cluster's primary keeps one limiter per prefix.
      const options = { points, duration: WINDOW_SECONDS, keyPrefix: `orders-per-second-${points}` };
      limiter =
        this.store === 'memory'
          ? new RateLimiterMemory(options)
          : new RLWrapperTimeouts({
              limiter: new RateLimiterCluster(options),
              timeoutMs: CLUSTER_TIMEOUT_MS,
              insuranceLimiter: new CountedAlone(options, (client) =>
                this.log.warn(
                  { client, timeout_ms: CLUSTER_TIMEOUT_MS },
                  'rate limit counted by this instance alone: the primary did not answer in time',
                ),
              ),
            });
      this.limiters.set(points, limiter);
    }
    return limiter;
  }
}
