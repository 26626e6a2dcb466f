/**
 * A Chrome DevTools Protocol session with a server started with `--inspect`: its main thread, and through it each of
 * its worker threads (`NodeWorker.sendMessageToWorker`), for the measurements that look inside the isolates — heap
 * snapshots (order-memory) and sampled allocations (order-allocation).
 */

/** A message of the DevTools protocol: a reply (`id`) or an event (`method`). */
interface Message {
  readonly id?: number;
  readonly method?: string;
  readonly params?: Record<string, unknown>;
  readonly result?: unknown;
}

export class Inspector {
  private nextId = 0;
  private readonly replies = new Map<number, (result: unknown) => void>();
  private readonly chunks = new Map<string, string[]>();
  /** The worker threads attached so far (all of them, once `connect` has resolved). */
  readonly workers: Array<{ readonly sessionId: string; readonly title: string }> = [];

  private constructor(private readonly socket: WebSocket) {
    socket.addEventListener('message', (event: MessageEvent) =>
      this.received(JSON.parse(String(event.data)) as Message),
    );
  }

  static async connect(port: number): Promise<Inspector> {
    const [target] = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as [
      { webSocketDebuggerUrl: string },
    ];
    const socket = new WebSocket(target.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      socket.addEventListener('open', resolve, { once: true });
      socket.addEventListener('error', reject, { once: true });
    });
    const inspector = new Inspector(socket);
    await inspector.call('NodeWorker.enable', { waitForDebuggerOnStart: false });
    return inspector;
  }

  /** A command to the main thread, or to a worker (`sessionId`): its result. */
  call(method: string, params: object = {}, sessionId?: string): Promise<unknown> {
    const id = ++this.nextId;
    const reply = new Promise<unknown>((resolve) => this.replies.set(id, resolve));
    const message = JSON.stringify({ id, method, params });
    this.socket.send(
      sessionId === undefined
        ? message
        : JSON.stringify({
            id: ++this.nextId,
            method: 'NodeWorker.sendMessageToWorker',
            params: { sessionId, message },
          }),
    );
    return reply;
  }

  /** A heap snapshot of one isolate (the main thread's, or a worker's), serialized, after a full collection. */
  async snapshot(sessionId?: string): Promise<string> {
    const key = sessionId ?? 'main';
    this.chunks.set(key, []);
    await this.call('HeapProfiler.enable', {}, sessionId);
    await this.call('HeapProfiler.collectGarbage', {}, sessionId);
    await this.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false }, sessionId);
    const serialized = this.chunks.get(key)!.join('');
    this.chunks.delete(key);
    return serialized;
  }

  close(): void {
    this.socket.close();
  }

  private received(message: Message, sessionId?: string): void {
    if (message.method === 'NodeWorker.attachedToWorker') {
      const { sessionId: session, workerInfo } = message.params as { sessionId: string; workerInfo: { title: string } };
      this.workers.push({ sessionId: session, title: workerInfo.title });
    } else if (message.method === 'NodeWorker.receivedMessageFromWorker') {
      const params = message.params as { sessionId: string; message: string };
      this.received(JSON.parse(params.message) as Message, params.sessionId);
    } else if (message.method === 'HeapProfiler.addHeapSnapshotChunk') {
      this.chunks.get(sessionId ?? 'main')?.push((message.params as { chunk: string }).chunk);
    } else if (message.id !== undefined) {
      this.replies.get(message.id)?.(message.result);
      this.replies.delete(message.id);
    }
  }
}
