/**
 * The clients' figures (the bulkheads), labelled by client: gauges of what each holds now, counters of what each was
 * refused, read at scrape time.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ViewedClient } from '../thread-frame.js';

/** Per client: what it holds of each scarce resource now (gauges). */
const CLIENT_GAUGES = [
  ['client_orders_in_flight', 'Orders in flight, per client.', 'orders_in_flight'],
  ['client_couriers_held', 'Courier slots held by steps of the client.', 'couriers_held'],
  ['client_couriers_waiting', "The client's steps waiting for a courier slot.", 'couriers_waiting'],
  ['client_cpu_steps_running', "The client's steps with cpu_ms on threads.", 'cpu_steps_running'],
  [
    'client_cpu_steps_waiting',
    "The client's steps with cpu_ms waiting on the main thread for its turn of thread time.",
    'cpu_steps_waiting',
  ],
  [
    'client_order_record_bytes',
    "What the order records keep of the client's orders, estimated, in bytes (absent where records are kept in Postgres).",
    'record_bytes',
  ],
] as const satisfies ReadonlyArray<readonly [string, string, keyof ViewedClient]>;

/**
 * The clients' figures (the bulkheads), labelled by client: gauges of what
 * each holds, counters of what each was refused. Clients beyond the courier
 * semaphore's table share one label, "(others)".
 */
export function registerClientMetrics(registers: Registry[], clients: () => readonly ViewedClient[]): void {
  for (const [name, help, field] of CLIENT_GAUGES) {
    new Gauge({
      name,
      help,
      labelNames: ['client'],
      registers,
      collect() {
        this.reset();
        for (const row of clients()) {
          const value = row[field];
          if (value !== null) this.set({ client: row.client }, value);
        }
      },
    });
  }
  const shedSeen = new Map<string, number>();
  new Counter({
    name: 'client_orders_shed_total',
    help: "Orders shed 503 overloaded because their client's share was full — of the orders in flight, or of the order records' memory — while other clients shared the service.",
    labelNames: ['client', 'share'],
    registers,
    collect() {
      for (const row of clients()) {
        for (const [share, count] of [
          ['orders_in_flight', row.shed_orders_in_flight],
          ['records', row.shed_records],
        ] as const) {
          const key = `${share} ${row.client}`;
          this.inc({ client: row.client, share }, count - (shedSeen.get(key) ?? 0));
          shedSeen.set(key, count);
        }
      }
    },
  });
  const limitedSeen = new Map<string, number>();
  new Counter({
    name: 'client_orders_rate_limited_total',
    help: 'Orders refused 429 rate_limited: their client sent more than its CLIENT_RATE_LIMIT.',
    labelNames: ['client'],
    registers,
    collect() {
      for (const row of clients()) {
        this.inc({ client: row.client }, row.rate_limited - (limitedSeen.get(row.client) ?? 0));
        limitedSeen.set(row.client, row.rate_limited);
      }
    },
  });
}
