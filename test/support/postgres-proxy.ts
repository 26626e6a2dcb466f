/**
 * A TCP proxy in front of Postgres, for what a busy machine or a slow network
 * does to a client without either: a connection slow to open (or never
 * opened), and Postgres's answers held back and then passed on in one write,
 * as a client whose event loop was busy reads them, in one chunk.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface PostgresProxy {
  /** The database's URL, through the proxy. */
  readonly url: string;
  /** How many connections the proxy has been asked for. */
  readonly connections: number;
  /** While true, what Postgres sends is kept, not passed on. */
  holding: boolean;
  /** When set, holding starts at the first chunk from Postgres this accepts (that chunk held too), once. */
  holdFrom?: (chunk: Buffer) => boolean;
  /** Stops holding, and passes on what each connection kept, in one write. */
  release(): void;
  close(): Promise<void>;
}

/** `delayFor(n)`: after how many ms the nth connection (from 1) reaches Postgres, or never. At once if left out. */
export async function postgresProxy(
  url: string,
  delayFor: (n: number) => number | 'never' = () => 0,
): Promise<PostgresProxy> {
  const target = new URL(url);
  const sockets = new Set<Socket>();
  const held: Array<{ client: Socket; data: Buffer[] }> = [];
  let connections = 0;
  const listener = createServer((client) => {
    sockets.add(client);
    client.on('error', () => client.destroy());
    client.on('close', () => sockets.delete(client));
    const delay = delayFor(++connections);
    if (delay === 'never') return;
    setTimeout(() => {
      if (client.destroyed) return;
      const upstream = connect(Number(target.port), target.hostname);
      sockets.add(upstream);
      upstream.on('error', () => upstream.destroy());
      // Postgres closing a connection (after a FATAL, say): the client hears it once what was held has gone through.
      upstream.on('close', () => {
        sockets.delete(upstream);
        const end = (): void => void (proxy.holding ? setTimeout(end, 10) : client.end());
        end();
      });
      client.on('close', () => upstream.destroy());
      const kept = { client, data: [] as Buffer[] };
      held.push(kept);
      client.on('data', (chunk: Buffer) => upstream.write(chunk));
      upstream.on('data', (chunk: Buffer) => {
        if (proxy.holdFrom?.(chunk)) {
          proxy.holding = true;
          proxy.holdFrom = undefined;
        }
        if (proxy.holding) kept.data.push(chunk);
        else client.write(chunk);
      });
    }, delay);
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const viaProxy = new URL(target);
  viaProxy.port = String((listener.address() as AddressInfo).port);
  const proxy: PostgresProxy = {
    url: viaProxy.href,
    get connections() {
      return connections;
    },
    holding: false,
    release(): void {
      this.holding = false;
      for (const { client, data } of held.splice(0)) if (data.length > 0) client.write(Buffer.concat(data));
    },
    async close(): Promise<void> {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => listener.close(resolve));
    },
  };
  return proxy;
}
