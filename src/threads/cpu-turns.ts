/**
 * Thread time, shared between clients. A step that computes (`cpu_ms`) holds
 * its thread for as long as it computes: the thread's other steps get a turn
 * only between its time slices. So while more than one client shares the
 * service, a client may have at most `perClient` computing steps on threads
 * at once — its cap of THREADS, never every thread: a thread is always left
 * without its CPU work, and the balancer
 * (step-balancer.ts) sends the other
 * clients' steps there — and all clients together at most `total`, one per
 * thread, so that no two computing steps share a thread. A step beyond either
 * waits here, on the main thread, before it is posted: it holds no thread, no
 * cell, no place in the pool's queue, and its wait ends with its order's
 * cancellation or deadline (its signal).
 *
 * But a client below its floor never waits for another's step to end. A turn
 * cannot be taken back, and the others may hold every one — turns taken while
 * the client was idle, when their floors were larger — for as long as their
 * steps compute. Its step then goes beyond `total`, to share a thread with one
 * of theirs, which yields to it every time slice; at most the floors' sum
 * beyond `total`, since floors never add up to more than it.
 *
 * Who may take a turn (caps, floors) and whose turn comes first (tiers,
 * aging, the fair share, then the oldest ticket) are src/fairness/'s rule;
 * this line keeps the counts and the waiters. With one client (or
 * CLIENT_MAX_SHARE=1), there are no limits and a turn is taken without
 * waiting.
 */
import type { CancelSignal } from '../domain/cancel-signal.js';
import { floorOf, mayTakeOne, NO_SHARERS, type Sharers } from '../fairness/fair-share.js';
import { agedRank, DEFAULT_RANK, RANKS, tieredTurnOrder } from '../fairness/tiers.js';

/** What may compute at once; undefined: no limit (one client). */
export interface CpuTurnLimits {
  readonly perClient: number;
  readonly total: number;
  /** Who keeps a floor of the turns; nobody if not said. */
  readonly sharers?: Sharers;
}

/**
 * A computing step's place on a thread, given back once the step is over — or once its CPU work is, should `computed`
 * say so first (its thread marks it in shared memory before its report can come).
 */
export interface CpuTurn {
  release(): void;
  givenBackWhen(computed: () => boolean): void;
}

/** A turn granted and not given back. */
interface HeldTurn {
  computed?: () => boolean;
  readonly release: () => void;
}

/** What a client has of thread time right now. */
export interface CpuTurnFigures {
  readonly running: number;
  readonly waiting: number;
}

interface Waiter {
  readonly ticket: number;
  /** Its order's tier's rank (0: critical), and when it began to wait: it rises as it waits. */
  readonly rank: number;
  readonly since: number;
  readonly grant: (turn: CpuTurn | undefined) => void;
  /** Left the line (canceled): skipped when its turn comes. */
  gone: boolean;
}

interface ClientLine {
  readonly weight: number;
  running: number;
  /**
   * Per rank, in arrival order: the head of each is its rank's oldest, the most aged. Those gone are dropped as they
   * reach the front.
   */
  readonly waiters: Waiter[][];
  waiting: number;
}

export class CpuTurns {
  private readonly clients = new Map<string, ClientLine>();
  /** The turns granted and not given back, looked at before a turn is judged: those whose CPU work is over go back. */
  private readonly held = new Set<HeldTurn>();
  private running = 0;
  private nextTicket = 0;

  /** `limits`: asked at every take and release, since clients come to exist as the service runs. */
  constructor(private readonly limits: () => CpuTurnLimits | undefined) {}

  /**
   * A turn for a computing step of `client` (weighing `weight`), of its order's tier's `rank`: at once if it has room,
   * else once its turn comes, or undefined if `signal` fires first. Returned without a promise when no wait is needed.
   */
  take(
    client: string,
    weight: number,
    signal: CancelSignal,
    rank = DEFAULT_RANK,
  ): CpuTurn | Promise<CpuTurn | undefined> {
    this.giveBackComputed();
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
        rank,
        since: performance.now(),
        grant: (turn) => {
          signal.removeEventListener('abort', leave);
          resolve(turn);
        },
        gone: false,
      };
      line.waiters[Math.min(Math.max(0, rank), RANKS - 1)]!.push(waiter);
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
    const turn: HeldTurn = {
      release: () => {
        if (!this.held.delete(turn)) return;
        line.running--;
        this.running--;
        this.serve();
        this.forgetIfIdle(client, line);
      },
    };
    this.held.add(turn);
    return {
      release: turn.release,
      givenBackWhen: (computed) => {
        turn.computed = computed;
      },
    };
  }

  /**
   * Every turn whose step's CPU work is over goes back: a few looks at shared memory, one per thread at most. Looked at
   * before each turn is judged, and whenever a thread writes (its step may have computed, then asked or answered).
   */
  giveBackComputed(): void {
    for (const turn of this.held) if (turn.computed?.()) turn.release();
  }

  /** Whether one more turn of `client` is within its share, that turn counted. */
  private hasRoom(client: string, line: ClientLine, limits: CpuTurnLimits | undefined): boolean {
    if (limits === undefined) return true;
    const { perClient, total, sharers = NO_SHARERS } = limits;
    const heldOf = (other: string): number =>
      other === client ? line.running : (this.clients.get(other)?.running ?? 0);
    if (this.running < total)
      return mayTakeOne(client, { capacity: total, busy: this.running, heldOf }, sharers, perClient);
    return line.running < floorOf(total, sharers.active.get(client) ?? 0, sharers.totalWeight);
  }

  /**
   * Give freed turns to whose turn it is, while there is room: among the heads of each client's lines, one per rank (a
   * look as long as the clients are many, not the waiters).
   */
  private serve(): void {
    const limits = this.limits();
    for (;;) {
      const now = performance.now();
      const heads: Array<{ client: string; line: ClientLine; waiter: Waiter }> = [];
      let best = RANKS;
      for (const [client, line] of this.clients) {
        if (line.waiting === 0 || !this.hasRoom(client, line, limits)) continue;
        for (const queue of line.waiters) {
          while (queue.length > 0 && queue[0]!.gone) queue.shift();
          const waiter = queue[0];
          if (!waiter) continue;
          heads.push({ client, line, waiter });
          best = Math.min(best, waiter.rank);
        }
      }
      let next: { client: string; line: ClientLine; waiter: Waiter; rank: number } | undefined;
      for (const head of heads) {
        const rank = agedRank(head.waiter.rank, now - head.waiter.since, best);
        if (next) {
          const { line } = head;
          const order = tieredTurnOrder(
            rank,
            line.running,
            line.weight,
            next.rank,
            next.line.running,
            next.line.weight,
          );
          if (order > 0 || (order === 0 && head.waiter.ticket > next.waiter.ticket)) continue;
        }
        next = { ...head, rank };
      }
      if (!next) return;
      const { line, client, waiter } = next;
      line.waiters[Math.min(Math.max(0, waiter.rank), RANKS - 1)]!.shift();
      line.waiting--;
      waiter.gone = true;
      waiter.grant(this.grant(line, client));
    }
  }

  private lineOf(client: string, weight: number): ClientLine {
    let line = this.clients.get(client);
    if (!line) {
      line = { weight, running: 0, waiters: Array.from({ length: RANKS }, () => []), waiting: 0 };
      this.clients.set(client, line);
    }
    return line;
  }

  private forgetIfIdle(client: string, line: ClientLine): void {
    if (line.running === 0 && line.waiting === 0 && this.clients.get(client) === line) this.clients.delete(client);
  }
}
