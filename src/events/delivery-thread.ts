/**
 * A thread that delivers webhooks, as the main thread holds it: started
 * before the server listens, told what to deliver, asked for its figures,
 * closed by the drain. Delivery — the sends, their signatures and JSON, and
 * in the durable mode the queue's claims, reads and marks — costs about as
 * much CPU per event as an order's own path; on a thread of its own it
 * never takes the order path's (docs/decisions/side-threads.md).
 *
 * What crosses, besides what the caller sends (`post`, `request`): the
 * thread's log lines, written again by the main thread's logger (its
 * bindings, its destination); each attempt, for its span (tracing), on the
 * main thread's clock; `started`, `failed`, `closed`. A thread that dies is
 * started again after a second (`onSpawn` tells the new one what it must
 * know first); requests it left unanswered fail.
 *
 * The thread's side is delivery-thread-port.ts.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { DeliveryAttempt, DeliveryRecorder } from './delivery-traces.js';

/** What every delivery thread is given, beside its own data. */
export interface ThreadBasics {
  readonly logLevel: string;
  /** Whether attempts are told to the main thread (tracing on). */
  readonly recordAttempts: boolean;
}

export type ToDeliveryThread =
  { readonly close: true } | { readonly request: number; readonly body: unknown } | { readonly post: unknown };

export type FromDeliveryThread =
  | { readonly started: true }
  | { readonly failed: ThreadFailure }
  | { readonly log: string }
  | { readonly attempt: DeliveryAttempt; readonly timeOrigin: number }
  | { readonly reply: number; readonly value?: unknown; readonly error?: string }
  | { readonly post: unknown }
  | { readonly closed: true };

/**
 * Why a thread could not start, as it crosses: the error's text and, if it has one, its code (an SQLSTATE, an errno
 * name), which says whether Postgres refused for now or the code failed (src/start-failure.ts).
 */
export interface ThreadFailure {
  readonly message: string;
  readonly code?: string;
}

/** The error a failure that crossed stands for on this side: its message and its code, as it was raised there. */
export function failureOf({ message, code }: ThreadFailure): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

export interface DeliveryThreadOptions<Data> {
  readonly workerFile: URL;
  readonly name: string;
  readonly data: Data;
  readonly log: Logger;
  readonly recorder: DeliveryRecorder | undefined;
  /** Called with each new thread before it starts: what it must be told first. */
  readonly onSpawn?: (post: (message: unknown) => void) => void;
  /** What the thread posts (`post` on its side). */
  readonly onPost?: (message: unknown) => void;
}

/** A thread that died is started again after this. */
const RESTART_MS = 1000;

export class DeliveryThread<Data> {
  private worker: Worker | undefined;
  private closing = false;
  private closed: Promise<void> = Promise.resolve();
  private nextRequest = 1;
  private readonly requests = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  constructor(private readonly options: DeliveryThreadOptions<Data>) {}

  /** Resolves once the thread runs; rejects if it could not start. */
  start(): Promise<void> {
    return this.spawn();
  }

  post(message: unknown): void {
    this.send({ post: message });
  }

  request<T>(body: unknown): Promise<T> {
    const id = this.nextRequest++;
    return new Promise<T>((resolve, reject) => {
      if (!this.worker) return reject(new Error('the delivery thread is not running'));
      this.requests.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.send({ request: id, body });
    });
  }

  /** Stops the thread's deliveries, waits for it to say so, and ends it. */
  async close(): Promise<void> {
    this.closing = true;
    this.send({ close: true });
    await this.closed;
    await this.worker?.terminate();
  }

  private send(message: ToDeliveryThread): void {
    this.worker?.postMessage(message);
  }

  private spawn(): Promise<void> {
    const { log, recorder } = this.options;
    const workerData: ThreadBasics & { readonly data: Data } = {
      logLevel: log.level,
      recordAttempts: recorder !== undefined,
      data: this.options.data,
    };
    const worker = new Worker(this.options.workerFile, { workerData, name: this.options.name });
    this.worker = worker;
    // The drain ends it; it must not keep the process alive by itself.
    worker.unref();
    this.options.onSpawn?.((message) => this.post(message));
    let ended!: () => void;
    this.closed = new Promise((resolve) => (ended = resolve));
    return new Promise((resolve, reject) => {
      worker.on('message', (message: FromDeliveryThread) => {
        if ('log' in message) writeLine(log, message.log);
        else if ('attempt' in message) {
          const shift = message.timeOrigin - performance.timeOrigin;
          const { attempt } = message;
          recorder?.attempted({ ...attempt, startedAt: attempt.startedAt + shift, endedAt: attempt.endedAt + shift });
        } else if ('reply' in message) {
          const waiting = this.requests.get(message.reply);
          this.requests.delete(message.reply);
          if (message.error === undefined) waiting?.resolve(message.value);
          else waiting?.reject(new Error(message.error));
        } else if ('post' in message) this.options.onPost?.(message.post);
        else if ('started' in message) resolve();
        else if ('failed' in message)
          reject(
            new Error(`the ${this.options.name} thread could not start: ${message.failed.message}`, {
              cause: failureOf(message.failed),
            }),
          );
        else if ('closed' in message) ended();
      });
      const died = (why: string): void => {
        ended();
        reject(new Error(`the ${this.options.name} thread ended: ${why}`));
        if (this.worker !== worker) return;
        for (const waiting of this.requests.values())
          waiting.reject(new Error(`the ${this.options.name} thread ended`));
        this.requests.clear();
        if (this.closing) return;
        this.worker = undefined;
        log.error({ thread: this.options.name, reason: why }, 'a webhook delivery thread ended; starting it again');
        setTimeout(() => {
          if (!this.closing) this.spawn().catch(() => {});
        }, RESTART_MS).unref();
      };
      worker.on('error', (error: Error) => died(error.message));
      worker.on('exit', (code) => died(`exit code ${code}`));
    });
  }
}

/** A line the thread's logger wrote, written again by the main thread's (with its bindings and destination). */
function writeLine(log: Logger, line: string): void {
  const { level, msg, ...fields } = JSON.parse(line) as { level: number; msg?: string } & Record<string, unknown>;
  const label = (log.levels.labels[level] ?? 'info') as 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  log[label](fields, msg);
}
