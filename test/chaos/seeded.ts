/**
 * Every random choice of a chaos run, drawn from its seed. Each consumer (a
 * client, the nemesis) draws from a stream of its own, forked by name, and
 * draws the same number of values whatever happens: so the *plan* of a run —
 * which orders each client sends, which fault the nemesis commits next and
 * for how long — replays from the seed, even though timing (which requests
 * meet which fault) does not.
 */
import { mulberry32 } from '../support/random.js';

export class Seeded {
  private readonly next: () => number;

  constructor(readonly seed: number) {
    this.next = mulberry32(seed);
  }

  /** In [0, 1). */
  float(): number {
    return this.next();
  }

  /** An integer from min to max, both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A choice among `weighted` entries, each as likely as its weight. */
  weighted<T extends string>(weights: Readonly<Record<T, number>>): T {
    const entries = Object.entries(weights) as Array<[T, number]>;
    let roll = this.next() * entries.reduce((sum, [, weight]) => sum + weight, 0);
    for (const [item, weight] of entries) if ((roll -= weight) < 0) return item;
    return entries[entries.length - 1]![0];
  }

  /** An independent stream for one consumer: its draws never depend on another's. */
  fork(name: string): Seeded {
    // FNV-1a over the name, mixed with this stream's seed.
    let hash = 0x811c9dc5 ^ this.seed;
    for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
    return new Seeded(hash >>> 0);
  }
}
