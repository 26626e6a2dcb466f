/**
 * The clients sharing the service, put together: the book of who exists (from
 * the configuration, then from the orders), and what each holds of every
 * scarce resource, gathered from where each is kept — the courier semaphore
 * (by index), the turns of thread time, the orders in flight, the records —
 * for /metrics and the thread view.
 */
import { ClientBook, type ClientTally } from '../clients/client-book.js';
import type { Config } from '../config.js';
import type { ViewedClient, ViewedClients } from '../observability/thread-frame.js';
import { CLIENT_INDICES } from '../shared-memory/slot-semaphore.js';
import type { CpuTurnFigures } from '../threads/cpu-turns.js';

/** The row of the clients beyond the semaphore's table, who share its last index. */
export const OTHER_CLIENTS = '(others)';
/** Rows the thread view lists; the rest are counted. */
const MAX_LISTED_CLIENTS = 24;

/**
 * Configured clients exist from the start: the keys' (API_KEYS) and those CLIENT_WEIGHTS names. In open mode there is
 * only the anonymous client.
 */
export function createClientBook(
  config: Pick<Config, 'access' | 'clientWeights' | 'clientMaxShare' | 'clientTiers'>,
): ClientBook {
  const configured =
    config.access.mode === 'keys'
      ? [...new Set([...config.access.clients.map(({ client }) => client), ...config.clientWeights.keys()])]
      : [];
  return new ClientBook({
    weights: config.clientWeights,
    tiers: config.clientTiers,
    configured,
    indices: CLIENT_INDICES,
    maxShare: config.clientMaxShare,
  });
}

/** Where each figure of a client is kept. */
export interface ClientSources {
  readonly book: Pick<ClientBook, 'tallies' | 'capped' | 'share'>;
  /** Courier slots held and steps waiting for one, by client index. */
  readonly couriersHeld: () => readonly number[];
  readonly couriersWaiting: () => readonly number[];
  readonly cpu: () => ReadonlyMap<string, CpuTurnFigures>;
  readonly ordersInFlightOf: (client: string) => number;
  /** Undefined where records are not kept in this process's memory. */
  readonly recordBytesOf: (client: string) => number | undefined;
}

/** Every client's figures, one row per index (the overflow's clients together). */
export function clientFigures(sources: ClientSources): ViewedClient[] {
  const held = sources.couriersHeld();
  const waiting = sources.couriersWaiting();
  const cpu = sources.cpu();
  const byIndex = new Map<number, ClientTally[]>();
  for (const tally of sources.book.tallies()) byIndex.set(tally.index, [...(byIndex.get(tally.index) ?? []), tally]);
  return [...byIndex].map(([index, members]) => {
    const sum = (figure: (tally: ClientTally) => number): number =>
      members.reduce((total, tally) => total + figure(tally), 0);
    const bytes = members.map((tally) => sources.recordBytesOf(tally.name));
    return {
      client: members.length === 1 ? members[0]!.name : OTHER_CLIENTS,
      weight: members.length === 1 ? members[0]!.weight : 1,
      tier: members.length === 1 ? members[0]!.tier : 'standard',
      orders_in_flight: sum((tally) => sources.ordersInFlightOf(tally.name)),
      couriers_held: held[index] ?? 0,
      couriers_waiting: waiting[index] ?? 0,
      cpu_steps_running: sum((tally) => cpu.get(tally.name)?.running ?? 0),
      cpu_steps_waiting: sum((tally) => cpu.get(tally.name)?.waiting ?? 0),
      record_bytes: bytes.some((each) => each === undefined)
        ? null
        : bytes.reduce<number>((total, each) => total + each!, 0),
      shed_orders_in_flight: sum((tally) => tally.refused.shed_orders_in_flight),
      shed_records: sum((tally) => tally.refused.shed_records),
      rate_limited: sum((tally) => tally.refused.rate_limited),
    };
  });
}

/** The thread view's section: the busiest clients first. */
export function viewedClients(sources: ClientSources): ViewedClients {
  const rows = clientFigures(sources);
  const load = (row: ViewedClient): number =>
    row.orders_in_flight + row.couriers_held + row.couriers_waiting + row.cpu_steps_running + row.cpu_steps_waiting;
  rows.sort((a, b) => load(b) - load(a) || (a.client < b.client ? -1 : 1));
  return {
    capped: sources.book.capped,
    max_share: sources.book.share,
    listed: rows.slice(0, MAX_LISTED_CLIENTS),
    more: Math.max(0, rows.length - MAX_LISTED_CLIENTS),
  };
}
