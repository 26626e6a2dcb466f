/**
 * Reads give way to orders while the main thread runs late. The orders in
 * flight, the lease's renewal and every answer run on that one thread, and a
 * flood of reads that arrives together is read off its sockets in one turn of
 * the loop: libuv reads up to 48 × 1,024 ready sockets before it comes round
 * to a timer. Answered through the app, 15,000 reads held the thread for
 * seconds beside busy cores — long enough for the instance to give up its
 * lease and the orders in flight to end `interrupted` or past their deadline,
 * with Postgres healthy.
 *
 * So, as the server first sees them, before the app:
 * - once a turn has been answering requests for READS_LATE_MS, the other
 *   connections with nothing being answered stop being read: what they sent
 *   waits in the kernel, and they are read again a few hundred a turn, oldest
 *   first, with the timers (the lease, the orders' deadlines) run between. A
 *   connection accepted while others wait joins the end of the line.
 * - while the loop runs READS_LATE_MS late — its timers on average (with no
 *   order under way, net of its waits for a core), or the turn so far — or
 *   connections are held, a client's read (GET or HEAD; never an operator's — a probe, the
 *   scrape, the admin's —, never an order or anything else that changes something) is answered 503 `overloaded` with
 *   Retry-After at once, with bytes built at start, and its connection
 *   closed: it costs the thread what accepting it and parsing its head did,
 *   and a write.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { requestIdFrom } from './request-log.js';
import { STATUS_BY_KIND } from '../wire/error-status.js';
import { PROBLEM_JSON, prefersProblem, problem } from '../wire/problem-details.js';
import { rawAnswer, rawRefusal } from '../wire/raw-answer.js';
import { lateRead } from '../wire/refusal-answers.js';

/**
 * How late the loop may run before reads are refused: below the 70 ms at which the free tier's orders are shed
 * (src/fairness/tiers.ts), so that reads go before any order does.
 */
export const READS_LATE_MS = 50;

/** Connections read again in one turn, at most, once they were held: about what a turn answers in READS_LATE_MS. */
const RESUMED_A_TURN = 256;

/** Refused reads are told of in the log at most this often. */
const REPORT_INTERVAL_MS = 10_000;

const REFUSAL = lateRead(READS_LATE_MS);
/** The JSON answer, with and without its body (HEAD): the same bytes for every read refused. */
const BUILT = {
  GET: Buffer.from(rawRefusal(REFUSAL)),
  HEAD: Buffer.from(rawRefusal(REFUSAL, { bodyless: true })),
};

/** How late the main thread's loop runs (src/composition/loop-lateness.ts). */
export interface LoopClock {
  /** Milliseconds: how late its timers fire, on average over the last half second. */
  readonly lateMs: number;
  /** The same, net of the thread's waits for a core: late by its own work. */
  readonly ownLateMs: number;
  /** Milliseconds of the thread's CPU this turn has spent answering requests; its first request starts the count. */
  turnMs(): number;
  /** A number that changes from one turn to the next. */
  readonly turn: number;
}

/**
 * The reads an operator needs most when the service is loaded: the probes, the scrape, the admin's routes, the live view
 * of the threads and the console. They answer whatever the load, as an incident is when they are read.
 */
const OPERATORS_READS = ['/healthz', '/readyz', '/metrics', '/admin/', '/threads', '/console'];

/** Whether a request only reads, and is a client's: a GET or HEAD of anything but an operator's reads. */
export function isRead(method: string | undefined, url: string | undefined): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false;
  return !OPERATORS_READS.some((path) => url?.startsWith(path));
}

export class LateReads {
  /** Connections not read for now, oldest first from `head`. */
  private held: Socket[] = [];
  private head = 0;
  private readonly holding = new WeakSet<Socket>();
  private resuming = false;
  /** The last turn in which every connection was held: once a turn is enough. */
  private heldInTurn = -1;
  private refused = 0;
  private reported = 0;
  private reportedAt = -Infinity;

