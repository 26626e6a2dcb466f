/**
 * A side thread's side of side-thread.ts: its data, its logger (lines go to
 * the main thread's, filtered here by its level), and the messages — posts
 * and requests from the main thread, `close` — handed to the thread's code.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import pino, { type Logger } from 'pino';
import type { FromSideThread, SideThreadData, ThreadFailure, ToSideThread } from './side-thread.js';

export interface ThreadHandlers {
  /** A message the main thread posted. */
  readonly onPost?: (message: unknown) => void;
  /** A request; its answer, or its rejection, is sent back. */
  readonly onRequest?: (body: unknown) => Promise<unknown>;
  /** Finish what the thread holds; `closed` is sent once this resolves. */
  readonly onClose: () => Promise<void>;
}

export interface ThreadPort<Data> {
  readonly data: Data;
  readonly log: Logger;
  /** Post to the main thread (its `onPost`). */
  post(message: unknown): void;
  /** Begin taking messages; `start` starts the thread's work, `started` (or `failed`) is said when it is done. */
  serve(handlers: ThreadHandlers, start?: () => Promise<void>): void;
}

/**
 * `niceness`: the thread's own, on Linux (setpriority of the calling task), to keep it below the order path's on busy
 * cores; elsewhere it may apply to the process or fail, and is left alone.
 */
export function sideThreadPort<Data>({ niceness }: { readonly niceness?: number } = {}): ThreadPort<Data> {
  if (niceness !== undefined && process.platform === 'linux') {
    try {
      setPriority(0, niceness);
    } catch {
      // Not allowed here: the thread runs at the process's priority.
    }
  }
  const port = parentPort!;
  const given = workerData as SideThreadData<Data>;
  const send = (message: FromSideThread): void => port.postMessage(message);
  const log = pino(
    { level: given.logLevel, base: undefined, timestamp: false },
    { write: (line: string) => send({ log: line }) },
  );
  return {
    data: given.data,
    log,
    post: (message) => send({ post: message }),
    serve(handlers, start = async () => {}) {
      port.on('message', (message: ToSideThread) => {
        if ('post' in message) handlers.onPost?.(message.post);
        else if ('request' in message) {
          const id = message.request;
          (handlers.onRequest?.(message.body) ?? Promise.reject(new Error('no requests here'))).then(
            (value) => send({ reply: id, value }),
            (error: unknown) => send({ reply: id, error: (error as Error).message }),
          );
        } else void handlers.onClose().finally(() => send({ closed: true }));
      });
      start().then(
        () => send({ started: true }),
        (error: unknown) => send({ failed: crossing(error) }),
      );
    },
  };
}

/** What of a failure crosses to the main thread: its text, and its code if it has one (an SQLSTATE says the most). */
function crossing(error: unknown): ThreadFailure {
  const code = (error as { code?: unknown } | null)?.code;
  return {
    message: error instanceof Error ? error.message : String(error),
    ...(typeof code === 'string' ? { code } : {}),
  };
}
