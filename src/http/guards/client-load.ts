/**
 * Each client's share of the main thread's event loop, by the rule of every
 * share (src/fairness/): while the loop runs late, a keyed request of a client
 * that sent much more than its share of the requests of the last second is
 * shed — answered 503 `overloaded` once a second has passed, its connection
 * kept, as a request over its budget is (rate-limit.ts) — and another
 * client's are served as ever. Every request runs on the one main thread: a
 * client within its budget, or a budget set high, may still send more than
 * the loop can answer, and then every client's orders wait behind its
 * requests, and the tiers shed the orders of all (a keyed flood left another
 * client 0 of 26).
 *
 * Its share: its weight's part of the keyed requests answered in the last
 * second (its floor among the clients that sent one, and a newcomer while a
 * client that exists sent none: a victim's requests wait unread behind a
 * flood's, and are not there to be counted), shed only past half as much
 * again (SHED_BEYOND), so that clients of about the same load are not shed
 * by turns for the noise between them, and only once its requests are enough
 * to make the loop late (SHED_FROM); never while a client is alone
 * (nobody else's orders wait behind its requests but its own, and the tiers
 * decide those). Late: LOOP_LATE_MS, below the reads' own line
 * (src/http/guards/late-reads.ts: 50 ms, every client's reads) and the
 * tiers' (70 ms for free), so that a client's flood is shed first and by
 * client, before the loop is late enough to shed everyone's.
 */
import { floorOf, NEWCOMER_WEIGHT } from '../../fairness/fair-share.js';

/** How late the loop runs, in ms on average over the last half second, before a client is shed by its share. */
export const LOOP_LATE_MS = 30;
/** Past how much of its floor of the last second's requests a client is shed. */
const SHED_BEYOND = 1.5;
/**
 * Fewer requests than this in the last second and a client is never shed, whatever its share: at the main thread's
 * quarter of a millisecond or so a request, 100 take 25 ms of a second, too little to make the loop 30 ms late. Where
 * the other clients' orders wait long (for couriers their steps hold), a client sending 10 cheap orders a second sent
 * most of the requests, and was shed while a busy machine kept the loop late by the clock.
 */
const SHED_FROM = 100;
const WINDOW_MS = 1000;
/** The requests no key identifies, counted as one client's: a name no client has (CLIENT_NAME). */
const KEYLESS = '(no key)';
/** How long after a client was last shed its lateness still counts as a flood (the tiers leave it alone). */
const FLOOD_MEMORY_MS = 3000;

export class ClientLoad {
  /** Requests by client in the window under way, and in the one before. */
  private current = new Map<string, number>();
  private previous = new Map<string, number>();
  private currentTotal = 0;
  private previousTotal = 0;
  private windowStart: number;
  /** The clients in either window, and their weights together: kept as they come, counted again each window. */
  private clients = 0;
  private weightsTogether = 0;
  /** When a client was last shed, or refused over its budget: its flood seen. */
  private floodSeenAt = -Infinity;

  constructor(
    /**
     * How late the loop runs now, in ms (src/composition/loop-lateness.ts): by the clock, and by its own work (net of
     * the main thread's waits for a core).
     */
    private readonly late: { readonly lateMs: number; readonly ownLateMs: number },
    /** CLIENT_WEIGHTS. */
    private readonly weights: ReadonlyMap<string, number>,
    /** How many clients exist (configured, or seen): while one of them sends nothing, a newcomer's floor is kept. */
    private readonly exist: () => number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.windowStart = now();
  }

  /**
   * Whether a client was shed lately, or refused over its request budget: the loop's lateness is a client's flood, not
   * the orders' to pay for.
   */
  get flooding(): boolean {
    return this.now() - this.floodSeenAt < FLOOD_MEMORY_MS;
  }

  /**
   * A request of a keyed client was refused over its budget (CLIENT_REQUEST_RATE_LIMIT). Held to its second's end, a
   * flood's refused requests are answered in waves a second apart and sent again at once: each wave arrives while the
   * loop, idle since the last, is on time, so none is shed here, and the wave then makes the loop late for whatever
   * waits behind it. Without this, that lateness went to the tiers, and another client's order was shed by tier (1 of
   * 25, the loop 99 ms late against a ceiling of 90).
   */
  refusedOverBudget(): void {
    this.floodSeenAt = this.now();
  }

  /**
   * A request of `client` arrives, and is counted: whether it is to be shed, its client beyond its share of a late loop.
   * Undefined: a request no key identifies, counted as one client's (their own meter sheds them, by address), never
   * shed here: a keyless flood is a load on the loop like another, and makes no keyed client the heaviest.
   */
  arrived(caller: string | undefined): boolean {
    const client = caller ?? KEYLESS;
    const now = this.now();
    this.roll(now);
    const count = this.current.get(client) ?? 0;
    if (count === 0 && !this.previous.has(client)) {
      this.clients++;
      this.weightsTogether += this.weightOf(client);
    }
    this.current.set(client, count + 1);
    this.currentTotal++;
    // A client that exists and has not sent one yet keeps a newcomer's floor: a victim whose requests wait unread
    // behind a flood's (seconds, in the kernel) is not there to be counted until the loop reads them.
    const newcomer = this.exist() > this.clients ? NEWCOMER_WEIGHT : 0;
    if (caller === undefined || this.clients < (newcomer > 0 ? 1 : 2)) return false;
    // A client sending alone is shed for the victims whose requests wait unread behind its own: only while the loop is
    // late by its own work. Late waiting for a core (a busy machine), it has no victim to gain by it, and was refused
    // 503 for a load it did not cause.
    if ((this.clients === 1 ? this.late.ownLateMs : this.late.lateMs) < LOOP_LATE_MS) return false;
    // The last second: this window, and the part of the one before that is still in it.
    const before = Math.max(0, 1 - (now - this.windowStart) / WINDOW_MS);
    const held = count + 1 + (this.previous.get(client) ?? 0) * before;
    if (held < SHED_FROM) return false;
    const total = this.currentTotal + this.previousTotal * before;
    const floor = floorOf(total, this.weightOf(client), this.weightsTogether + newcomer);
    if (held <= SHED_BEYOND * floor) return false;
    this.floodSeenAt = now;
    return true;
  }

  private roll(now: number): void {
    if (now - this.windowStart < WINDOW_MS) return;
    const skipped = now - this.windowStart >= 2 * WINDOW_MS;
    this.previous = skipped ? new Map<string, number>() : this.current;
    this.previousTotal = skipped ? 0 : this.currentTotal;
    this.current = new Map();
    this.currentTotal = 0;
    this.windowStart = now - ((now - this.windowStart) % WINDOW_MS);
    // Those of the window now before: as many as sent one in the last second, so a window's worth of work.
    this.clients = this.previous.size;
    this.weightsTogether = 0;
    for (const name of this.previous.keys()) this.weightsTogether += this.weightOf(name);
  }

  private weightOf(client: string): number {
    return this.weights.get(client) ?? 1;
  }
}
