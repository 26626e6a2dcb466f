/**
 * POST /order: check the media type, read at most 64 KiB, decode strictly,
 * run the order, answer with its outcome. A client that goes away cancels
 * its order; nothing is sent to it.
 */
import contentType from 'content-type';
import express, { type RequestHandler } from 'express';
import typeIs from 'type-is';
import { OrderAborted } from '../domain/errors.js';
import type { Order } from '../domain/order.js';
import type { OrderResult } from '../pipeline/order-pipeline.js';
import { decodeOrder } from './order-body.js';
import type { Responder } from './responses.js';

export const MAX_BODY_BYTES = 64 * 1024;

/** What the HTTP layer needs of the pipeline. */
export interface OrderProcessor {
  process(order: Order, signal: AbortSignal): Promise<OrderResult>;
}

export interface OrderRouteLog {
  clientGone(event: { orderId: string; result: OrderResult }): void;
}

export function orderRoute(orders: OrderProcessor, responder: Responder, log: OrderRouteLog): RequestHandler[] {
  const requireJson: RequestHandler = (req, res, next) => {
    const problem = mediaTypeProblem(req.headers['content-type']);
    if (problem) responder.error(res, 'unsupported_media_type', problem);
    else next();
  };

  const readBody = express.raw({ type: () => true, limit: MAX_BODY_BYTES });

  const run: RequestHandler = async (req, res) => {
    const decoded = decodeOrder(Buffer.isBuffer(req.body) ? req.body : undefined);
    if (!decoded.ok) return responder.error(res, 'bad_request', decoded.message);

    const client = new AbortController();
    const onClose = (): void => {
      if (res.writableEnded) return;
      client.abort(new OrderAborted('client_gone'));
      // Node treats a half-closed connection as gone but keeps it open for
      // a response that will never come; release it now.
      res.destroy();
    };
    res.once('close', onClose);
    if (req.socket.destroyed) onClose();
    try {
      const result = await orders.process(decoded.order, client.signal);
      if (client.signal.aborted) log.clientGone({ orderId: decoded.order.orderId, result });
      else responder.order(res, result);
    } finally {
      res.off('close', onClose);
    }
  };

  return [requireJson, readBody, run];
}

/** Why a Content-Type is not accepted, or undefined if it is application/json in UTF-8. */
function mediaTypeProblem(header: string | undefined): string | undefined {
  const expected = 'Content-Type must be application/json';
  if (!header) return `${expected}; none was given`;
  let parsed: contentType.ParsedMediaType;
  try {
    parsed = contentType.parse(header);
  } catch {
    return `${expected}; "${header}" is not a valid media type`;
  }
  if (typeIs.is(parsed.type, ['application/json']) === false) return `${expected}, got ${parsed.type}`;
  const charset = parsed.parameters['charset']?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return `JSON must be UTF-8, got charset ${charset}`;
  return undefined;
}
