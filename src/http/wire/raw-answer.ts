/**
 * An answer written straight to a socket, as bytes, where no response object
 * is to be had or worth making: a request Node's parser rejected, a
 * connection closed to make room, a read refused before routing. Each closes
 * its connection.
 */
import { STATUS_CODES } from 'node:http';
import type { ErrorResponse } from './api-schemas.js';
import { STATUS_BY_KIND } from './error-status.js';
import type { EdgeRefusal } from './refusal-answers.js';

export interface RawAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** The answer's bytes as a string: status line, headers, `Connection: close`, and the body (none for a HEAD). */
export function rawAnswer({ status, headers, body }: RawAnswer, { bodyless = false } = {}): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
  return `${head}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${bodyless ? '' : body}`;
}

/** A refusal in the service's JSON error shape, as bytes (`bodyless`: a HEAD's). */
export function rawRefusal({ kind, message, headers }: EdgeRefusal, { bodyless = false } = {}): string {
  const body = JSON.stringify({ status: 'error', error: { kind, message } } satisfies ErrorResponse);
  const all = { 'Content-Type': 'application/json; charset=utf-8', ...headers };
  return rawAnswer({ status: STATUS_BY_KIND[kind], headers: all, body }, { bodyless });
}
