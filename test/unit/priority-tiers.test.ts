/**
 * Priority tiers (issue 31) where the queues are decided: the rule
 * (src/fairness/tiers.ts: a better rank first, aged by the wait, the fair
 * share within a rank), the turns of thread time and the courier semaphore
 * that follow it, and the headroom kept at admission (src/fairness/tier-headroom.ts).
 */
import { describe, expect, it } from 'vitest';
import { rankOf } from '../../src/domain/tier.js';
import { loweredTier } from '../../src/domain/tier.js';
import { TierHeadroom } from '../../src/fairness/tier-headroom.js';
import { agedRank, DEFAULT_TIER_CEILINGS, TIER_AGING_MS, tieredTurnOrder } from '../../src/fairness/tiers.js';
import { SlotSemaphore, type Cancellation } from '../../src/shared-memory/slot-semaphore.js';
import { CpuTurns, type CpuTurn } from '../../src/threads/cpu-turns.js';

const CRITICAL = rankOf('critical');
const STANDARD = rankOf('standard');
const FREE = rankOf('free');
const forever = new AbortController().signal;
const never: Cancellation = { isCanceled: () => false, whenCanceled: () => new Promise(() => {}) };
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('the rule', () => {
  it('rises one rank per TIER_AGING_MS waited, never past the best rank waiting', () => {
    expect(agedRank(FREE, 0, CRITICAL)).toBe(FREE);
    expect(agedRank(FREE, TIER_AGING_MS - 1, CRITICAL)).toBe(FREE);
    expect(agedRank(FREE, TIER_AGING_MS, CRITICAL)).toBe(STANDARD);
    expect(agedRank(FREE, 10 * TIER_AGING_MS, CRITICAL)).toBe(CRITICAL);
    // Among waiters of one tier aging changes nothing: all stay at the best.
    expect(agedRank(STANDARD, 10 * TIER_AGING_MS, STANDARD)).toBe(STANDARD);
  });

  it('puts the better rank first, whatever is held; the fair share within a rank', () => {
    expect(tieredTurnOrder(CRITICAL, 5, 1, FREE, 0, 1)).toBeLessThan(0);
    expect(tieredTurnOrder(FREE, 0, 1, CRITICAL, 5, 1)).toBeGreaterThan(0);
    expect(tieredTurnOrder(FREE, 0, 1, FREE, 5, 1)).toBeLessThan(0);
    expect(tieredTurnOrder(FREE, 2, 2, FREE, 1, 1)).toBe(0);
  });

  it('lowers a tier as asked, and ignores a raise', () => {
    expect(loweredTier('critical', 'free')).toBe('free');
    expect(loweredTier('free', 'critical')).toBe('free');
    expect(loweredTier('standard', undefined)).toBe('standard');
  });
});

describe('turns of thread time', () => {
  /** One turn in all: whoever is served is recorded, and gives its turn back at once. */
  function oneTurn(): { turns: CpuTurns; served: string[]; take: (name: string, rank: number) => Promise<void> } {
    const turns = new CpuTurns(() => ({ perClient: 1, total: 1 }));
    const served: string[] = [];
    return {
      turns,
      served,
      take: async (name, rank) => {
        const taken = turns.take(name, 1, forever, rank);
        const turn: CpuTurn | undefined = taken instanceof Promise ? await taken : taken;
        served.push(name);
        turn?.release();
      },
    };
  }

  it("gives a freed turn to the better tier before an older waiter's of a worse one", async () => {
    const { turns, served, take } = oneTurn();
    const holder = turns.take('holder', 1, forever, CRITICAL) as CpuTurn;
    const waiting = [take('free', FREE), take('standard', STANDARD), take('critical', CRITICAL)];
    holder.release();
    await Promise.all(waiting);
    expect(served).toEqual(['critical', 'standard', 'free']);
  });

  it('serves a free waiter within 2 × TIER_AGING_MS while critical ones keep coming', async () => {
    const { turns, served, take } = oneTurn();
    let holder = turns.take('vip', 1, forever, CRITICAL) as CpuTurn;
    const free = take('thrift', FREE);
    const started = performance.now();
    // A critical waiter always in line: each turn given back goes to one, until the free one has aged level with it.
    for (let n = 0; !served.includes('thrift'); n++) {
      const next = turns.take(`vip${n}`, 1, forever, CRITICAL) as Promise<CpuTurn | undefined>;
      await pause(50);
      holder.release();
      holder = (await next)!;
      expect(performance.now() - started).toBeLessThan(2 * TIER_AGING_MS + 500);
    }
    holder.release();
    await free;
    expect(performance.now() - started).toBeGreaterThanOrEqual(2 * TIER_AGING_MS - 60);
  });
});

