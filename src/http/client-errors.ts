/**
 * Requests Node's HTTP layer rejects before the app sees them — bytes that
 * are not HTTP/1.1 (Content-Length with Transfer-Encoding, two
 * Content-Lengths, a bad character in a header), headers over the size
 * limit, a request that did not arrive within the header or request timeout
 * — are answered in the service's JSON error contract, with a request id and
 * `Connection: close`, and logged with the parser's error code. Node's own
 * answer is a bare text status line that no log mentions.
 *
 * What the error is about decides how it is answered:
 * - nothing of a response on the connection yet: the answer is written to
 *   the socket directly (there is no request object);
 * - the request being read has a response object, not yet started (its body
 *   was malformed or too slow): the answer goes through that response, so
 *   the request's own log line says what happened;
 * - the request being answered was complete, so the error is in one
 *   pipelined after it: that answer goes out, then the connection closes;
 * - the client is gone, or a response was already under way: the
 *   connection is cut.
 */
import { maxHeaderSize, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { ErrorKind } from '../domain/errors.js';
import { randomUuid } from '../random-ids.js';
import type { ErrorResponse } from './wire/api-schemas.js';
import { STATUS_BY_KIND } from './wire/error-status.js';
import { PROBLEM_JSON, prefersProblem, problem } from './wire/problem-details.js';
import { rawAnswer } from './wire/raw-answer.js';
import { requestIdFrom } from './guards/request-log.js';
import { requestIdOf } from './wire/response-headers.js';

/** What Node hands to 'clientError': llhttp's errors carry a code, a reason and the bytes being parsed. */
export interface ClientError extends Error {
  readonly code?: string;
  readonly reason?: string;
  readonly rawPacket?: Buffer;
}

export interface RequestTimeouts {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

/**
 * Errors that only say the client went away: nobody to answer. A client
 * that closes its side halfway through a request (HPE_INVALID_EOF_STATE)
 * has left it unfinished; its request, if it got that far, is logged 499.
 */
const CONNECTION_LOST = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'HPE_INVALID_EOF_STATE']);

/** The code of a body cut for arriving too slowly (server.ts), as Node's own request timeout is told. */
export const BODY_TOO_SLOW = 'BODY_TOO_SLOW';

/** The socket's response in progress, if any: Node keeps it there (it is what Node's own handler looks at). */
type HttpSocket = Socket & { readonly _httpMessage?: ServerResponse | null };

export function clientErrorHandler(
  log: Logger,
  timeouts: RequestTimeouts,
): (error: ClientError, socket: Duplex) => void {
  // The parser fails again on every later chunk of a connection it gave up on: answer once.
  const seen = new WeakSet<Duplex>();
  return (error, duplex) => {
    const socket = duplex as HttpSocket;
    if (seen.has(socket)) return;
    seen.add(socket);
    const code = error.code ?? 'unknown';
    if (CONNECTION_LOST.has(code) || !socket.writable) {
      log.debug({ code }, 'connection lost');
      socket.destroy();
      return;
    }
    const { kind, message } = describe(error, timeouts);
    const status = STATUS_BY_KIND[kind];
    const pending = socket._httpMessage;
    /** The service's JSON error, or problem details for a request that prefers them (as far as it was read). */
    const answer = (requestId: string, accept: string | string[] | undefined) =>
      prefersProblem(accept)
        ? { type: PROBLEM_JSON, body: JSON.stringify(problem(kind, message, requestId)) }
        : {
            type: 'application/json',
            body: JSON.stringify({ status: 'error', error: { kind, message } } satisfies ErrorResponse),
          };
    const fields = { code, status, kind, bytes_read: socket.bytesRead };

    if (!pending) {
      const requestId = requestIdFrom(headerIn(error.rawPacket, 'x-request-id'));
      log.info({ request_id: requestId, ...fields }, `request rejected: ${message}`);
      // Closed once the answer is out: the rest of what the client sends is not HTTP this parser can read.
      socket.end(rawResponse(status, requestId, answer(requestId, headerIn(error.rawPacket, 'accept'))));
      socket.destroySoon();
      return;
    }
    if (pending.headersSent) {
      log.info({ request_id: requestIdOf(pending), ...fields }, `connection cut: ${message}`);
      socket.destroy();
      return;
    }
    if (pending.req.complete) {
      // The answer being prepared belongs to an earlier request, which was fine.
      log.info(
        { request_id: requestIdOf(pending), ...fields },
        `a request pipelined after this one was rejected: ${message}; closing after this answer`,
      );
      pending.setHeader('Connection', 'close');
      return;
    }
    const requestId = String(requestIdOf(pending) ?? randomUuid());
    log.info({ request_id: requestId, ...fields }, `request rejected: ${message}`);
    const { type, body } = answer(requestId, pending.req.headers.accept);
    pending.writeHead(status, {
      'Content-Type': `${type}; charset=utf-8`,
      'Content-Length': Buffer.byteLength(body),
      'X-Request-Id': requestId,
      Connection: 'close',
    });
    pending.end(body);
  };
}

function describe(
  error: ClientError,
  { headersTimeoutMs, requestTimeoutMs }: RequestTimeouts,
): { kind: ErrorKind; message: string } {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        kind: 'request_timeout',
        message: `the request did not arrive in time: headers within ${headersTimeoutMs} ms, all of it within ${requestTimeoutMs} ms`,
      };
    case BODY_TOO_SLOW:
      return {
        kind: 'request_timeout',
        message:
          'the request body did not keep arriving: once its headers are in, a body must come at 1 KiB a second after its first second',
      };
    case 'HPE_HEADER_OVERFLOW':
      return { kind: 'headers_too_large', message: `the request line and headers exceed ${maxHeaderSize} bytes` };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { kind: 'payload_too_large', message: 'the chunk extensions of the body are too large' };
    default:
      return { kind: 'bad_request', message: `not a valid HTTP/1.1 request: ${error.reason ?? error.message}` };
  }
}

function rawResponse(status: number, requestId: string, { type, body }: { type: string; body: string }): string {
  const headers = {
    'Content-Type': `${type}; charset=utf-8`,
    'X-Request-Id': requestId,
    Date: new Date().toUTCString(),
  };
  return rawAnswer({ status, headers, body });
}

/** A header's value in the raw bytes of a request the parser gave up on, if it got that far. */
function headerIn(raw: Buffer | undefined, name: string): string | undefined {
  if (!raw) return undefined;
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end === -1 ? raw.length : end + 2).toString('latin1');
  return new RegExp(`\\r\\n${name}:[ \\t]*([^\\r\\n]*?)[ \\t]*\\r\\n`, 'i').exec(head)?.[1];
}
