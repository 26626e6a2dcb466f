/**
 * What a webhook may be sent to (SSRF). By default only `https`, and only to
 * a public address: never loopback, a private network, link-local (the
 * cloud metadata service at 169.254.169.254 and fd00:ec2::254 among them),
 * shared, multicast or reserved space — lest a client's URL make the service
 * reach into the network it runs in. Checked when the endpoint is registered,
 * and again at every connection, on the very address connected to (the
 * `lookup` given to the request), so a name that resolved to a public
 * address at registration and to a private one later (DNS rebinding) is
 * refused. WEBHOOK_ALLOW_PRIVATE_TARGETS=on lifts both checks, and allows
 * plain http: for tests and private networks.
 *
 * IPv4 by the list below; IPv6 by ipaddr.js's ranges: only global unicast
 * passes, an IPv4-mapped address as the IPv4 address it maps — so none of
 * the forms that carry an IPv4 address inside (IPv4-compatible `::/96`,
 * IPv4-translated, NAT64 well-known and local-use, 6to4, Teredo) nor
 * site-local `fec0::/10` reaches loopback or a private network (`::7f00:1`
 * and `2002:7f00:1::` among them). A refusal says the same
 * whether the name does not resolve or resolves where webhooks may not go:
 * registration must not tell a client which internal names exist.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { lookup as lookupAll } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/** IPv4 space a webhook may not reach. */
const FORBIDDEN = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, the metadata services
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const)
  FORBIDDEN.addSubnet(network, prefix, 'ipv4');
/** Whether an address is one a webhook must not reach. */
export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return FORBIDDEN.check(address, 'ipv4');
  if (family !== 6) return true;
  const parsed = ipaddr.IPv6.parse(address);
  if (parsed.isIPv4MappedAddress()) return isForbiddenAddress(parsed.toIPv4Address().toString());
  // IPv4-compatible (::a.b.c.d, deprecated): ipaddr.js counts it unicast, but it is an IPv4 address in disguise.
  const ipv4Compatible = parsed.parts.slice(0, 6).every((part) => part === 0);
  return parsed.range() !== 'unicast' || ipv4Compatible;
}

export type TargetCheck = { readonly ok: true; readonly url: URL } | { readonly ok: false; readonly why: string };

const MAX_URL_LENGTH = 2048;

/** At registration: a URL, of an allowed scheme, whose host resolves and only to allowed addresses. */
export async function checkTarget(raw: string, allowPrivate: boolean): Promise<TargetCheck> {
  if (raw.length > MAX_URL_LENGTH) return { ok: false, why: `url is longer than ${MAX_URL_LENGTH} characters` };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, why: 'url is not an absolute URL' };
  }
  const schemes = allowPrivate ? ['https:', 'http:'] : ['https:'];
  if (!schemes.includes(url.protocol))
    return {
      ok: false,
      why: `url must be ${allowPrivate ? 'http or https' : 'https (WEBHOOK_ALLOW_PRIVATE_TARGETS=on allows http)'}`,
    };
  if (url.username || url.password) return { ok: false, why: 'url must not carry credentials' };
  if (url.hash) return { ok: false, why: 'url must not have a fragment' };
  const host = hostOf(url);
  // One answer whether the name does not resolve or resolves where webhooks may not go: which internal names exist is
  // not the client's to learn.
  const unreachable: TargetCheck = {
    ok: false,
    why: allowPrivate
      ? `url's host ${host} does not resolve`
      : `url's host ${host} does not resolve to a public address (webhooks may not reach loopback, private, link-local or metadata addresses)`,
  };
  let addresses: LookupAddress[];
  try {
    addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await lookupAll(host, { all: true });
  } catch {
    return unreachable;
  }
  if (!allowPrivate && addresses.some(({ address }) => isForbiddenAddress(address))) return unreachable;
  return { ok: true, url };
}

/** The host as DNS and net know it: an IPv6 literal without its brackets. */
export function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** A refusal at connection time: the name now resolves where webhooks may not go. */
export class ForbiddenTarget extends Error {
  override readonly name = 'ForbiddenTarget';
}

/**
 * The `lookup` of a delivery's connection: the system resolver, then the same
 * check on what it answered, so the address connected to is the one checked.
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '', 0);
    const allowed = addresses.filter(({ address }) => !isForbiddenAddress(address));
    if (allowed.length === 0)
      return callback(new ForbiddenTarget(`${hostname} resolves to an address webhooks may not reach`), '', 0);
    if (options.all) return callback(null, allowed);
    callback(null, allowed[0]!.address, allowed[0]!.family);
  });
};
