/**
 * Each client's share of the orders in flight and of the order records'
 * memory (the bulkheads, at admission). While more than one client shares
 * the service, a client may have at most ceil(MAX_INFLIGHT × CLIENT_MAX_SHARE)
 * orders in flight and keep at most CLIENT_MAX_SHARE of ORDER_RECORDS_MAX_MB
 * in records; beyond either, its new orders are shed before anything starts
 * — other clients' are not, and they always find the rest.
 *
 * Asked from the admission callback (src/http/order-route.ts), synchronously
 * and with nothing awaited before the run is counted: the count of a client's
 * orders cannot be overtaken by orders admitted at the same moment.
 */
import type { ClientBook } from '../clients/client-book.js';
import type { Admission, ShareFull } from './order-desk.js';
import type { OrderRecords } from './order-records.js';

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
  readonly clients: Pick<ClientBook, 'entryOf' | 'capped' | 'refused' | 'share'>;
}

export class ClientShares {
  private readonly inFlight = new Map<string, number>();
  /** Orders in flight one client may have while capped. */
  readonly ordersLimit: number;
  /** Record bytes one client may keep while capped. */
  readonly recordsLimit: number;

  constructor(private readonly options: ClientSharesOptions) {
    this.ordersLimit = Math.ceil(roundedShare(options.maxInflight, options.clients.share));
    this.recordsLimit = Math.floor(roundedShare(options.recordsMaxBytes, options.clients.share));
  }

  /**
   * A new order of `client` would start: the share of it that is full, if one
   * is and the caps apply. The client exists for sharing from now on.
   */
  fullFor(client: string): ShareFull | undefined {
    const { clients, records } = this.options;
    clients.entryOf(client);
    if (!clients.capped) return undefined;
    const orders = this.inFlightOf(client);
    let full: ShareFull | undefined;
    if (orders >= this.ordersLimit) full = { client, share: 'orders_in_flight', held: orders, limit: this.ordersLimit };
    else if (records.isFullFor(client, this.recordsLimit))
      full = { client, share: 'records', held: records.bytesOf(client) ?? 0, limit: this.recordsLimit };
    if (full) clients.refused(client, full.share === 'records' ? 'shed_records' : 'shed_orders_in_flight');
    return full;
  }

  /** `admission`, counted as one of the client's orders in flight if it admits a run, until the run ends. */
  counted(client: string, admission: Admission): Admission {
    if (admission !== 'admitted' && !(typeof admission === 'object' && 'admitted' in admission)) return admission;
    this.inFlight.set(client, this.inFlightOf(client) + 1);
    const then = admission === 'admitted' ? undefined : admission.ended;
    return {
      admitted: true,
      ended: (result) => {
        const left = this.inFlightOf(client) - 1;
        if (left > 0) this.inFlight.set(client, left);
        else this.inFlight.delete(client);
        then?.(result);
      },
    };
  }

  inFlightOf(client: string): number {
    return this.inFlight.get(client) ?? 0;
  }
}

/**
 * `total × share`, without the float's dust: 10 × 0.6 is 6, not 6.000000000000001 (CLIENT_MAX_SHARE is to the
 * thousandth).
 */
function roundedShare(total: number, share: number): number {
  return (total * Math.round(share * 1000)) / 1000;
}
