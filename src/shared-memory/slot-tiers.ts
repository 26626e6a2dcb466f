/**
 * The tiers' ceilings on the courier slots (src/fairness/tiers.ts says what a ceiling is), as the semaphore's shared
 * memory holds them: a step of a tier worse than the best in play may take a slot only while the steps' slots, its own
 * counted, stay within its tier's ceiling of the slots lent; the rest is headroom kept for the tiers above. The line's
 * turn alone (a better rank goes first) kept nothing: under a free client's flood every slot was held by a free step,
 * and a critical step waited for one to end — its order's median 1.9× its median alone, one whole courier step.
 *
 * A rank is the waiter's aged rank (tiers.ts's agedRank): a free step that has waited 2 × TIER_AGING_MS may take what a
 * critical one may, as at admission (src/fairness/tier-headroom.ts). The best rank in play starts at the best the
 * clients are configured with, and rises as any thread's step comes with a better one.
 */
import { ceilingOf } from '../fairness/tiers.js';
import type { LineCounts } from './waiter-line.js';
import { BEST_RANK, FIRST_CEILING, type SemaphoreLayout } from './semaphore-layout.js';

export class SlotTiers {
  private readonly words: Int32Array;
  private readonly region: number;

  constructor(layout: SemaphoreLayout) {
    this.words = layout.words;
    this.region = layout.clientRegion;
  }

  /** Main thread: each rank's ceiling in thousandths of the slots lent (best rank first; 1000: none). */
  setCeilings(thousandths: readonly number[]): void {
    thousandths.forEach((ceiling, rank) => {
      if (!Number.isInteger(ceiling) || ceiling < 0 || ceiling > 1000)
        throw new RangeError(`a ceiling is 0 to 1000 thousandths, got ${ceiling}`);
      Atomics.store(this.words, this.region + FIRST_CEILING + rank, ceiling);
    });
  }

  /** A step of `rank` came: it is in play from now on, on every thread. */
  seen(rank: number): void {
    const word = this.region + BEST_RANK;
    for (let best = Atomics.load(this.words, word); rank < best; best = Atomics.load(this.words, word))
      if (Atomics.compareExchange(this.words, word, best, rank) === best) return;
  }

  /** Whether a step of (aged) `rank` is bounded by a ceiling: a tier better than its is in play, and it has one. */
  bounds(rank: number): boolean {
    return (
      rank > Atomics.load(this.words, this.region + BEST_RANK) &&
      Atomics.load(this.words, this.region + FIRST_CEILING + rank) < 1000
    );
  }

  /** Whether a step of (aged) `rank` may hold one more slot, or, `taken`, the one it has just taken, as `counts` say. */
  mayTake(rank: number, counts: LineCounts, taken = false): boolean {
    if (!this.bounds(rank)) return true;
    const ceiling = Atomics.load(this.words, this.region + FIRST_CEILING + rank) / 1000;
    return counts.busy + (taken ? 0 : 1) <= ceilingOf(counts.lent, ceiling);
  }
}
