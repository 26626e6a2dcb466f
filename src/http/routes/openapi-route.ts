/**
 * GET /openapi.json: the document, serialized once, with a strong ETag so
 * that a client (or a generator in CI) that has it already gets 304, and
 * compressed (the `compression` middleware) when the client accepts it —
 * the document is tens of KB and compresses tenfold. `Cache-Control:
 * no-cache`: a cache may keep it but asks each time, since a restart with
 * other settings (keys, open mode) changes it.
 */
import { createHash } from 'node:crypto';
import compression from 'compression';
import type { RequestHandler } from 'express';
import type { Responder } from '../wire/responses.js';

export function openApiRoute(document: () => unknown, responder: Responder): RequestHandler[] {
  let served: { readonly text: string; readonly etag: string } | undefined;
  const send: RequestHandler = (req, res) => {
    if (!served) {
      const text = JSON.stringify(document());
      served = { text, etag: `"${createHash('sha256').update(text).digest('base64url').slice(0, 27)}"` };
    }
    res.setHeader('ETag', served.etag);
    res.setHeader('Cache-Control', 'no-cache');
    // Express compares If-None-Match with the ETag set above (only for GET and HEAD, which is all this route is).
    if (req.fresh) {
      res.statusCode = 304;
      res.end();
      return;
    }
    responder.text(res, 200, served.text);
  };
  return [compression(), send];
}
