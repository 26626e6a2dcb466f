/**
 * GET /console: the operator's console, one self-contained page (web/console/)
 * put together at start like the thread view (page-assembly.ts): the orders
 * as a list with filters and paging, one order's timeline drawn on its
 * threads, its money, its events and their deliveries, and the actions on
 * them, each confirmed first. It reads GET /orders and GET
 * /orders/{id}/timeline and acts through the admin routes; it holds nothing
 * the API does not give.
 */
import { assemblePage, ownStyles, type AssembledPage } from './page-assembly.js';

export function consolePage(): AssembledPage {
  return assemblePage({
    template: 'web/console/console.html',
    styles: ownStyles('web/console/console.css'),
    module: 'web/console/console',
  });
}
