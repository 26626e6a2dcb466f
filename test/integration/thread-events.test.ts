/**
 * The thread view's stream on its own, over real HTTP: frames at least four
 * a second to every viewer, a snapshot built once per tick however many
 * watch and only while someone does, viewers that leave forgotten, a cap on
 * viewers, and every stream ended at shutdown.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import express from 'express';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Responder } from '../../src/http/wire/responses.js';
import { threadEventsRoute } from '../../src/http/routes/thread-events-route.js';
import { ThreadEvents } from '../../src/observability/live-pages/thread-events.js';
import { openEventStream } from '../support/event-stream.js';
import { eventually, pause } from '../support/wait.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

async function serve(events: ThreadEvents): Promise<URL> {
  const app = express();
  app.get('/threads/events', threadEventsRoute(events, new Responder({ draining: () => false })));
  server = createServer(app);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/threads/events`);
}

/** A snapshot that counts how often it is built. */
function counting() {
  const made = { count: 0 };
  return { made, snapshot: () => ({ n: ++made.count }) };
}

describe('GET /threads/events', () => {
  it('sends every viewer the same snapshot at least four times a second, built once per tick', async () => {
    const { made, snapshot } = counting();
    const url = await serve(new ThreadEvents(snapshot, pino({ level: 'silent' })));
    const [a, b] = await Promise.all([openEventStream<{ n: number }>(url), openEventStream<{ n: number }>(url)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    await pause(1200);
    const intervals = a.frames.slice(1).map((frame, i) => frame.at - a.frames[i]!.at);
    intervals.sort((x, y) => x - y);
    // 200 ms apart; the median holds on a busy machine where single ticks slip.
    expect(intervals[Math.floor(intervals.length / 2)]).toBeLessThanOrEqual(250);
    expect(a.frames.length).toBeGreaterThanOrEqual(4);
    // Each tick's snapshot reached both viewers; only their first frames were made for them alone.
    const ticksSeenByA = new Set(a.frames.slice(1).map((frame) => frame.data.n));
    expect(b.frames.slice(1).filter((frame) => ticksSeenByA.has(frame.data.n)).length).toBeGreaterThanOrEqual(
      Math.min(a.frames.length, b.frames.length) - 2,
    );
    expect(made.count).toBeLessThanOrEqual(2 + Math.max(a.frames.length, b.frames.length));
    a.close();
    b.close();
  });

  it("spaces frames out by what a frame cost the main thread's CPU, not by the time it took", async () => {
    // The second frame holds its thread 200 ms without running it (as a busy machine deschedules it), the fourth
    // runs it 60 ms. Before, the held frame counted as 200 ms of work, and the next was built 4 s later. Timed where
    // the frames are built, not where they arrive: the reader shares this event loop and may read any of them late.
    const asleep = new Int32Array(new SharedArrayBuffer(4));
    const builtAt: number[] = [];
    const events = new ThreadEvents(
      () => {
        builtAt.push(performance.now());
        const n = builtAt.length;
        if (n === 2) Atomics.wait(asleep, 0, 0, 200);
        if (n === 4) {
          const from = process.threadCpuUsage();
          for (;;) {
            const { user, system } = process.threadCpuUsage(from);
            if (user + system >= 60_000) break;
          }
        }
        return { n };
      },
      pino({ level: 'silent' }),
    );
    const viewer = await openEventStream<{ n: number }>(await serve(events));
    await viewer.next((data) => data.n === 5, 15_000);
    viewer.close();
    // After the held frame: the next tick (200 ms), or sooner if that one was late. Before: 2 s at the least.
    expect(builtAt[2]! - builtAt[1]!).toBeLessThan(1500);
    // 60 ms of CPU at a budget of 5% of the main thread: the next frame 1.2 s on, at least half that if it was late.
    expect(builtAt[4]! - builtAt[3]!).toBeGreaterThanOrEqual(600);
  });

  it('forgets a viewer that leaves, and builds nothing once nobody watches', async () => {
    const { made, snapshot } = counting();
    const events = new ThreadEvents(snapshot, pino({ level: 'silent' }));
    const viewer = await openEventStream(await serve(events));
    await viewer.next();
    expect(events.viewerCount).toBe(1);
    viewer.close();
    await eventually(
      async () => events.viewerCount,
      (count) => count === 0,
    );
    const builtThen = made.count;
    await pause(500);
    expect(made.count).toBe(builtThen);
  });

  it('turns a viewer beyond the cap away with 503 overloaded', async () => {
    const events = new ThreadEvents(() => ({}), pino({ level: 'silent' }), { intervalMs: 200, maxViewers: 1 });
    const url = await serve(events);
    const first = await openEventStream(url);
    const response = await fetch(url);
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: { kind: string } }).error.kind).toBe('overloaded');
    first.close();
  });

  it('closes a stream whose reader stopped reading once its buffer has stayed full for stalledMs', async () => {
    // Frames big enough to fill the kernel's buffers between the two ends within a second or so.
    const big = { pad: 'x'.repeat(512 * 1024) };
    const events = new ThreadEvents(() => big, pino({ level: 'silent' }), {
      intervalMs: 50,
      maxViewers: 4,
      stalledMs: 300,
    });
    const url = await serve(events);
    const socket = connect(Number(url.port), url.hostname);
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET /threads/events HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
    await new Promise((resolve) => socket.once('data', resolve));
    socket.pause();
    expect(events.viewerCount).toBe(1);
    // Before: skipped frames for as long as the reader stayed, holding its place. (The reader, not reading, does not
    // see the close.)
    await eventually(
      async () => events.viewerCount,
      (count) => count === 0,
      { within: 10_000 },
    );
    socket.destroy();
  });

  it('gives the place of the stream watched longest to a new viewer once it has watched yieldAfterMs; before, answers 503 with Retry-After', async () => {
    const events = new ThreadEvents(() => ({}), pino({ level: 'silent' }), {
      intervalMs: 100,
      maxViewers: 1,
      yieldAfterMs: 400,
    });
    const url = await serve(events);
    const first = await openEventStream(url);
    const early = await fetch(url);
    expect(early.status).toBe(503);
    expect(early.headers.get('retry-after')).toBe('1');
    await early.body?.cancel();
    await pause(450);
    const second = await openEventStream(url);
    expect(second.status).toBe(200);
    // Ended, not cut: a page reads the end and reconnects (retry: 2000) to take the next place in turn.
    await first.ended;
    expect(events.viewerCount).toBe(1);
    second.close();
  });

  it('ends every stream at shutdown and refuses new ones', async () => {
    const events = new ThreadEvents(() => ({}), pino({ level: 'silent' }));
    const url = await serve(events);
    const viewer = await openEventStream(url);
    await viewer.next();
    expect(viewer.headers['connection']).toBe('close');
    events.close();
    await viewer.ended;
    expect(events.viewerCount).toBe(0);
    expect((await fetch(url)).status).toBe(503);
  });
});
