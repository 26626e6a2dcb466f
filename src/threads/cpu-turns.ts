/**
 * Thread time, shared between clients. A step that computes (`cpu_ms`) holds
 * its thread for as long as it computes: the thread's other steps get a turn
 * only between its time slices. So while more than one client shares the
 * service, a client may have at most `perClient` computing steps on threads
 * at once — max(1, THREADS − 1): a thread is always left without its CPU
 * work, and the placement (placement.ts) sends the other clients' steps
 * there — and all clients together at most `total`, one per thread, so that
 * no two computing steps share a thread. A step beyond either waits here, on
 * the main thread, before it is posted: it holds no thread, no cell, no place
 * in the pool's queue, and its wait ends with its order's cancellation or
 * deadline (its signal).
 *
 * The wait is a fair queue across clients: when a turn frees, it goes to the
 * client with the fewest computing steps per unit of its weight among those
 * within their share (ties: the oldest ticket), first come first served
 * within a client. Shares are floors too (issue 25): every active client is
 * guaranteed ⌊THREADS × its weight / the active weights⌋ turns, and a client
 * beyond its floor takes a turn only while those left free cover the other
 * active clients' unused floors (the rule: src/shares/fair-share.ts). With
 * one client (or CLIENT_MAX_SHARE=1), there are no limits and a turn is taken
 * without waiting.
 */
import { fitsShare, floorOf, NO_SHARERS, turnOrder, unusedFloors, type Sharers } from '../shares/fair-share.js';

/** What may compute at once; undefined: no limit (one client). */
export interface CpuTurnLimits {
  readonly perClient: number;
  readonly total: number;
  /** Who keeps a floor of the turns; nobody if not said. */
  readonly sharers?: Sharers;
}

/** A computing step's place on a thread, given back once the step is over. */
export interface CpuTurn {
  release(): void;
}

/** What a client has of thread time right now. */
export interface CpuTurnFigures {
  readonly running: number;
  readonly waiting: number;
}

interface Waiter {
  readonly ticket: number;
  readonly grant: (turn: CpuTurn | undefined) => void;
  /** Left the line (canceled): skipped when its turn comes. */
  gone: boolean;
}

interface ClientLine {
  readonly weight: number;
  running: number;
  /** In arrival order; those gone are dropped as they reach the front. */
  readonly waiters: Waiter[];
  waiting: number;
}

export class CpuTurns {
  private readonly clients = new Map<string, ClientLine>();
  private running = 0;
  private nextTicket = 0;

  /** `limits`: asked at every take and release, since clients come to exist as the service runs. */
  constructor(private readonly limits: () => CpuTurnLimits | undefined) {}

  /**
   * A turn for a computing step of `client` (weighing `weight`): at once if
   * it has room, else once its turn comes, or undefined if `signal` fires
   * first. Returned without a promise when no wait is needed.
   */
  take(client: string, weight: number, signal: AbortSignal): CpuTurn | Promise<CpuTurn | undefined> {
    const line = this.lineOf(client, weight);
    const limits = this.limits();
    if (line.waiting === 0 && this.hasRoom(client, line, limits)) return this.grant(line, client);
    if (signal.aborted) {
      this.forgetIfIdle(client, line);
      return Promise.resolve(undefined);
    }
    return new Promise((resolve) => {
      const leave = (): void => {
        if (waiter.gone) return;
        waiter.gone = true;
        line.waiting--;
        resolve(undefined);
        this.forgetIfIdle(client, line);
      };
      const waiter: Waiter = {
        ticket: this.nextTicket++,
        grant: (turn) => {
          signal.removeEventListener('abort', leave);
          resolve(turn);
        },
        gone: false,
      };
      line.waiters.push(waiter);
      line.waiting++;
      signal.addEventListener('abort', leave, { once: true });
    });
  }

  /** Per client with steps computing or waiting. */
  figures(): ReadonlyMap<string, CpuTurnFigures> {
    return new Map(
      [...this.clients].map(([client, line]) => [client, { running: line.running, waiting: line.waiting }]),
    );
  }

  private grant(line: ClientLine, client: string): CpuTurn {
    line.running++;
    this.running++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        line.running--;
        this.running--;
        this.serve();
        this.forgetIfIdle(client, line);
      },
    };
  }

  /** Whether one more turn of `client` is within its share, that turn counted. */
  private hasRoom(client: string, line: ClientLine, limits: CpuTurnLimits | undefined): boolean {
    if (limits === undefined) return true;
    const { perClient, total, sharers = NO_SHARERS } = limits;
    if (this.running >= total) return false;
    const floor = floorOf(total, sharers.active.get(client) ?? 0, sharers.totalWeight);
    const keptForOthers = unusedFloors(total, sharers, (other) => this.clients.get(other)?.running ?? 0, client);
    return fitsShare(
      { held: line.running + 1, floor, cap: perClient },
      { capacity: total, busy: this.running + 1, keptForOthers },
    );
  }

  /** Give freed turns to whose turn it is, while there is room. */
  private serve(): void {
    const limits = this.limits();
    for (;;) {
      if (limits !== undefined && this.running >= limits.total) return;
      let next: [string, ClientLine, Waiter] | undefined;
      for (const [client, line] of this.clients) {
        const head = this.headOf(line);
        if (!head || !this.hasRoom(client, line, limits)) continue;
        if (next) {
          const [, best, bestHead] = next;
          const order = turnOrder(line.running, line.weight, best.running, best.weight);
          if (order > 0 || (order === 0 && head.ticket > bestHead.ticket)) continue;
        }
        next = [client, line, head];
      }
      if (!next) return;
      const [client, line, waiter] = next;
      line.waiters.shift();
      line.waiting--;
      waiter.gone = true;
      waiter.grant(this.grant(line, client));
    }
  }

  /** The first waiter of a line still waiting; those that left are dropped on the way. */
  private headOf(line: ClientLine): Waiter | undefined {
    while (line.waiters.length > 0 && line.waiters[0]!.gone) line.waiters.shift();
    return line.waiters[0];
  }

  private lineOf(client: string, weight: number): ClientLine {
    let line = this.clients.get(client);
    if (!line) {
      line = { weight, running: 0, waiters: [], waiting: 0 };
      this.clients.set(client, line);
    }
    return line;
  }

  private forgetIfIdle(client: string, line: ClientLine): void {
    if (line.running === 0 && line.waiting === 0 && this.clients.get(client) === line) this.clients.delete(client);
  }
}
