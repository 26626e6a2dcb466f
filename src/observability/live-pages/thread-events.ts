/**
 * The thread view as Server-Sent Events, a snapshot every INTERVAL_MS (five a
 * second) to every page open; GET /threads/events (src/http/routes/
 * thread-events-route.ts) opens a stream, or says why it may not.
 *
 * - A snapshot is built only while someone watches, once per tick however
 *   many watch, serialized once and written to each of them. Ticks keep a
 *   fixed cadence: on a busy event loop a late tick makes the next one come
 *   sooner (never two at once), so the rate holds where an interval timer's
 *   delays would add up (4.2 frames/s measured under the overhead load).
 *   And a frame costly enough to take more than MAIN_THREAD_BUDGET of the
 *   main thread (tens of thousands of steps in flight) spaces out the next.
 * - A viewer whose connection cannot keep up (its socket buffer is full)
 *   misses frames until it drains, rather than have them pile up in memory:
 *   each frame is whole, so a missed one is simply not seen. One whose
 *   buffer stays full for STALLED_MS — its reader has stopped reading — is
 *   closed: it would otherwise hold its place for as long as it likes.
 * - Viewers are few by nature: MAX_VIEWERS at once. The view cannot be held
 *   by its viewers, though: a new viewer beyond them takes the place of a
 *   stalled one, or else of the one that has watched longest, once that one
 *   has had YIELD_AFTER_MS (a page that loses its place reconnects by
 *   itself, after RECONNECT_MS, and takes the next one in turn); only while
 *   every viewer is younger than that is a new one answered 503, with
 *   Retry-After. A reader that stops reading cannot be told from one that
 *   reads slowly until the kernel's buffers between them are full —
 *   megabytes on loopback, minutes of small frames — so the age, not the
 *   buffer, is what bounds how long it can keep a newcomer out.
 *   Each viewer is also an ordinary connection, counted by the edge's limits.
 * - At shutdown every stream is ended and its connection closed (the
 *   responses say `Connection: close`), so an open page never holds the
 *   drain open; new viewers are turned away like any request then.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';

/** At least four frames a second, as the page promises. */
const INTERVAL_MS = 200;
/**
 * The most of the main thread the stream may take: a frame whose CPU took
 * more than this share of the interval spaces the next ones out. A frame costs
 * about 0.3 ms with 50 orders in flight and grows with the steps in flight
 * (about 13 ms at 30,000 steps, measured): only far beyond the `overhead`
 * load does the rate drop below five a second.
 */
const MAIN_THREAD_BUDGET = 0.05;
const MAX_VIEWERS = 32;
/**
 * How soon a browser's EventSource reconnects after the stream ends (say, the server restarted, or its place was
 * taken).
 */
const RECONNECT_MS = 2000;
/** A stream whose buffer has stayed full this long is closed. */
const STALLED_MS = 5000;
/** A stream watched this long yields its place to a new viewer when every place is taken. */
const YIELD_AFTER_MS = 10_000;

/** Why a new viewer may not watch now: the view is closed (shutdown), or every place is taken for a while yet. */
export type ViewerRefusal =
  | { readonly refused: 'closed' }
  | { readonly refused: 'full'; readonly maxViewers: number; readonly retryAfterMs: number };

const CLOSED: ViewerRefusal = { refused: 'closed' };

export interface ThreadEventsOptions {
  readonly intervalMs: number;
  readonly maxViewers: number;
  readonly stalledMs?: number;
  readonly yieldAfterMs?: number;
}

interface Viewer {
  readonly openedAt: number;
  /** Since when its buffer has been full; undefined while it drains. */
  fullSince: number | undefined;
}

export class ThreadEvents {
  private readonly viewers = new Map<ServerResponse, Viewer>();
  private timer: NodeJS.Timeout | undefined;
  private nextTickAt = 0;
  private closed = false;

  constructor(
    private readonly snapshot: () => unknown,
    private readonly log: Logger,
    private readonly options: ThreadEventsOptions = { intervalMs: INTERVAL_MS, maxViewers: MAX_VIEWERS },
  ) {}

  /** Streams open now. */
  get viewerCount(): number {
    return this.viewers.size;
  }

