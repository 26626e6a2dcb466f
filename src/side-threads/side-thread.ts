/**
 * A side thread, as the main thread holds it: a worker thread that takes
 * work off the thread serving orders (the webhook deliveries, the span
 * export; docs/decisions/side-threads.md). The one harness every side thread
 * runs in: started with a handshake (`started`, or `failed` with the error
 * the thread met, its code kept: an SQLSTATE says whether Postgres refused
 * for now, src/start-failure.ts), told things (`post`), asked things
 * (`request`), and closed (`close`, answered `closed` once the thread has
 * finished what it holds). Its log lines are written again by the main
 * thread's logger (its bindings, its destination).
 *
 * One that dies is started again after a second if `restart` says so
 * (`onSpawn` tells the new one what it must know first), and stays down
 * otherwise; requests it left unanswered fail. It never keeps the process
 * alive by itself: the drain closes it.
 *
 * The thread's side is side-thread-port.ts.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';

/** What every side thread is given, beside its own data. */
export interface SideThreadData<Data> {
  readonly logLevel: string;
  readonly data: Data;
}

export type ToSideThread =
  { readonly close: true } | { readonly request: number; readonly body: unknown } | { readonly post: unknown };

export type FromSideThread =
  | { readonly started: true }
  | { readonly failed: ThreadFailure }
  | { readonly log: string }
  | { readonly reply: number; readonly value?: unknown; readonly error?: string }
  | { readonly post: unknown }
  | { readonly closed: true };

/** Why a thread could not start, as it crosses: the error's text and, if it has one, its code (an SQLSTATE, an errno name). */
export interface ThreadFailure {
  readonly message: string;
  readonly code?: string;
}

export interface SideThreadOptions<Data> {
  readonly workerFile: URL;
  readonly name: string;
  readonly data: Data;
  /** Writes the thread's log lines again; told of a thread that dies. Without: the thread logs nothing. */
  readonly log?: Logger;
  /** Whether a thread that dies is started again (after RESTART_MS), or stays down, losing what it held. */
  readonly restart: boolean;
  /** Called with each new thread before it starts: what it must be told first. */
  readonly onSpawn?: (post: (message: unknown) => void) => void;
  /** What the thread posts (`post` on its side). */
  readonly onPost?: (message: unknown) => void;
}

/** A thread that died is started again after this. */
const RESTART_MS = 1000;

export class SideThread<Data> {
  private worker: Worker | undefined;
  private closing = false;
  private closed: Promise<void> = Promise.resolve();
  private nextRequest = 1;
  private readonly requests = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  constructor(private readonly options: SideThreadOptions<Data>) {}

  /** Resolves once the thread runs; rejects, with the error the thread met as its cause, if it could not start. */
  start(): Promise<void> {
    return this.spawn();
  }

  post(message: unknown): void {
    this.send({ post: message });
  }

  request<T>(body: unknown): Promise<T> {
    const id = this.nextRequest++;
    return new Promise<T>((resolve, reject) => {
      if (!this.worker) return reject(new Error(`the ${this.options.name} thread is not running`));
      this.requests.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.send({ request: id, body });
    });
  }

  /** Asks the thread to finish what it holds, waits for it to say so, and ends it. */
  async close(): Promise<void> {
    this.closing = true;
    this.send({ close: true });
    await this.closed;
    await this.worker?.terminate();
  }

  private send(message: ToSideThread): void {
    this.worker?.postMessage(message);
  }

  private spawn(): Promise<void> {
    const { log, name } = this.options;
    const workerData: SideThreadData<Data> = { logLevel: log?.level ?? 'silent', data: this.options.data };
    const worker = new Worker(this.options.workerFile, { workerData, name });
    this.worker = worker;
    worker.unref();
    this.options.onSpawn?.((message) => this.post(message));
    let ended!: () => void;
    this.closed = new Promise((resolve) => (ended = resolve));
    return new Promise((resolve, reject) => {
      worker.on('message', (message: FromSideThread) => {
        if ('log' in message) {
          if (log) writeLine(log, message.log);
        } else if ('reply' in message) this.replied(message);
        else if ('post' in message) this.options.onPost?.(message.post);
        else if ('started' in message) resolve();
        else if ('failed' in message)
          reject(
            new Error(`the ${name} thread could not start: ${message.failed.message}`, {
              cause: failureOf(message.failed),
            }),
          );
        else if ('closed' in message) ended();
      });
      const died = (why: string): void => {
        ended();
        reject(new Error(`the ${name} thread ended: ${why}`));
        if (this.worker !== worker) return;
        for (const waiting of this.requests.values()) waiting.reject(new Error(`the ${name} thread ended`));
        this.requests.clear();
        if (this.closing) return;
        this.worker = undefined;
        if (!this.options.restart) return;
        log?.error({ thread: name, reason: why }, 'a side thread ended; starting it again');
        setTimeout(() => {
          if (!this.closing) this.spawn().catch(() => {});
        }, RESTART_MS).unref();
      };
      worker.on('error', (error: Error) => died(error.message));
      worker.on('exit', (code) => died(`exit code ${code}`));
    });
  }

  private replied(message: Extract<FromSideThread, { reply: number }>): void {
    const waiting = this.requests.get(message.reply);
    this.requests.delete(message.reply);
    if (message.error === undefined) waiting?.resolve(message.value);
    else waiting?.reject(new Error(message.error));
  }
}

/** The error a failure that crossed stands for on this side: its message and its code, as it was raised there. */
function failureOf({ message, code }: ThreadFailure): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

/** A line the thread's logger wrote, written again by the main thread's (with its bindings and destination). */
function writeLine(log: Logger, line: string): void {
  const { level, msg, ...fields } = JSON.parse(line) as { level: number; msg?: string } & Record<string, unknown>;
  const label = (log.levels.labels[level] ?? 'info') as 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  log[label](fields, msg);
}
