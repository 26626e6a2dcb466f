/**
 * How late the main thread's event loop runs, for the tiers' shedding
 * (src/fairness/tier-headroom.ts), the reads' line and each client's share of
 * the loop (src/http/guards/): a timer every SAMPLE_MS notes how much later
 * than asked it fired, and the figure is the mean of the last WINDOW samples
 * (half a second): a loop kept busy shows within a few samples, one long
 * pause (a GC, a big JSON) moves it by a twenty-fifth of itself. Reading it costs an admission nothing: a number kept up to date.
 *
 * A loop busy less than half its time by its own work (`ownUtilization`) is
 * sampled once a second, not fifty times: each wake of an idle thread costs it
 * CPU (docs/decisions/cancellation.md), and this timer would be most of what an
 * idle or lightly loaded service spends. Such a loop is late by nothing that
 * matters here: the tiers shed at 70 ms late on average, which only a loop
 * busy most of its time can be. A sample that finds the loop busy at least
 * half the time since the last one brings the pace back, so a loop that
 * becomes busy is sampled at its pace again within about a second: an idle loop's sample looks at its last
 * PROBE_MS, from a look that long before it (two wakes a second). Not its
 * last SAMPLE_MS: one pause of a light loop (a collection, a big JSON, a wait
 * for a core mid-turn) filled half of 20 ms and brought the pace back for
 * nothing. With the line drawn at 2% busy, the timers of an idle service were
 * enough to cross it: it was sampled at its pace most of the time, idle or at
 * a few orders a second.
 *
 * Late by its own work, not the machine's (`ownLateMs`): each sample also
 * net of the time the thread waited on the kernel's run queue for a core
 * since its timer was set (Linux's /proc/thread-self/schedstat, one read of a
 * file kept open, a few microseconds). On a machine busy with other
 * processes, a loop with little to do fired its timers 30 ms and more late on
 * average, waiting for a core. The tiers shed by the clock (shedding orders
 * frees a core for the rest, whoever took it), and so do the reads' line
 * while an order is under way; with none, the reads are refused only by the
 * loop's own work (src/http/guards/late-reads.ts), as a client sending alone
 * is shed (src/http/guards/client-load.ts): shed for a busy machine, each was
 * refused 503 for a load it did not cause, with nobody to gain by it.
 */
import { closeSync, openSync, readSync } from 'node:fs';

const SAMPLE_MS = 20;
const WINDOW = 25;
/** The pace while idle. */
const IDLE_SAMPLE_MS = 1000;
/** How much of its idle second an idle loop's sample judges it by. */
const PROBE_MS = 100;
/** Below this share of its time busy since the last sample, the loop counts as idle. */
const IDLE_UTILIZATION = 0.5;

type EventLoopUtilization = ReturnType<typeof performance.eventLoopUtilization>;

/**
 * The calling thread's wait on the run queue for a core so far, in ms, read from a file opened on it (`waitedMs`), or 0
 * where the kernel does not say (no /proc: every wait counts as the loop's own, as before). `close` gives the file back.
 */
class RunQueueClock {
  private fd: number | undefined;
  private readonly buffer = Buffer.alloc(64);

  constructor() {
    try {
      this.fd = openSync('/proc/thread-self/schedstat', 'r');
    } catch {
      this.fd = undefined;
    }
  }

