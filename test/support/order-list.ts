/** A query of the order list (src/orders/order-list.ts): every order, 50 a page, but for what `over` says. */
import type { OrderListQuery } from '../../src/orders/order-list.js';

export const listQuery = (over: Partial<OrderListQuery> = {}): OrderListQuery => ({
  client: undefined,
  state: undefined,
  since: undefined,
  until: undefined,
  after: [],
  limit: 50,
  ...over,
});
