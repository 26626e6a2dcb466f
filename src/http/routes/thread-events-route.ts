/**
 * GET /threads/events: the thread view's stream (src/observability/live-pages/thread-events.ts) opened for one page,
 * or refused — 503 shutting_down once the view is closed, 503 overloaded with Retry-After while every place is taken.
 * The stream ends only by closing its connection, so the drain never waits for an open page.
 */
import type { RequestHandler } from 'express';
import type { ThreadEvents } from '../../observability/live-pages/thread-events.js';
import { SHUTTING_DOWN_MESSAGE, type Responder } from '../wire/responses.js';

export function threadEventsRoute(events: ThreadEvents, responder: Responder): RequestHandler {
  return (req, res) => {
    const refusal = events.refusal();
    if (refusal?.refused === 'closed') return responder.error(res, 'shutting_down', SHUTTING_DOWN_MESSAGE);
    if (refusal) {
      const seconds = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
      return responder.error(
        res,
        'overloaded',
        `${refusal.maxViewers} pages are watching the threads already; one yields its place in ${seconds} s`,
        { 'Retry-After': String(seconds) },
      );
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
    events.watch(res);
  };
}