  constructor(
    private readonly loop: LoopClock,
    private readonly log: Logger,
    /** Orders under way on this thread: what reads give way to. */
    private readonly ordersInFlight: () => number,
  ) {}

  /** A connection just accepted: it waits its turn behind those held, or if this turn is late already. */
  accepted(socket: Socket): void {
    if (this.head < this.held.length || this.loop.turnMs() >= READS_LATE_MS) this.hold(socket);
  }

  /**
   * A request whose head has arrived on `req.socket`, before the app: the answer that refuses it, or undefined to let
   * it through. A turn late already stops reading the connections of `open` with nothing being answered.
   */
  arrived(req: IncomingMessage, open: ReadonlyMap<Socket, number>): Buffer | string | undefined {
    const turnMs = this.loop.turnMs();
    if (turnMs >= READS_LATE_MS && this.heldInTurn !== this.loop.turn) {
      this.heldInTurn = this.loop.turn;
      for (const [socket, answering] of open)
        if (answering === 0 && socket !== req.socket && !this.holding.has(socket)) this.hold(socket);
    }
    // Connections held are the thread's backlog: behind, whatever its timers say now. With no order under way, late
    // only by its own work: a loop late waiting for a core (a busy machine) has no order for the reads to give way
    // to, and refused every read for as long as the machine stayed busy, an idle service's /openapi.json included.
    const loopLateMs = this.ordersInFlight() > 0 ? this.loop.lateMs : this.loop.ownLateMs;
    const late = Math.max(loopLateMs, turnMs);
    if ((late < READS_LATE_MS && this.head === this.held.length) || !isRead(req.method, req.url)) return undefined;
    this.refused++;
    this.report(late);
    const head = req.method === 'HEAD';
    if (!prefersProblem(req.headers.accept)) return head ? BUILT.HEAD : BUILT.GET;
    const requestId = requestIdFrom(req.headers['x-request-id']);
    const body = JSON.stringify(problem(REFUSAL.kind, REFUSAL.message, requestId));
    const headers = { 'Content-Type': `${PROBLEM_JSON}; charset=utf-8`, 'X-Request-Id': requestId, ...REFUSAL.headers };
    return rawAnswer({ status: STATUS_BY_KIND[REFUSAL.kind], headers, body }, { bodyless: head });
  }

  /** Every held connection read again now: the drain, which closes a connection that stays silent. */
  resumeAll(): void {
    this.resume(this.held.length);
  }

  private hold(socket: Socket): void {
    socket.pause();
    this.holding.add(socket);
    this.held.push(socket);
    if (this.resuming) return;
    this.resuming = true;
    setImmediate(this.resumeSome);
  }

  /** In the turn's last phase, after its reads: the next connections' reading resumes, theirs read in the next turn. */
  private readonly resumeSome = (): void => {
    this.resume(RESUMED_A_TURN);
    if (this.head < this.held.length) return void setImmediate(this.resumeSome);
    this.resuming = false;
  };

  private resume(count: number): void {
    const end = Math.min(this.held.length, this.head + count);
    for (; this.head < end; this.head++) {
      const socket = this.held[this.head]!;
      this.holding.delete(socket);
      if (!socket.destroyed) socket.resume();
    }
    if (this.head < this.held.length) return;
    this.held = [];
    this.head = 0;
  }

  private report(lateMs: number): void {
    const now = performance.now();
    if (now - this.reportedAt < REPORT_INTERVAL_MS) return;
    this.log.warn(
      {
        late_ms: Math.round(lateMs),
        reads_late_ms: READS_LATE_MS,
        refused_since: this.refused - this.reported,
        refused_since_start: this.refused,
      },
      'reads refused 503 overloaded before routing: the event loop runs late, and the orders in flight come first',
    );
    this.reportedAt = now;
    this.reported = this.refused;
  }
}
