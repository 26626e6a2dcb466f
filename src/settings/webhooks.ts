/**
 * The settings of the events and their webhooks.
 * Declared as src/settings/settings.ts says.
 */
import { THREE_DAYS_MS } from './bounds.js';
import { integer, onOff } from './setting.js';

export const EVENTS = {
  WEBHOOK_TIMEOUT_MS: integer({
    field: 'webhookTimeoutMs',
    min: 1,
    max: 600_000,
    fallback: 10_000,
    about:
      'one webhook delivery attempt, from when its request has a socket (not while it waits for one) to its status line; past it the attempt has failed and is retried. The answer is then read up to 16 KiB, past which its connection is closed',
  }),
  WEBHOOKS_PER_CLIENT: integer({
    field: 'webhooksPerClient',
    min: 0,
    max: 1000,
    fallback: 10,
    about: 'webhook endpoints one client may register; beyond, 409 `too_many_webhooks`',
  }),
  WEBHOOK_ALLOW_PRIVATE_TARGETS: onOff({
    field: 'allowPrivateTargets',
    fallback: false,
    about:
      'on: webhook URLs may be plain http and reach loopback, private, link-local and metadata addresses — for tests and private networks only; the start-up line says `webhook_private_targets: allowed` and a warning line follows',
  }),
  // At most 10 s before jitter lowers it: the first retry comes within 10 s.
  WEBHOOK_RETRY_FIRST_MS: integer({
    field: 'retryFirstMs',
    min: 1,
    max: 10_000,
    fallback: 5000,
    about:
      'the first retry of a failed delivery comes after half to all of this; each next wait is four times longer, up to `WEBHOOK_RETRY_MAX_MS` (see [events.md](events.md#delivery))',
  }),
  WEBHOOK_RETRY_MAX_MS: integer({
    field: 'retryMaxMs',
    min: 1000,
    max: 12 * 3_600_000,
    fallback: 12 * 3_600_000,
    default: '43200000 (12 h)',
    allowed: '1 s – 12 h',
    about:
      'the longest wait between two attempts of a delivery, before jitter: the four-fold growth stops there (the chaos harness sets 5 s, so that a delivery failed many times under its faults is tried again while it waits)',
  }),
  WEBHOOK_RETRY_WINDOW_MS: integer({
    field: 'retryWindowMs',
    min: 1,
    max: 30 * 24 * 3_600_000,
    fallback: THREE_DAYS_MS,
    default: '259200000 (3 days)',
    allowed: '1 – 30 days',
    about:
      'how long an event is retried; past it an endpoint that took nothing meanwhile is disabled (`failing`), otherwise the one event is given up (GET /events still has it)',
  }),
  EVENTS_MAX: integer({
    field: 'eventsMax',
    min: 1,
    max: 10_000_000,
    fallback: 100_000,
    about:
      "in memory: events kept for `GET /events`, shared by the clients (past it, the oldest of the client keeping the most per unit of its weight goes; a feed resumed from behind it is 410 `events_gone`); in both modes: webhook deliveries owed at most, shared by the clients by weight (past a client's share, its own new ones are dropped and counted, `webhook_deliveries_dropped_total{client}`; see [bulkheads](clients-and-money.md#bulkheads-one-client-never-takes-the-others-down))",
  }),
  EVENT_RETENTION_DAYS: integer({
    field: 'retentionDays',
    min: 1,
    max: 3650,
    fallback: 30,
    about:
      'durable mode: events are kept this long at least (for `GET /events`), and never forgotten while a delivery of them is owed (see [outbox.md](outbox.md#in-postgres))',
  }),
};
