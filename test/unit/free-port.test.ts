/**
 * The port a test or a measurement hands a server it starts (scripts/free-port.ts): outside the range outgoing
 * connections' local ports come from, where a connection of a test beside it could take it before the server binds.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/free-port.js';

describe.skipIf(process.platform !== 'linux')('a free port', () => {
  it('is below the ephemeral range, and a server can listen on it', async () => {
    const [start] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    expect(ports.filter((port) => port >= start!)).toEqual([]);
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(ports[0], '127.0.0.1', resolve));
    await new Promise((resolve) => server.close(resolve));
  });
});