describe('the courier semaphore', () => {
  it("serves the better tier before an older waiter's of a worse one, and a free waiter once it has aged", async () => {
    const semaphore = SlotSemaphore.create(1, 8);
    const served: string[] = [];
    const wait = (owner: number, client: number, rank: number, name: string): Promise<number> =>
      semaphore.acquire(owner, never, client, rank).then((slot) => {
        served.push(name);
        return slot;
      });
    let slot = semaphore.tryAcquire(1, 0);
    const free = wait(2, 1, FREE, 'free');
    const critical = wait(3, 0, CRITICAL, 'critical');
    semaphore.release(slot, 1);
    slot = await critical;
    expect(served).toEqual(['critical']);
    // The free waiter ages while a critical one waits beside it; once level, the fair share serves it (it holds none).
    const next = wait(4, 0, CRITICAL, 'critical again');
    await pause(2 * TIER_AGING_MS + 50);
    semaphore.release(slot, 3);
    slot = await free;
    expect(served).toEqual(['critical', 'free']);
    semaphore.release(slot, 2);
    semaphore.release(await next, 4);
    expect(semaphore.busy()).toBe(0);
  });
});

describe('the headroom kept at admission', () => {
  const headroom = (
    configured: Array<'critical' | 'standard' | 'free'>,
    queued = 0,
    bytes = 0,
    late = 0,
  ): TierHeadroom =>
    new TierHeadroom({
      ceilings: DEFAULT_TIER_CEILINGS,
      maxInflight: 20,
      poolQueueLimit: 60,
      poolQueued: () => queued,
      recordsMaxBytes: 1000,
      recordsBytes: () => bytes,
      loopLateMs: () => late,
      configured,
    });

  it('sheds free at 70% and standard at 90% of the orders in flight, never critical', () => {
    const tiers = headroom(['critical', 'free']);
    expect(tiers.fullFor('free', 13)).toBeUndefined();
    expect(tiers.fullFor('free', 14)).toEqual({ tier: 'free', bounded: 'orders_in_flight', used: 14, limit: 14 });
    expect(tiers.fullFor('standard', 17)).toBeUndefined();
    expect(tiers.fullFor('standard', 18)).toMatchObject({ tier: 'standard', limit: 18 });
    expect(tiers.fullFor('critical', 19)).toBeUndefined();
  });

  it("sheds on the pool's queue and the records' memory as well", () => {
    expect(headroom(['critical'], 42).fullFor('free', 0)).toMatchObject({ bounded: 'pool_queue', limit: 42 });
    expect(headroom(['critical'], 41).fullFor('free', 0)).toBeUndefined();
    expect(headroom(['critical'], 0, 700).fullFor('free', 0)).toMatchObject({ bounded: 'records', limit: 700 });
  });

  it('sheds free once the event loop runs 70 ms late, standard at 90, critical never for it', () => {
    expect(headroom(['critical'], 0, 0, 69).fullFor('free', 0)).toBeUndefined();
    expect(headroom(['critical'], 0, 0, 70).fullFor('free', 0)).toMatchObject({ bounded: 'event_loop', limit: 70 });
    expect(headroom(['critical'], 0, 0, 80).fullFor('standard', 0)).toBeUndefined();
    expect(headroom(['critical'], 0, 0, 90).fullFor('standard', 0)).toMatchObject({ bounded: 'event_loop' });
    expect(headroom(['critical'], 0, 0, 5000).fullFor('critical', 0)).toBeUndefined();
  });

  it('keeps nothing while no better tier is in play: without tiers, standard fills everything', () => {
    const tiers = headroom([]);
    expect(tiers.fullFor('standard', 19)).toBeUndefined();
    // A free order (lowered by its request) finds standard in play.
    expect(tiers.fullFor('free', 14)).toMatchObject({ tier: 'free' });
    tiers.seen('critical');
    expect(tiers.fullFor('standard', 18)).toMatchObject({ tier: 'standard' });
  });
});
