/**
 * GET /openapi.json: the document, serialized once, with a strong ETag so
 * that a client (or a generator in CI) that has it already gets 304, and
 * compressed (the `compression` middleware) when the client accepts it —
 * the document is tens of KB and compresses tenfold. `Cache-Control:
 * no-cache`: a cache may keep it but asks each time, since a restart with
 * other settings (keys, open mode) changes it.
 */
import compression from 'compression';
import type { RequestHandler } from 'express';
import { noneMatchNames, strongEtag } from '../wire/conditional.js';
import type { Responder } from '../wire/responses.js';

export function openApiRoute(document: () => unknown, responder: Responder): RequestHandler[] {
  let served: { readonly text: string; readonly etag: string } | undefined;
  const send: RequestHandler = (req, res) => {
    if (!served) {
      const text = JSON.stringify(document());
      served = { text, etag: strongEtag(text) };
    }
    const headers = { ETag: served.etag, 'Cache-Control': 'no-cache' };
    if (noneMatchNames(req.headers['if-none-match'], served.etag)) return responder.notModified(res, headers);
    responder.text(res, 200, served.text, headers);
  };
  return [compression(), send];
}
