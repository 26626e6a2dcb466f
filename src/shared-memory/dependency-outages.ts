/**
 * Simulated outages of the steps' remote services (their dependencies), in a SharedArrayBuffer every worker maps: the
 * main thread switches an outage on or off (the admin's POST /admin/dependencies/{name}); a step, on its thread, draws
 * each call to its dependency against it. While a dependency is out, a share of its calls (the failure ratio) does not
 * reach it at all and is answered "unavailable", and every call is answered that much later (the added latency).
 *
 * This module owns the layout; both sides use `DependencyOutages`, by the dependencies' names (the domain's table lists
 * them; this layer imports nothing). The main thread alone writes the settings, with one store per word: a call drawn
 * while an outage is being changed may see the new ratio with the old latency, which is as true of a real service going
 * down.
 */

/** Words of one dependency, each an Int32. */
const FAILURE_PPM = 0; // share of calls refused, in millionths: 0 none, 1_000_000 every one
const LATENCY_MS = 1; // added to the answer of every call
const REFUSED = 2; // calls refused since start (wraps past 2^32: read as unsigned), for whoever watches
const WORDS_PER_DEPENDENCY = 3;

const PPM = 1_000_000;

/** The added latency at most: as long as a step's own delay may be. */
export const MAX_ADDED_LATENCY_MS = 60_000;

export interface Outage {
  /** 0..1: the share of calls that fail as unavailable; 0 with no outage. */
  readonly failureRatio: number;
  /** Milliseconds every call's answer takes beyond the step's own delay. */
  readonly latencyMs: number;
}

export const NO_OUTAGE: Outage = Object.freeze({ failureRatio: 0, latencyMs: 0 });

/** What one call to a dependency meets. */
export interface CallDraw {
  /** False: the outage refused the call — nothing reaches the service, and it is answered unavailable. */
  readonly reaches: boolean;
  /** Milliseconds the service's answer is late by. */
  readonly latencyMs: number;
}

export class DependencyOutages<Name extends string> {
  readonly buffer: SharedArrayBuffer;
  private readonly words: Int32Array;
  private readonly indexOf: ReadonlyMap<string, number>;

  /** `names`: the dependencies, in the same order on every thread. */
  constructor(buffer: SharedArrayBuffer, names: readonly Name[]) {
    if (buffer.byteLength < names.length * WORDS_PER_DEPENDENCY * Int32Array.BYTES_PER_ELEMENT)
      throw new RangeError(`the buffer has no room for ${names.length} dependencies`);
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
    this.indexOf = new Map(names.map((name, i) => [name, i]));
  }

  static create<Name extends string>(names: readonly Name[]): DependencyOutages<Name> {
    return new DependencyOutages(
      new SharedArrayBuffer(Math.max(1, names.length) * WORDS_PER_DEPENDENCY * Int32Array.BYTES_PER_ELEMENT),
      names,
    );
  }

  /**
   * Main thread: switch `name`'s outage to `outage` (NO_OUTAGE ends it). The ratio is kept to the millionth.
   */
  set(name: Name, { failureRatio, latencyMs }: Outage): void {
    if (!(failureRatio >= 0 && failureRatio <= 1))
      throw new RangeError(`a failure ratio is from 0 to 1, got ${failureRatio}`);
    if (!Number.isInteger(latencyMs) || latencyMs < 0 || latencyMs > MAX_ADDED_LATENCY_MS)
      throw new RangeError(`an added latency is an integer from 0 to ${MAX_ADDED_LATENCY_MS} ms, got ${latencyMs}`);
    const base = this.at(name);
    Atomics.store(this.words, base + FAILURE_PPM, Math.round(failureRatio * PPM));
    Atomics.store(this.words, base + LATENCY_MS, latencyMs);
  }

  /** Either side: the outage in force (NO_OUTAGE's values when there is none). */
  outageOf(name: Name): Outage {
    const base = this.at(name);
    return {
      failureRatio: Atomics.load(this.words, base + FAILURE_PPM) / PPM,
      latencyMs: Atomics.load(this.words, base + LATENCY_MS),
    };
  }

  /** Whether `name` is out at all: some calls refused, or answered late. */
  isOut(name: Name): boolean {
    const base = this.at(name);
    return Atomics.load(this.words, base + FAILURE_PPM) > 0 || Atomics.load(this.words, base + LATENCY_MS) > 0;
  }

  /** Calls to `name` the outages have refused since start. */
  refusedCalls(name: Name): number {
    return Atomics.load(this.words, this.at(name) + REFUSED) >>> 0;
  }

  /**
   * Worker: one call to `name`, drawn against its outage — refused with the failure ratio's probability (`random` is
   * Math.random but in tests), and late by the added latency either way.
   */
  draw(name: Name, random: () => number = Math.random): CallDraw {
    const base = this.at(name);
    const ppm = Atomics.load(this.words, base + FAILURE_PPM);
    const latencyMs = Atomics.load(this.words, base + LATENCY_MS);
    // random() < 1, so a ratio of 1 refuses every call and one of 0 none.
    const reaches = ppm === 0 || random() * PPM >= ppm;
    if (!reaches) Atomics.add(this.words, base + REFUSED, 1);
    return { reaches, latencyMs };
  }

  private at(name: Name): number {
    const index = this.indexOf.get(name);
    if (index === undefined) throw new RangeError(`no dependency named ${JSON.stringify(name)}`);
    return index * WORDS_PER_DEPENDENCY;
  }
}
