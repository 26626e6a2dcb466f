/**
 * Each client's share of the orders in flight and of the order records'
 * memory (the bulkheads, at admission). While more than one client shares
 * the service, a client may have at most ceil(MAX_INFLIGHT × CLIENT_MAX_SHARE)
 * orders in flight and keep at most CLIENT_MAX_SHARE of ORDER_RECORDS_MAX_MB
 * in records; beyond either, its new orders are shed before anything starts
 * — other clients' are not, and they always find the rest.
 *
 * Shares are floors as well as caps, by src/fairness/fair-share.ts's rule:
 * here a client is active for 10 s after it asked for an order, or while it
 * has one in flight, and while a client that exists is idle a newcomer's
 * floor is kept too. The admin, when it sends orders, is a client like any
 * other (named `admin`), with its own floor while it is active: a client that
 * keeps no floor would get only what the others' floors leave, and beside a
 * configured client that is idle — whose newcomer's floor is the whole of it
 * — that is nothing. Who is active is this class's to say (`sharers`), for
 * the couriers and the turns of thread time too.
 *
 * An order whose deadline is longer than the service's own (ORDER_TIMEOUT_MS:
 * `deadline_ms`, a respond-async order's minutes) may hold its room longer
 * than an order within its floor waits for one, and takes room only within
 * its client's lasting floor: ⌊MAX_INFLIGHT × its weight / (the weights of
 * every client that exists + a newcomer's)⌋, what it keeps whoever comes.
 * Beyond it, it is shed as over its share; orders of the service's deadline
 * are not (src/fairness/fair-share.ts says why a floor needs this).
 *
 * Asked from an order's admission (src/orders/order-admission.ts), synchronously
 * and with nothing awaited before the run is counted: the count of a client's
 * orders cannot be overtaken by orders admitted at the same moment.
 */
import type { ClientBook } from '../clients/client-book.js';
import type { AdmittedOnTerms, DependencyAdmission, ShareFull } from './admission.js';
import type { OrderResult } from '../pipeline/order-pipeline.js';
import type { OrderRecords } from './order-records.js';
import { ActiveClients } from '../fairness/active-clients.js';
import {
  capOf,
  lastingFloorOf,
  mayTakeOne,
  NEWCOMER_WEIGHT,
  roomOf,
  withinFloor,
  type Holdings,
  type Sharers,
} from '../fairness/fair-share.js';

export interface ClientSharesOptions {
  /** MAX_INFLIGHT. */
  readonly maxInflight: number;
  /** ORDER_RECORDS_MAX_MB, in bytes. */
  readonly recordsMaxBytes: number;
  readonly records: Pick<OrderRecords, 'bytesOf' | 'isFullFor'>;
  /**
   * Who exists, and whether the caps apply (more than one client, CLIENT_MAX_SHARE below 1); told what each client is
   * refused.
   */
  readonly clients: Pick<ClientBook, 'entryOf' | 'capped' | 'refused' | 'share' | 'count' | 'totalWeight'>;
  /**
   * ORDER_TIMEOUT_MS: a run whose deadline is longer may hold its room longer than an order waits for one, and is
   * taken only within its client's lasting floor. Without: every run counts as ending within a wait.
   */
  readonly lastingFromMs?: number;
  /** The clock, in milliseconds (performance.now by default). */
  readonly now?: () => number;
}

/** How long a client counts as active after it last asked for an order: its floor is kept for it meanwhile. */
const ACTIVE_MS = 10_000;

export class ClientShares implements Holdings {
  private readonly inFlight = new Map<string, number>();
  /** Of those, each client's runs whose deadline is beyond lastingFromMs. */
  private readonly longInFlight = new Map<string, number>();
  private total = 0;
  private readonly activity: ActiveClients;
  private readonly listeners: Array<(sharers: Sharers) => void> = [];
  /** Orders in flight one client may have while capped. */
  readonly ordersLimit: number;
  /** Record bytes one client may keep while capped. */
  readonly recordsLimit: number;

  constructor(private readonly options: ClientSharesOptions) {
    this.ordersLimit = capOf(options.maxInflight, options.clients.share);
    this.recordsLimit = Math.floor(roundedShare(options.recordsMaxBytes, options.clients.share));
    this.activity = new ActiveClients(ACTIVE_MS, options.now);
  }

  /** The orders in flight as the rule reads them (Holdings): MAX_INFLIGHT, all in flight, and each client's. */
  get capacity(): number {
    return this.options.maxInflight;
  }

  get busy(): number {
    return this.total;
  }

  heldOf(client: string): number {
    return this.inFlightOf(client);
  }

  /** `client` asks for an order, whether or not there is room for it: it is active, and its floor is kept. */
  asked(client: string): void {
    this.activity.asked(client);
    this.told();
  }

