/**
 * Conditional GET (RFC 9110 §13): a strong ETag of an answer's body, and
 * whether a request's If-None-Match names it, so that a client polling an
 * order (or the API document) is told 304, no body, while nothing changed.
 *
 * Compared here rather than by Express's `fresh`: `fresh` answers "not fresh"
 * to any request carrying `Cache-Control: no-cache`, which is a word to the
 * caches between, not to the origin — and fetch() adds it to every request
 * with If-None-Match, so no fetch() client was ever told 304.
 */
import { createHash } from 'node:crypto';

/** A strong ETag of `body`: the same bytes, the same tag. */
export function strongEtag(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/**
 * Whether If-None-Match names `etag`, by the weak comparison the field asks for (W/"x" names "x"), or is `*` (the
 * resource exists: it is being answered).
 */
export function noneMatchNames(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  for (const tag of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const trimmed = tag.trim();
    if (trimmed === '*' || (trimmed.startsWith('W/') ? trimmed.slice(2) : trimmed) === etag) return true;
  }
  return false;
}
