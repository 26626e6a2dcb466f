/**
 * Every environment variable the service reads, declared once, grouped by
 * capability: a group to a file of this folder (orders, http, clients,
 * dependencies, postgres, webhooks, observability, deployment), gathered
 * here in the guide's order. A declaration gives the rule (and so the
 * start-up error line), the default, the guide's words and, for a plain
 * value, the Config field that holds it; `npm run openapi` writes the
 * guide's settings page (docs/settings.md) from here and
 * test/unit/settings.test.ts fails until it has.
 *
 * A new setting: one entry in its group, after any setting its bounds read;
 * with a `field`, it is in Config at once. A group is parsed in the order
 * written, groups in the order of SETTING_GROUPS.
 */
import { CLIENTS } from './clients.js';
import { DEPENDENCIES } from './dependencies.js';
import { DEPLOYMENT } from './deployment.js';
import { HTTP } from './http.js';
import { OBSERVABILITY, TRACING } from './observability.js';
import { ORDERS } from './orders.js';
import { DURABLE } from './postgres.js';
import { EVENTS } from './webhooks.js';

/** The guide's sections, in the order they are parsed. */
export const SETTING_GROUPS = [
  ['Orders and threads', ORDERS],
  ['HTTP', HTTP],
  ['Clients and keys', CLIENTS],
  ['Dependencies', DEPENDENCIES],
  ['Durable mode', DURABLE],
  ['Events and webhooks', EVENTS],
  ['Tracing', TRACING],
  ['Logs and metrics', OBSERVABILITY],
  ['Deployment and shutdown', DEPLOYMENT],
] as const;

export const SETTINGS = {
  ...ORDERS,
  ...HTTP,
  ...CLIENTS,
  ...DEPENDENCIES,
  ...DURABLE,
  ...EVENTS,
  ...TRACING,
  ...OBSERVABILITY,
  ...DEPLOYMENT,
};

/** Settings that are gone: set, they stop the process with what replaced them. */
export const REMOVED: Readonly<Record<string, string>> = {
  IDEMPOTENCY_MAX_ENTRIES: 'the order records are bounded by memory, ORDER_RECORDS_MAX_MB',
};
