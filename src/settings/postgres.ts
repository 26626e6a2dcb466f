/**
 * The settings of the durable mode: Postgres, its pools, and the
 * instances' leases.
 * Declared as src/settings/settings.ts says.
 */
import { z } from 'zod';
import { DEFAULT_RECOVERIES_MAX } from '../domain/lifecycle.js';
import { shortestLeaseMs, THREAD_EXIT_MS } from './bounds.js';
import { custom, integer, secretFile } from './setting.js';

const LEASE_RULE = `at least 2 × (CANCEL_GRACE_MS + ${THREAD_EXIT_MS}): an instance gives its lease up CANCEL_GRACE_MS + ${THREAD_EXIT_MS} ms early, for a stuck thread's couriers to come back first, and renews it in the other half`;

export const DURABLE = {
  DATABASE_URL: custom({
    secret: true,
    rule: 'a postgres://user:password@host:port/database URL',
    schema: z.string().refine((raw) => {
      const url = URL.parse(raw);
      return url !== null && (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
    }),
    fallback: undefined as string | undefined,
    default: 'unset: in memory',
    allowed: '`postgres://user:password@host:port/database`',
    about: 'the durable mode (see [durability.md](durability.md))',
  }),
  DATABASE_URL_FILE: secretFile(
    { variable: 'DATABASE_URL', shape: 'whole' },
    {
      default: 'unset',
      allowed: 'a readable file',
      about: '`DATABASE_URL` read from this file (trimmed) instead, as a mounted Secret; both set is refused',
    },
  ),
  LEASE_MS: integer({
    needs: 'durable',
    min: (read) => shortestLeaseMs(read.number('CANCEL_GRACE_MS')),
    max: 600_000,
    fallback: (read) => Math.max(5000, shortestLeaseMs(read.number('CANCEL_GRACE_MS'))),
    why: () => LEASE_RULE,
    default: '5000, or 2 × (`CANCEL_GRACE_MS` + 50) if longer',
    allowed: '2 × (`CANCEL_GRACE_MS` + 50) (600) – 600000',
    about:
      "an instance's lease: a lost instance's orders are taken over this long after it last renewed; the instance gives it up itself max(`LEASE_MS` / 5, `CANCEL_GRACE_MS` + 50 ms) early, so that a stuck thread's couriers are back before another instance may take them",
  }),
  ORDER_RECOVERIES_MAX: integer({
    needs: 'durable',
    min: 0,
    max: 100,
    fallback: DEFAULT_RECOVERIES_MAX,
    about:
      'takeovers of an order whose instance was lost that resume it from its recorded steps; the next parks it `dead_lettered` (its payment voided, an alarm, an `order.dead_lettered` event). 0: parked at its first takeover',
  }),
  DB_POOL_SIZE: integer({
    needs: 'durable',
    min: 2,
    max: 100,
    fallback: 10,
    about:
      'connections to Postgres per instance for the orders and recovery, opened at start and kept (+1 for LISTEN, +1 for the lease, + `DB_READ_CONNECTIONS` for reads, +8 for the webhook delivery thread, +1 briefly for a probe)',
  }),
  DB_READ_CONNECTIONS: integer({
    needs: 'durable',
    min: 1,
    max: 100,
    fallback: 2,
    about:
      "the reads' (`GET /orders/{id}`, the lists, the feed) own pool, kept open: a burst of reads never takes a connection the orders need (`store_read_connections` on `/metrics`); a free one goes to the client holding the fewest, each client's reads by key together",
  }),
  DB_READ_WAIT_MS: integer({
    needs: 'durable',
    min: 1,
    max: 10_000,
    fallback: 500,
    about:
      'how long a read waits for one of those; then 503 `overloaded` with Retry-After (`store_reads_shed_total`) — busy, never `store_unavailable`',
  }),
  DB_READS_WAITING_MAX: integer({
    needs: 'durable',
    min: 0,
    max: 100_000,
    fallback: 100,
    about:
      "reads waiting for a connection at most, with one running per connection, shared between the clients by their floors (`store_reads` counts them with those running); a read beyond its client's share is answered 503 `overloaded` at once",
  }),
  INSTANCES: integer({
    min: 1,
    max: 64,
    fallback: 1,
    allowed: '1–64; more than 1 needs `DATABASE_URL`',
    about: 'processes sharing the port (node:cluster), each with its own threads',
  }),
};