  /** Whether a new viewer may watch now: undefined if it may (a place made for it, if one had to be), or why not. */
  refusal(): ViewerRefusal | undefined {
    if (this.closed) return CLOSED;
    if (this.viewers.size < this.options.maxViewers || this.makeRoom()) return undefined;
    return { refused: 'full', maxViewers: this.options.maxViewers, retryAfterMs: this.untilRoomMs() };
  }

  /** A viewer's stream, its head written: the first frame now, then one a tick until it closes. */
  watch(res: ServerResponse): void {
    const first = this.frame();
    res.write(`retry: ${RECONNECT_MS}\n\n${first ?? ''}`);
    this.viewers.set(res, { openedAt: performance.now(), fullSince: undefined });
    res.once('close', () => this.leave(res));
    this.start();
  }

  /** End every stream and take no more (shutdown). */
  close(): void {
    this.closed = true;
    this.stop();
    for (const viewer of this.viewers.keys()) viewer.end();
    this.viewers.clear();
  }

  private start(): void {
    if (this.timer) return;
    this.nextTickAt = performance.now() + this.options.intervalMs;
    this.timer = setTimeout(this.tick, this.options.intervalMs).unref();
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    if (this.viewers.size === 0) return;
    const started = performance.now();
    const cpuBefore = process.threadCpuUsage();
    const frame = this.frame();
    const stalledMs = this.options.stalledMs ?? STALLED_MS;
    for (const [res, viewer] of this.viewers) {
      if (!res.writableNeedDrain) {
        viewer.fullSince = undefined;
        if (frame !== undefined) res.write(frame);
      } else if (viewer.fullSince === undefined) viewer.fullSince = started;
      // Its reader has stopped reading: nothing written will leave; the buffer goes with the connection.
      else if (started - viewer.fullSince >= stalledMs) {
        this.log.info(
          { stalled_ms: Math.round(started - viewer.fullSince) },
          'thread view: closed a stream whose reader stopped reading',
        );
        res.destroy();
      }
    }
    const now = performance.now();
    // The main thread's own CPU, not the time that passed: on a busy machine the thread can be descheduled in the
    // middle of a frame, and a frame that cost 0.3 ms but took 200 ms would hold every page four seconds.
    const { user, system } = process.threadCpuUsage(cpuBefore);
    const intervalMs = Math.max(this.options.intervalMs, (user + system) / 1000 / MAIN_THREAD_BUDGET);
    this.nextTickAt = Math.max(this.nextTickAt + intervalMs, now + intervalMs / 2);
    this.timer = setTimeout(this.tick, this.nextTickAt - now).unref();
  };

  /** One SSE message carrying a snapshot; undefined if it could not be made (logged: a bug, never a crash). */
  private frame(): string | undefined {
    try {
      return `data: ${JSON.stringify(this.snapshot())}\n\n`;
    } catch (error) {
      this.log.error({ err: error }, 'thread view snapshot failed');
      return undefined;
    }
  }

  /**
   * Every place is taken: free one for a new viewer — a stalled stream's,
   * else the one watched longest, if it has been YIELD_AFTER_MS. Whether one
   * was freed.
   */
  private makeRoom(): boolean {
    const now = performance.now();
    let longest: [ServerResponse, Viewer] | undefined;
    for (const entry of this.viewers) {
      const [res, viewer] = entry;
      if (viewer.fullSince !== undefined) {
        this.log.info('thread view: a stalled stream gave its place to a new viewer');
        res.destroy();
        this.leave(res);
        return true;
      }
      if (!longest || viewer.openedAt < longest[1].openedAt) longest = entry;
    }
    if (!longest || now - longest[1].openedAt < (this.options.yieldAfterMs ?? YIELD_AFTER_MS)) return false;
    // Ended, not cut: a page reads the end and reconnects after RECONNECT_MS.
    this.log.info(
      { watched_ms: Math.round(now - longest[1].openedAt) },
      'thread view: the stream watched longest gave its place to a new viewer',
    );
    longest[0].end();
    this.leave(longest[0]);
    return true;
  }

  /** How long until the viewer watched longest may yield its place. */
  private untilRoomMs(): number {
    const oldest = Math.min(...[...this.viewers.values()].map((viewer) => viewer.openedAt));
    return Math.max(0, oldest + (this.options.yieldAfterMs ?? YIELD_AFTER_MS) - performance.now());
  }

  private leave(viewer: ServerResponse): void {
    this.viewers.delete(viewer);
    if (this.viewers.size === 0) this.stop();
  }

  private stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
