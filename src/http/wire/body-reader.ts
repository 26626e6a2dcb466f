/**
 * Reading a request body: at most MAX_BODY_BYTES on the wire and, once
 * decoded (Content-Encoding gzip, deflate or br), at most MAX_BODY_BYTES
 * again — a small compressed body cannot inflate into a large one. A
 * Content-Length over the limit is refused before a byte of the body is
 * read, and a chunked body the moment it passes the limit; the answer then
 * closes the connection (see Responder), so the rest is never read.
 * body-parser, which this replaces, reads and discards the whole body before
 * answering, however long the client keeps sending, and turns a corrupt
 * compressed body into an error the app could only answer 500.
 */
import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate } from 'node:zlib';
import type { RequestHandler } from 'express';
import getRawBody from 'raw-body';
import type { ErrorKind } from '../../domain/errors.js';

export const MAX_BODY_BYTES = 64 * 1024;

/** Why a body could not be read; `client_gone` is not answered. */
export class BodyError extends Error {
  override readonly name = 'BodyError';
  constructor(
    readonly kind: Extract<ErrorKind, 'bad_request' | 'payload_too_large' | 'unsupported_media_type' | 'client_gone'>,
    message: string,
  ) {
    super(message);
  }
}

type Decoder = (compressed: Buffer, options: { maxOutputLength: number }) => Promise<Buffer>;

/**
 * Run on libuv's thread pool, off the main thread. `x-gzip` is gzip (RFC
 * 9110 §8.4.1.3). A Map, not an object: a client's `constructor` or
 * `__proto__` must not find something an object inherits.
 */
const DECODERS: ReadonlyMap<string, Decoder> = new Map([
  ['gzip', promisify(gunzip)],
  ['x-gzip', promisify(gunzip)],
  ['deflate', promisify(inflate)],
  ['br', promisify(brotliDecompress)],
]);

/** Puts the body, as a Buffer, in `req.body`; errors go to the error handler as BodyError. */
export function readBody(limit = MAX_BODY_BYTES): RequestHandler {
  return (req, _res, next) => {
    read(req, limit).then((body) => {
      req.body = body;
      next();
    }, next);
  };
}

async function read(req: IncomingMessage, limit: number): Promise<Buffer> {
  const coding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  const decode = DECODERS.get(coding);
  if (!decode && coding !== 'identity') {
    throw new BodyError('unsupported_media_type', 'unsupported Content-Encoding; use identity, gzip, deflate or br');
  }
  let wire: Buffer;
  try {
    wire = await getRawBody(req, { limit, length: req.headers['content-length'] ?? null });
  } catch (error) {
    throw readFailure(error, req, limit);
  }
  if (!decode) return wire;
  try {
    return await decode(wire, { maxOutputLength: limit });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw new BodyError('payload_too_large', `body exceeds ${limit} bytes once decoded (${coding})`);
    throw new BodyError('bad_request', `body is not valid ${coding} data: ${(error as Error).message}`);
  }
}

function readFailure(error: unknown, req: IncomingMessage, limit: number): Error {
  if (req.socket.destroyed) return new BodyError('client_gone', 'the client went away while sending the body');
  switch ((error as { type?: unknown }).type) {
    case 'entity.too.large':
      return new BodyError('payload_too_large', `body exceeds ${limit} bytes`);
    case 'request.aborted':
      return new BodyError('client_gone', 'the client went away while sending the body');
    case 'request.size.invalid':
      return new BodyError('bad_request', 'body length does not match Content-Length');
    default:
      return error instanceof Error ? error : new Error(String(error));
  }
}
