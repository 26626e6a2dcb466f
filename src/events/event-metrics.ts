/**
 * The webhooks' figures on the service's registry, read from the relay when
 * Prometheus scrapes (nothing is counted on the delivery path but plain
 * numbers). `webhook_backlog_age_seconds` is the one to alert on: how long
 * the oldest event still waiting for a delivery has waited.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Deliveries } from './deliveries.js';

export function registerEventMetrics(registry: Registry, relay: Deliveries): void {
  const registers = [registry];
  // Counters of what the relay counts itself, by one label: Prometheus is given the growth since the last scrape.
  const counted = (
    name: string,
    help: string,
    label: string,
    read: () => Promise<Readonly<Record<string, number>>>,
  ): void => {
    const seen = new Map<string, number>();
    new Counter({
      name,
      help,
      labelNames: [label],
      registers,
      async collect() {
        for (const [value, now] of Object.entries(await read())) {
          this.inc({ [label]: value }, now - (seen.get(value) ?? 0));
          seen.set(value, now);
        }
      },
    });
  };
  counted(
    'webhook_deliveries_total',
    'Webhook delivery attempts by outcome: delivered (2xx), failed (retried), gone (410: endpoint disabled), dropped (its client’s share of the backlog full).',
    'outcome',
    async () => (await relay.figures()).attempts,
  );
  counted(
    'webhook_deliveries_dropped_total',
    "Webhook deliveries dropped by client: its share of the backlog (EVENTS_MAX) was full, its endpoints failing or slow. Another client's are never dropped for it.",
    'client',
    async () => (await relay.figures()).droppedByClient,
  );
  counted(
    'webhook_endpoints_disabled_total',
    'Webhook endpoints disabled: gone (answered 410), failing (every delivery failed for the whole retry window).',
    'reason',
    async () => (await relay.figures()).disabled,
  );
  new Gauge({
    name: 'webhook_backlog_age_seconds',
    help: 'Age of the oldest event still waiting to be delivered to an enabled endpoint; 0 when none waits.',
    registers,
    async collect() {
      const { oldestUndeliveredAt: oldest } = await relay.figures();
      this.set(oldest ? Math.max(0, (Date.now() - oldest.getTime()) / 1000) : 0);
    },
  });
  new Gauge({
    name: 'webhook_deliveries_pending',
    help: 'Webhook deliveries waiting (retries included).',
    registers,
    async collect() {
      this.set((await relay.figures()).pending);
    },
  });
}
