/**
 * One connection per instance that LISTENs, from start to stop, on the
 * channels the instances tell each other things on: `order_done` (a watched
 * run has ended; the payload is its order's key), `order_cancel` (a cancel
 * was marked on a run; the payload is its order's key), `couriers` (an instance
 * wants courier slots, or gave some back), `api_keys` (a key was issued or
 * revoked) and `runs_handed_over` (an instance stopping gracefully handed
 * runs over: they are claimable now).
 *
 * Notifications are a speed-up, never the only way to learn something: one
 * sent while the connection is down is lost, so whoever waits also polls
 * (a backstop), and every reconnection wakes every waiter to look again —
 * pg-boss's "gap recovery". The connection is ours to keep: pg's Client does
 * not reconnect by itself (postgres.js's listen() would), so a lost one is
 * replaced with a backoff.
 */
import type { Logger } from 'pino';
import type pg from 'pg';
import type { Database } from './database.js';

export type Channel = 'order_done' | 'order_cancel' | 'couriers' | 'api_keys' | 'runs_handed_over';
const CHANNELS: readonly Channel[] = ['order_done', 'order_cancel', 'couriers', 'api_keys', 'runs_handed_over'];

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 2000;

export interface Watch {
  /**
   * Resolves at the next notification of this channel and payload, after `backstopMs`, or when `signal` aborts —
   * whichever first.
   */
  next(signal: AbortSignal, backstopMs: number): Promise<void>;
  dispose(): void;
}

export class Notifications {
  private client: pg.Client | undefined;
  private closed = false;
  private backoff = RECONNECT_MIN_MS;
  private retry: NodeJS.Timeout | undefined;
  /** Wake-ups by channel, then payload (every payload: '*'). */
  private readonly wakers = new Map<Channel, Map<string, Set<() => void>>>();
  private readonly payloadListeners: Array<{ channel: Channel; listener: (payload: string) => void }> = [];

  constructor(
    private readonly db: Database,
    private readonly log: Logger,
  ) {}

  /** Connect and listen; resolves once listening (rejects if the first connection fails). */
  async start(): Promise<void> {
    await this.connect();
  }

  /** Every notification of `channel`, whatever its payload, and every reconnection. */
  on(channel: Channel, listener: () => void): void {
    this.wakersOf(channel, '*').add(listener);
  }

  /** Every notification of `channel`, with its payload (a reconnection tells nothing: the listener has a backstop). */
  onPayload(channel: Channel, listener: (payload: string) => void): void {
    this.payloadListeners.push({ channel, listener });
  }

  /**
   * A watch of one payload on one channel: register it before looking at what it watches, so nothing is missed in
   * between.
   */
  watch(channel: Channel, payload: string): Watch {
    let wake: (() => void) | undefined;
    let pending = false;
    const waker = (): void => {
      if (wake) wake();
      else pending = true;
    };
    const set = this.wakersOf(channel, payload);
    set.add(waker);
    return {
      next: (signal, backstopMs) => {
        if (pending || signal.aborted) {
          pending = false;
          return Promise.resolve();
        }
        return new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(timer);
            signal.removeEventListener('abort', done);
            wake = undefined;
            resolve();
          };
          const timer = setTimeout(done, backstopMs);
          signal.addEventListener('abort', done, { once: true });
          wake = done;
        });
      },
      dispose: () => {
        set.delete(waker);
        if (set.size === 0) this.wakers.get(channel)?.delete(payload);
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private wakersOf(channel: Channel, payload: string): Set<() => void> {
    let byPayload = this.wakers.get(channel);
    if (!byPayload) this.wakers.set(channel, (byPayload = new Map<string, Set<() => void>>()));
    let set = byPayload.get(payload);
    if (!set) byPayload.set(payload, (set = new Set()));
    return set;
  }

  private async connect(): Promise<void> {
    const client = this.db.client();
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, undefined));
    client.on('notification', ({ channel, payload }) => this.deliver(channel as Channel, payload ?? ''));
    try {
      await client.connect();
      await client.query(CHANNELS.map((channel) => `LISTEN ${channel}`).join('; '));
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    if (this.closed) {
      await client.end();
      return;
    }
    this.client = client;
    this.backoff = RECONNECT_MIN_MS;
  }

  private deliver(channel: Channel, payload: string): void {
    for (const told of this.payloadListeners) if (told.channel === channel) told.listener(payload);
    const byPayload = this.wakers.get(channel);
    if (!byPayload) return;
    for (const key of [payload, '*']) for (const wake of byPayload.get(key) ?? []) wake();
  }

  /** Whatever was sent while nobody listened is lost: everyone looks again. */
  private wakeEveryone(): void {
    for (const byPayload of this.wakers.values()) for (const set of byPayload.values()) for (const wake of set) wake();
  }

  private lost(client: pg.Client, error: Error | undefined): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    this.log.warn({ err: error }, 'the LISTEN connection to Postgres was lost; reconnecting');
    client.end().catch(() => {});
    this.reconnect();
  }

  private reconnect(): void {
    this.retry = setTimeout(() => {
      this.connect().then(
        () => {
          this.log.info('listening to Postgres again');
          this.wakeEveryone();
        },
        () => {
          this.backoff = Math.min(this.backoff * 2, RECONNECT_MAX_MS);
          this.reconnect();
        },
      );
    }, this.backoff);
    this.retry.unref();
  }
}