  /**
   * A new order of `client`, of a deadline of `deadlineMs` (undefined: the service's), would start: the share of it
   * that is full, if one is and the caps apply. The client exists for sharing from now on.
   */
  fullFor(client: string, deadlineMs?: number): ShareFull | undefined {
    const { clients, records } = this.options;
    clients.entryOf(client);
    this.activity.asked(client);
    this.told();
    if (!clients.capped) return undefined;
    const sharers = this.sharers();
    let full: ShareFull | undefined;
    if (!mayTakeOne(client, this, sharers, this.ordersLimit)) {
      const limit = Math.min(this.ordersLimit, roomOf(client, this, sharers));
      full = { client, share: 'orders_in_flight', held: this.inFlightOf(client), limit };
    } else if (this.isLong(deadlineMs) && !this.longFits(client)) {
      full = { client, share: 'long_orders_in_flight', held: this.longOf(client), limit: this.lastingFloor(client) };
    } else if (records.isFullFor(client, this.recordsLimit))
      full = { client, share: 'records', held: records.bytesOf(client) ?? 0, limit: this.recordsLimit };
    if (full) clients.refused(client, full.share === 'records' ? 'shed_records' : 'shed_orders_in_flight');
    return full;
  }

  /** Whether a new order of `client` would fit its share of the orders in flight now (fullFor, telling nobody). */
  wouldFit(client: string, deadlineMs?: number): boolean {
    if (!this.options.clients.capped) return true;
    return (
      mayTakeOne(client, this, this.sharers(), this.ordersLimit) && (!this.isLong(deadlineMs) || this.longFits(client))
    );
  }

  /**
   * Whether a new order of `client` would stay within its floor while the caps apply: refused room, it is owed the
   * first that frees (every unit it finds taken is held beyond a floor).
   */
  withinFloor(client: string): boolean {
    return this.options.clients.capped && withinFloor(client, this, this.sharers());
  }

  /**
   * `admission`, counted as one of the client's orders in flight if it admits a run (of a deadline of `deadlineMs`),
   * until the run ends.
   */
  counted(client: string, admission: DependencyAdmission, deadlineMs?: number): DependencyAdmission {
    if (admission !== 'admitted' && !(typeof admission === 'object' && 'admitted' in admission)) return admission;
    this.inFlight.set(client, this.inFlightOf(client) + 1);
    this.total++;
    const long = this.isLong(deadlineMs);
    if (long) this.longInFlight.set(client, this.longOf(client) + 1);
    return new CountedRun(this, client, long, admission === 'admitted' ? undefined : admission);
  }

  /** A run `counted` for `client` (`long`: of a deadline beyond lastingFromMs) has ended. */
  runEnded(client: string, long = false): void {
    this.total--;
    lessOne(this.inFlight, client);
    if (long) lessOne(this.longInFlight, client);
    this.told();
  }

  inFlightOf(client: string): number {
    return this.inFlight.get(client) ?? 0;
  }

  /** `client`'s runs in flight whose deadline is beyond lastingFromMs. */
  longOf(client: string): number {
    return this.longInFlight.get(client) ?? 0;
  }

  /** Whether a run of a deadline of `deadlineMs` may hold its room longer than an order waits for one. */
  private isLong(deadlineMs: number | undefined): boolean {
    const { lastingFromMs } = this.options;
    return lastingFromMs !== undefined && deadlineMs !== undefined && deadlineMs > lastingFromMs;
  }

  /** Whether one more long run keeps `client` within its lasting floor. */
  private longFits(client: string): boolean {
    return this.longOf(client) + 1 <= this.lastingFloor(client);
  }

  private lastingFloor(client: string): number {
    const { clients, maxInflight } = this.options;
    return lastingFloorOf(maxInflight, clients.entryOf(client).weight, clients.totalWeight);
  }

  /**
   * Who shares the service now (src/fairness/fair-share.ts): the active clients — those that asked in the last
   * ACTIVE_MS or have an order in flight — and, while a client that exists is idle, a newcomer's weight. The couriers
   * and the turns of thread time keep the same floors.
   */
  sharers(): Sharers {
    const { clients } = this.options;
    return this.activity.sharers({
      heldOf: (name) => this.inFlightOf(name),
      weightOf: (name) => clients.entryOf(name).weight,
      newcomer: (active) => (clients.count > active ? NEWCOMER_WEIGHT : 0),
    });
  }

  /** Called whenever who shares the service may have changed: a client asked, or an order ended. */
  onSharers(listener: (sharers: Sharers) => void): void {
    this.listeners.push(listener);
  }

  private told(): void {
    // Uncapped (one client alone), nobody keeps a floor; the first ask once capped tells.
    if (this.listeners.length === 0 || !this.options.clients.capped) return;
    const sharers = this.sharers();
    for (const listener of this.listeners) listener(sharers);
  }
}

/** One less of `key`'s count, forgotten at 0. */
function lessOne(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 0) - 1;
  if (left > 0) counts.set(key, left);
  else counts.delete(key);
}

/**
 * `total × share`, without the float's dust: 10 × 0.6 is 6, not 6.000000000000001 (CLIENT_MAX_SHARE is to the
 * thousandth).
 */
function roundedShare(total: number, share: number): number {
  return (total * Math.round(share * 1000)) / 1000;
}

/** A run counted in its client's share until it ends, then passed on to the terms it was admitted on, if any. */
class CountedRun implements AdmittedOnTerms {
  readonly admitted = true;

  constructor(
    private readonly shares: ClientShares,
    private readonly client: string,
    private readonly long: boolean,
    private readonly terms: AdmittedOnTerms | undefined,
  ) {}

  ended(result: OrderResult | undefined): void {
    this.shares.runEnded(this.client, this.long);
    this.terms?.ended(result);
  }
}
