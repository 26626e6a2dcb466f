/**
 * The rule that keeps a page of another origin from changing anything with the credentials a browser keeps for the
 * service (src/http/guards/cross-site.ts): one row per request, whether it passes. The browser itself, driven from a
 * second origin: test/integration/console-csrf-browser.test.ts.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { crossSiteRefusal } from '../../src/http/guards/cross-site.js';

const HOST = '127.0.0.1:8080';

describe('a request that changes state, by where a browser says it comes from', () => {
  it.each<[string, string, IncomingHttpHeaders, boolean]>([
    ['no browser (curl, an API client): neither header', 'POST', { host: HOST }, true],
    ["the service's own page", 'POST', { host: HOST, 'sec-fetch-site': 'same-origin', origin: `http://${HOST}` }, true],
    ["the person's own navigation", 'POST', { host: HOST, 'sec-fetch-site': 'none' }, true],
    [
      'a page of another site',
      'POST',
      { host: HOST, 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' },
      false,
    ],
    [
      'another port of the same host',
      'POST',
      { host: HOST, 'sec-fetch-site': 'same-site', origin: 'http://127.0.0.1:9' },
      false,
    ],
    ['a value no browser sends', 'POST', { host: HOST, 'sec-fetch-site': 'same-origin, cross-site' }, false],
    ['DELETE from another site', 'DELETE', { host: HOST, 'sec-fetch-site': 'cross-site' }, false],
    ['PUT from another site', 'PUT', { host: HOST, 'sec-fetch-site': 'cross-site' }, false],
    ['PATCH from another site', 'PATCH', { host: HOST, 'sec-fetch-site': 'cross-site' }, false],
    ['GET from another site: it changes nothing', 'GET', { host: HOST, 'sec-fetch-site': 'cross-site' }, true],
    ['HEAD from another site', 'HEAD', { host: HOST, 'sec-fetch-site': 'cross-site' }, true],
    ['OPTIONS from another site', 'OPTIONS', { host: HOST, 'sec-fetch-site': 'cross-site' }, true],
    ['an older browser: Origin of this service', 'POST', { host: HOST, origin: `http://${HOST}` }, true],
    ['an older browser: Origin of another port', 'POST', { host: HOST, origin: 'http://127.0.0.1:9' }, false],
    ['an older browser: Origin of another host', 'POST', { host: HOST, origin: 'http://localhost:8080' }, false],
    ['an older browser: an opaque Origin (a sandboxed frame)', 'POST', { host: HOST, origin: 'null' }, false],
    [
      'behind a proxy that ends TLS: https Origin, Host without a port',
      'POST',
      { host: 'shop.example', origin: 'https://shop.example' },
      true,
    ],
    ['a default port named in Host', 'POST', { host: 'shop.example:80', origin: 'http://shop.example' }, true],
    ['an Origin and no Host', 'POST', { origin: 'http://shop.example' }, false],
  ])('%s: %s passes: %s', (_name, method, headers, passes) => {
    const refusal = crossSiteRefusal(method, headers);
    expect(refusal === undefined, refusal).toBe(passes);
  });

  it('says what was refused and why', () => {
    expect(crossSiteRefusal('POST', { host: HOST, 'sec-fetch-site': 'same-site' })).toBe(
      "POST from a page of another origin (Sec-Fetch-Site: same-site) is refused: only this service's own pages and API clients may change anything",
    );
    expect(crossSiteRefusal('DELETE', { host: HOST, origin: 'http://evil.example' })).toBe(
      "DELETE from a page of http://evil.example is refused: only this service's own pages and API clients may change anything",
    );
  });
});
