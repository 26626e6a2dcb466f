/**
 * How the server tells that a port its listeners share is its own (src/http/port-ownership.ts): the listening sockets
 * of /proc/net/tcp{,6}, and another process's socket that joined ours with SO_REUSEPORT — what two copies of the
 * service started at the same instant leave once both have bound, which the server then refuses — seen as a stranger,
 * on an address that overlaps ours only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listenersIn, strangersListeningOn } from '../../src/http/port-ownership.js';

describe('the listening sockets of /proc/net/tcp{,6}', () => {
  it('gives address, port and inode of each LISTEN row, and no other', () => {
    const tcp = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 175983 1 0 100 0 0 10 0',
      '   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0 100 0 0 10 0',
      '   2: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 175999 1 0 20 4 30 10 -1',
      '',
    ].join('\n');
    const tcp6 = [
      '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4321 1 0 100 0 0 10 0',
    ].join('\n');
    expect([...listenersIn(tcp), ...listenersIn(tcp6)]).toEqual([
      { address: '0100007F', port: 8080, inode: 175983 },
      { address: '00000000', port: 22, inode: 1234 },
      { address: '00000000000000000000000000000000', port: 8080, inode: 4321 },
    ]);
  });
});

describe.skipIf(process.platform !== 'linux')('strangers on a port this process listens on', () => {
  const opened: Server[] = [];
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
    await Promise.all(opened.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  });

  const listen = async (host: string, port: number): Promise<number> => {
    const server = createServer();
    opened.push(server);
    server.listen({ host, port, reusePort: true });
    await once(server, 'listening');
    return (server.address() as AddressInfo).port;
  };

  /** Another process listening on `host:port` with SO_REUSEPORT, as a copy of the service does; resolves once it does. */
  const stranger = async (host: string, port: number): Promise<ChildProcess> => {
    const child = spawn(
      process.execPath,
      [
        '-e',
        `require('node:net').createServer().listen({ host: '${host}', port: ${port}, reusePort: true }, () => console.log('listening'))`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(child);
    await once(child.stdout, 'data');
    return child;
  };

  it('a process that joined our port with SO_REUSEPORT is one stranger, until it is gone', async () => {
    const port = await listen('127.0.0.1', 0);
    await listen('127.0.0.1', port);
    expect(await strangersListeningOn(port)).toBe(0);
    const joined = await stranger('127.0.0.1', port);
    expect(await strangersListeningOn(port)).toBe(1);
    joined.kill('SIGKILL');
    await once(joined, 'exit');
    expect(await strangersListeningOn(port)).toBe(0);
  });

  it('one on every address overlaps ours; one on another address of the port does not', async () => {
    const port = await listen('127.0.0.1', 0);
    await stranger('127.0.0.2', port);
    expect(await strangersListeningOn(port)).toBe(0);
    await stranger('0.0.0.0', port);
    expect(await strangersListeningOn(port)).toBe(1);
  });

  it('cannot tell on a port where none of our sockets listens', async () => {
    const port = await listen('127.0.0.1', 0);
    opened.pop()!.close();
    await stranger('127.0.0.1', port);
    expect(await strangersListeningOn(port)).toBeUndefined();
  });
});