  waitedMs(): number {
    if (this.fd === undefined) return 0;
    // `ran_ns waited_ns timeslices`; read again from the start, the kernel writes it afresh.
    const text = this.buffer.toString('latin1', 0, readSync(this.fd, this.buffer, 0, this.buffer.length, 0));
    const waitedNs = Number(text.split(' ')[1]);
    return Number.isFinite(waitedNs) ? waitedNs / 1e6 : 0;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export class LoopLateness {
  /** Each sample by the clock, and net of the thread's waits for a core. */
  private readonly samples = new Float64Array(WINDOW);
  private readonly ownSamples = new Float64Array(WINDOW);
  private next = 0;
  private latest = 0;
  private ownLatest = 0;
  private timer: NodeJS.Timeout | undefined;
  private expected = 0;
  private pace = SAMPLE_MS;
  private utilization: EventLoopUtilization = performance.eventLoopUtilization();
  /** This thread's wait for a core so far (constructed on the main thread, it reads the main thread's). */
  private readonly runQueue = new RunQueueClock();
  private waitedWhenSet = 0;
  private stopped = false;
  /** This thread's CPU time (µs) when the current turn's first request was seen; undefined between turns. */
  private turnFrom: number | undefined;
  private turnsOver = 0;
  private readonly turnOver = (): void => {
    this.turnFrom = undefined;
    this.turnsOver++;
  };

  constructor() {
    this.schedule(SAMPLE_MS);
  }

  /** Milliseconds: how late a timer fired, on average over the last half second. */
  get lateMs(): number {
    return this.latest;
  }

  /** The same, net of the time the thread waited on the run queue for a core: late by its own work (see the top). */
  get ownLateMs(): number {
    return this.ownLatest;
  }

  /**
   * Milliseconds of this thread's CPU this turn of the loop has spent answering requests: 0 for its first, which starts
   * the count. A turn the timers cannot see into until it is over (see the top). CPU, not the clock: on a machine busy
   * with other work, a turn answering two requests took 50 ms and more of the clock, waiting for a core, and the reads
   * after it were refused as if a flood held the thread.
   */
  turnMs(): number {
    const { user, system } = process.threadCpuUsage();
    const now = user + system;
    if (this.turnFrom !== undefined) return (now - this.turnFrom) / 1000;
    this.turnFrom = now;
    setImmediate(this.turnOver);
    return 0;
  }

  /** Turns that answered requests, counted as they end: a number that changes from one turn to the next. */
  get turn(): number {
    return this.turnsOver;
  }

  /** Sampled every SAMPLE_MS (false: once a second, the loop being idle). */
  get sampling(): boolean {
    return this.pace === SAMPLE_MS;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.runQueue.close();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.pace = ms;
    if (ms === IDLE_SAMPLE_MS) {
      // An idle loop is judged by its last PROBE_MS, not by its whole second: a loop that became busy in the second half
      // of one was found busy less than half of it, and left idle for another second (at its pace again 1.4 s after its
      // work began, and later on a busy machine).
      this.timer = setTimeout(this.probe, IDLE_SAMPLE_MS - PROBE_MS);
      this.timer.unref();
      return;
    }
    this.sampleIn(ms);
  }

  private readonly probe = (): void => {
    this.utilization = performance.eventLoopUtilization();
    this.sampleIn(PROBE_MS);
  };

  private sampleIn(ms: number): void {
    this.expected = performance.now() + ms;
    this.waitedWhenSet = this.runQueue.waitedMs();
    this.timer = setTimeout(this.sample, ms);
    this.timer.unref();
  }

  private readonly sample = (): void => {
    const now = performance.now();
    const since = performance.eventLoopUtilization(this.utilization);
    this.utilization = performance.eventLoopUtilization();
    const waitedMs = this.runQueue.waitedMs() - this.waitedWhenSet;
    if (ownUtilization(since, waitedMs) < IDLE_UTILIZATION) {
      // Idle, or nearly: late by nothing, and looked at again in a second.
      this.samples.fill(0);
      this.ownSamples.fill(0);
      this.latest = this.ownLatest = 0;
      return this.schedule(IDLE_SAMPLE_MS);
    }
    const late = Math.max(0, now - this.expected);
    this.samples[this.next] = late;
    this.ownSamples[this.next] = Math.max(0, late - waitedMs);
    this.next = (this.next + 1) % WINDOW;
    let sum = 0;
    let ownSum = 0;
    for (let i = 0; i < WINDOW; i++) {
      sum += this.samples[i]!;
      ownSum += this.ownSamples[i]!;
    }
    this.latest = sum / WINDOW;
    this.ownLatest = ownSum / WINDOW;
    this.schedule(SAMPLE_MS);
  };
}

/**
 * The share of its time the loop was busy by its own work: the event loop's measure with the thread's waits for a core
 * taken out of both its busy time and the time it had. The event loop counts a wait for a core mid-turn as busy: beside
 * more runnable threads than cores, a loop busy a third of its time in turns of 14 ms read half busy. A wait as the
 * loop comes back from its wait for events, which the event loop counts as idle, is taken out of its busy time too: a
 * loop that waited is judged less busy, never more; one that never waits for events stays busy however long it waits
 * for a core. Where the kernel does not say, the event loop's own measure.
 */
function ownUtilization({ active, idle, utilization }: EventLoopUtilization, waitedMs: number): number {
  const had = active + idle - waitedMs;
  if (waitedMs <= 0 || had <= 0) return utilization;
  return Math.max(0, active - waitedMs) / had;
}
