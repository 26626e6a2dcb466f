/**
 * GET /threads/events: the thread view as Server-Sent Events, a snapshot
 * every INTERVAL_MS (five a second) to every page open.
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
 *   each frame is whole, so a missed one is simply not seen.
 * - Viewers are few by nature: beyond MAX_VIEWERS a new one is answered 503.
 *   Each is also an ordinary connection, counted by the edge's limits.
 * - At shutdown every stream is ended and its connection closed (the
 *   responses say `Connection: close`), so an open page never holds the
 *   drain open; new viewers are turned away like any request then.
 */
import type { ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { SHUTTING_DOWN_MESSAGE, type Responder } from './responses.js';

/** At least four frames a second, as the page promises. */
const INTERVAL_MS = 200;
/**
 * The most of the main thread the stream may take: a frame that took longer
 * than this share of the interval spaces the next ones out. A frame costs
 * about 0.3 ms with 50 orders in flight and grows with the steps in flight
 * (about 13 ms at 30,000 steps, measured): only far beyond the `overhead`
 * load does the rate drop below five a second.
 */
const MAIN_THREAD_BUDGET = 0.05;
const MAX_VIEWERS = 32;
/** How soon a browser's EventSource reconnects after the stream ends (say, the server restarted). */
const RECONNECT_MS = 2000;

export class ThreadEvents {
  private readonly viewers = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private nextTickAt = 0;
  private closed = false;

  constructor(
    private readonly snapshot: () => unknown,
    private readonly log: Logger,
    private readonly options: { readonly intervalMs: number; readonly maxViewers: number } = { intervalMs: INTERVAL_MS, maxViewers: MAX_VIEWERS },
  ) {}

  /** Streams open now. */
  get viewerCount(): number {
    return this.viewers.size;
  }

  route(responder: Responder): RequestHandler {
    return (req, res) => {
      if (this.closed) return responder.error(res, 'shutting_down', SHUTTING_DOWN_MESSAGE);
      if (this.viewers.size >= this.options.maxViewers) {
        return responder.error(res, 'overloaded', `${this.options.maxViewers} pages are watching the threads already; retry shortly`);
      }
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-store',
        // The stream ends only by closing: at shutdown, its connection must go with it.
        Connection: 'close',
        // A proxy in front (nginx) would otherwise buffer the frames.
        'X-Accel-Buffering': 'no',
      });
      if (req.method === 'HEAD') return void res.end();
      res.locals.streaming = true;
      const first = this.frame();
      res.write(`retry: ${RECONNECT_MS}\n\n${first ?? ''}`);
      this.viewers.add(res);
      res.once('close', () => this.leave(res));
      this.start();
    };
  }

  /** End every stream and take no more (shutdown). */
  close(): void {
    this.closed = true;
    this.stop();
    for (const viewer of this.viewers) viewer.end();
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
    const frame = this.frame();
    if (frame !== undefined) for (const viewer of this.viewers) if (!viewer.writableNeedDrain) viewer.write(frame);
    const now = performance.now();
    const intervalMs = Math.max(this.options.intervalMs, (now - started) / MAIN_THREAD_BUDGET);
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

  private leave(viewer: ServerResponse): void {
    this.viewers.delete(viewer);
    if (this.viewers.size === 0) this.stop();
  }

  private stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
