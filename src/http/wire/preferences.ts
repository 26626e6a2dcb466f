/**
 * The `Prefer` request header (RFC 7240), as far as this service honours it:
 * `respond-async` (answer 202 at once, the client hears the end later) and
 * `wait=N` (wait at most N seconds for the end, then 202; the order route bounds N by the order's deadline), or both
 * (the wait, then 202: RFC 7240 lets a client ask both, and `respond-async` alone says nothing of how long). Any other
 * preference is ignored, as the RFC asks of a server that does not know it;
 * a preference given twice counts once, the first (RFC 7240 §2).
 *
 * Hand-written: the one package for it on npm (parse-prefer-header) has not
 * moved since 2016 and renames the preferences; two of them are a few lines.
 */
export interface Preferences {
  readonly respondAsync: boolean;
  /** `wait=N`, in seconds; undefined if absent or not a number of seconds. */
  readonly waitSeconds: number | undefined;
}

const NONE: Preferences = { respondAsync: false, waitSeconds: undefined };
const SECONDS = /^\d{1,9}$/;

export function preferencesOf(header: string | string[] | undefined): Preferences {
  if (header === undefined) return NONE;
  const seen = new Map<string, string>();
  for (const preference of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    // A preference's own parameters (after ';') say nothing to these two.
    const [name = '', value = ''] = preference
      .split(';', 1)[0]!
      .split('=', 2)
      .map((part) => part.trim());
    const key = name.toLowerCase();
    if (key && !seen.has(key)) seen.set(key, value.replace(/^"(.*)"$/, '$1'));
  }
  const wait = seen.get('wait');
  return {
    respondAsync: seen.has('respond-async'),
    waitSeconds: wait !== undefined && SECONDS.test(wait) ? Number(wait) : undefined,
  };
}

/** `Preference-Applied` naming what was honoured (nothing: no header). */
export function preferenceApplied(applied: readonly string[]): Readonly<Record<string, string>> {
  return applied.length === 0 ? {} : { 'Preference-Applied': applied.join(', ') };
}
