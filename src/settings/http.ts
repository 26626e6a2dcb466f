/**
 * The settings of the HTTP server: where it listens, its timeouts, its
 * connections, and the hosts it answers to.
 * Declared as src/settings/settings.ts says.
 */
import { isIPv6 } from 'node:net';
import { z } from 'zod';
import { connectionHardLimit, descriptorReserve, FALLBACK_MAX_CONNECTIONS } from './bounds.js';
import { custom, integer, type Read } from './setting.js';

const hardLimit = (read: Read): number | undefined =>
  connectionHardLimit(read.machine.openFileLimit, read.number('THREADS'));

export const HTTP = {
  HOST: custom({
    field: 'host',
    rule: 'a host name or IP address',
    schema: z.string().regex(/^\S+$/),
    fallback: '127.0.0.1',
    default: '127.0.0.1',
    allowed: 'a host name or address',
    about: 'the address listened on',
  }),
  PORT: integer({ field: 'port', min: 0, max: 65535, fallback: 8080, about: '0 picks a free port' }),
  HEADERS_TIMEOUT_MS: integer({
    field: 'headersTimeoutMs',
    min: 1,
    max: 600_000,
    fallback: 10_000,
    allowed: '1–600000, ≤ `REQUEST_TIMEOUT_MS`',
    about:
      "a request's headers must have arrived by then (from the connection's or the request's first byte); else 408",
  }),
  REQUEST_TIMEOUT_MS: integer({
    field: 'requestTimeoutMs',
    min: 1,
    max: 600_000,
    fallback: 30_000,
    about: 'the whole request, body included, must have arrived by then; else 408. Answering it is not counted',
  }),
  KEEP_ALIVE_TIMEOUT_MS: integer({
    field: 'keepAliveTimeoutMs',
    min: 1,
    max: 600_000,
    fallback: 5000,
    about: 'an idle keep-alive connection is closed after it (Node adds 1 s of grace)',
  }),
  MAX_CONNECTIONS: integer({
    field: 'maxConnections',
    min: 1,
    max: (read) => hardLimit(read) ?? 10_000_000,
    fallback: (read) => {
      const limit = hardLimit(read);
      return limit === undefined ? FALLBACK_MAX_CONNECTIONS : Math.max(1, Math.floor(limit * 0.9));
    },
    hint: (read) => {
      const fdLimit = read.machine.openFileLimit;
      if (fdLimit === undefined) return undefined;
      return `the open-file limit ${fdLimit} less ${descriptorReserve(read.number('THREADS'))} for the process itself; raise it with ulimit -n`;
    },
    default: '90% of (open-file limit − 128 − 8 × `THREADS`); 16384 if the limit is unknown',
    allowed: '1 – open-file limit − 128 − 8 × `THREADS`',
    about: 'connections served at once; see [connection limits](deploying.md#connection-limits)',
  }),
  ALLOWED_HOSTS: custom({
    field: 'allowedHosts',
    rule: 'host names or addresses, comma-separated (IPv6 in brackets)',
    schema: z
      .string()
      .transform((raw) =>
        raw
          .split(',')
          .map((name) => name.trim().toLowerCase())
          .map((name) => (isIPv6(name) ? `[${name}]` : name)),
      )
      .pipe(z.array(z.string().regex(/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)$/))),
    fallback: (read: Read): string[] => defaultAllowedHosts(read.text('HOST')),
    default: 'the loopback names and the address listened on',
    allowed: 'host names or addresses, comma-separated; a bare IPv6 address is taken as `[address]`',
    about:
      "what the `Host` header may name; anything else is 421 (the probes excepted, not `/metrics`: a scrape by the pod's IP needs that IP here, as deploy/ puts it)",
  }),
};

/** The loopback names and the address listened on, as a Host header names it. */
function defaultAllowedHosts(host: string): string[] {
  const listened = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const wildcard = host === '0.0.0.0' || host === '::' || host === '[::]';
  return [...new Set(['localhost', '127.0.0.1', '[::1]', ...(wildcard ? [] : [listened.toLowerCase()])])];
}
