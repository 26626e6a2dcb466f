/**
 * Whether the port the server's listeners share is this process's alone. The listeners bind with SO_REUSEPORT
 * (server.ts, LISTENERS), and Linux lets any socket of the same user that sets it too join them: the kernel then deals
 * connections out between the two processes. A second copy of the service started on a taken port would start, and
 * answer some of the first's clients by its own keys and books (an open copy beside a keys-mode one answered keyless
 * reads; two copies ran one order twice). So the server takes its port in two steps:
 *
 * - Before its listeners bind, a socket without SO_REUSEPORT listens there alone for a moment (`refuseListenedPort`):
 *   any socket already listening, sharing or not, makes that fail EADDRINUSE, and the start fails as on a port another
 *   program holds. Nothing of the second copy ever listens beside the first. The start looks so first of all too
 *   (`refuseTakenPortAtStart`), so that a copy on a taken port exits within a second rather than after its threads
 *   and its warm-up: beside four busy loops those took more than the 5 s process.test.ts allows.
 * - Two copies starting at the same instant can each pass that step before the other binds. So once bound, every
 *   socket listening on the port, on an address that overlaps its own, must be one of the process's own
 *   (`strangersListeningOn`). Of two copies, the one that looks last sees the other's sockets, bound before the
 *   other looked: at least one refuses and closes. Both may refuse; both never serve.
 *
 * A cluster's instances share the primary's socket, which has no SO_REUSEPORT: a stranger cannot join it (its own
 * first step fails), and the instances do not look here.
 */
import cluster from 'node:cluster';
import { once } from 'node:events';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { Server } from 'node:net';

/** Fails EADDRINUSE where any socket listens on `port` already. Port 0 is a port nobody holds, chosen at the bind. */
export async function refuseListenedPort(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const alone = new Server().listen({ host, port, backlog: 1, exclusive: true });
  await once(alone, 'listening');
  await new Promise((resolve) => alone.close(resolve));
}

/** The first look, before anything else starts; not in a cluster's instance, whose listen is the primary's socket. */
export async function refuseTakenPortAtStart(host: string, port: number): Promise<void> {
  if (process.platform === 'linux' && !cluster.isWorker) await refuseListenedPort(host, port);
}

/** A listening TCP socket, as /proc/net/tcp{,6} gives it. */
export interface Listener {
  /** The local address in the table's hex, all zeros for the unspecified address (0.0.0.0, ::). */
  readonly address: string;
  readonly port: number;
  readonly inode: number;
}

/** /proc/net/tcp's `st` for LISTEN. */
const LISTEN = '0A';

/** The listening sockets of one /proc/net/tcp or tcp6 table. */
export const listenersIn = (table: string): Listener[] => socketsIn(table, LISTEN);

/**
 * The sockets of one /proc/net/tcp or tcp6 table in the TCP state `st` (hex, as the table writes it: `0A` LISTEN,
 * `08` CLOSE_WAIT…), by their local address: `sl local_address rem_address st … uid timeout inode`.
 */
export function socketsIn(table: string, st: string): Listener[] {
  const listeners: Listener[] = [];
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [local, state, inode] = [fields[1], fields[3], fields[9]];
    if (local === undefined || state !== st || inode === undefined) continue;
    const colon = local.lastIndexOf(':');
    listeners.push({
      address: local.slice(0, colon),
      port: Number.parseInt(local.slice(colon + 1), 16),
      inode: Number(inode),
    });
  }
  return listeners;
}

/** Whether a connection could reach either socket: the same address, or either listens on every address. */
const overlaps = (a: Listener, b: Listener): boolean =>
  a.address === b.address || /^0+$/.test(a.address) || /^0+$/.test(b.address);

/**
 * How many sockets of other processes listen on `port` where this process's own sockets listen: 0 when none, and
 * `undefined` when it cannot tell — /proc is not readable, or shows none of this process's sockets on the port. Reads
 * the tables as they are now, so it must be asked once every socket of this process is bound.
 */
export async function strangersListeningOn(port: number): Promise<number | undefined> {
  const [own, ...tables] = await Promise.all([
    socketInodes(),
    readFile('/proc/net/tcp', 'utf8').catch(() => ''),
    readFile('/proc/net/tcp6', 'utf8').catch(() => ''),
  ]);
  const onPort = tables.flatMap(listenersIn).filter((listener) => listener.port === port);
  const ours = onPort.filter((listener) => own.has(listener.inode));
  if (ours.length === 0) return undefined;
  return onPort.filter((listener) => !own.has(listener.inode) && ours.some((mine) => overlaps(mine, listener))).length;
}

/** The inodes of this process's sockets, from its descriptors' links (`socket:[inode]`). */
async function socketInodes(): Promise<Set<number>> {
  const descriptors = await readdir('/proc/self/fd').catch(() => []);
  const links = await Promise.all(
    // A descriptor closed since the directory was read has no link: nothing of ours to find there.
    descriptors.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')),
  );
  const inodes = new Set<number>();
  for (const link of links) {
    const socket = /^socket:\[(\d+)\]$/.exec(link);
    if (socket) inodes.add(Number(socket[1]));
  }
  return inodes;
}
