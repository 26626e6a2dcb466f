/**
 * A port for a server the tests, the chaos harness or a measurement start and point others at (a Postgres, the
 * service). Not one from `listen(0)`: that is an ephemeral port, and the kernel gives the same range to every outgoing
 * connection's local end, so between our look and the server's bind a connection of a test running beside it could
 * take it (a cluster's instance then failed "port … is taken by another process", and the failover recipe's test
 * stalled two minutes). A port below the range is one no outgoing connection is given: only another server choosing it
 * too can take it, and a random pick over some thirty thousand makes that rare.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

/** The lowest port a test server takes: below it are the well-known ports other programs of the machine listen on. */
const LOWEST = 10_000;
/** Linux's default ephemeral range; other systems' begins there or above. */
const DEFAULT_EPHEMERAL = [32_768, 60_999] as const;
const TRIES = 50;

/** A port outside the ephemeral range (below it, as it is by default) that nobody listens on right now. */
export async function freePort(): Promise<number> {
  const [start, end] = await ephemeralRange();
  // A range tuned to begin low leaves the ports above it.
  const [from, to] = start > LOWEST ? [LOWEST, start] : [end + 1, 65_536];
  for (let tries = 0; tries < TRIES; tries++) {
    const port = from + Math.floor(Math.random() * (to - from));
    if (await isFree(port)) return port;
  }
  throw new Error(`no free port found in ${TRIES} tries from ${from} to ${to - 1}`);
}

/** The range outgoing connections' ports are given from (Linux: /proc/sys/net/ipv4/ip_local_port_range). */
async function ephemeralRange(): Promise<readonly [number, number]> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
  const [start, end] = range.trim().split(/\s+/).map(Number);
  return start !== undefined && end !== undefined && start > 0 && end >= start ? [start, end] : DEFAULT_EPHEMERAL;
}

/** Whether a socket can listen on `port` alone (on 127.0.0.1, so one listening on every address counts too). */
function isFree(port: number): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}
