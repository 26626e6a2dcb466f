/**
 * How late the main thread's event loop runs, for the tiers' shedding
 * (src/orders/tier-headroom.ts): a timer every SAMPLE_MS notes how much later
 * than asked it fired, and the figure is the mean of the last WINDOW samples
 * (half a second): a loop kept busy shows within a few samples, one long
 * pause (a GC, a big JSON) moves it by a twenty-fifth of itself. Reading it costs an admission nothing: a number kept up to date.
 */

const SAMPLE_MS = 20;
const WINDOW = 25;

export class LoopLateness {
  private readonly samples = new Float64Array(WINDOW);
  private next = 0;
  private latest = 0;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    let expected = performance.now() + SAMPLE_MS;
    this.timer = setInterval(() => {
      const now = performance.now();
      this.samples[this.next] = Math.max(0, now - expected);
      this.next = (this.next + 1) % WINDOW;
      let sum = 0;
      for (const sample of this.samples) sum += sample;
      this.latest = sum / WINDOW;
      expected = now + SAMPLE_MS;
    }, SAMPLE_MS);
    this.timer.unref();
  }

  /** Milliseconds: how late a timer fired, on average over the last half second. */
  get lateMs(): number {
    return this.latest;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
