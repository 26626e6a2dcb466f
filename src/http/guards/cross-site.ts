/**
 * A request that may change anything must come from the service's own pages or from an API client, never from a page
 * elsewhere riding on credentials the browser keeps for this service. The admin's pages are opened with the admin key
 * as HTTP Basic's password, and the browser then sends it by itself with every request to the service, whichever page
 * makes it: a form on another site that posts itself (`enctype="text/plain"` is a request the browser sends without
 * asking the service first) canceled another client's order as the admin. The gate applies one rule to every method
 * but GET, HEAD and OPTIONS, on every route (OWASP's Fetch Metadata, then Origin):
 *
 * - `Sec-Fetch-Site`, which browsers set and no page can: `same-origin` (the service's own pages) or `none` (the
 *   person's own navigation) passes; `same-site` and `cross-site` are refused — another port of the same host is
 *   same-site, and another origin all the same.
 * - Without it (a browser too old to send it), an `Origin` must name this service: its host and port those of the
 *   `Host` header, which the gate has held to ALLOWED_HOSTS. Not its scheme: behind a proxy that ends TLS the
 *   browser's is https and the service's http.
 * - With neither, the request comes from no page (curl, an API client, a server): it passes, as it carries no
 *   credentials but those its sender chose to send.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Methods that change nothing: a page elsewhere may make them (it cannot read their answers). */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
/** What `Sec-Fetch-Site` says of a request made by the service's own page, or by the person. */
const OWN = new Set(['same-origin', 'none']);

/** Why a request is refused as coming from a page elsewhere; undefined when it may pass. */
export function crossSiteRefusal(method: string, headers: IncomingHttpHeaders): string | undefined {
  if (SAFE.has(method)) return undefined;
  // Node joins a header sent twice into one string: never one of the values that pass.
  const site = headers['sec-fetch-site'];
  if (site !== undefined) {
    if (OWN.has(site)) return undefined;
    return `${method} from a page of another ${site === 'same-site' ? 'origin' : 'site'} (Sec-Fetch-Site: ${site}) is refused: only this service's own pages and API clients may change anything`;
  }
  const origin = headers.origin;
  if (origin === undefined || sameHost(origin, headers.host)) return undefined;
  return `${method} from a page of ${origin} is refused: only this service's own pages and API clients may change anything`;
}

/** Whether the origin `origin` names the host and port of a `Host` header (a default port as its scheme's). */
function sameHost(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const named = new URL(origin);
    return named.host === new URL(`${named.protocol}//${host}`).host;
  } catch {
    // `null` (a sandboxed or opaque origin), or a Host that is no host: not this service.
    return false;
  }
}
