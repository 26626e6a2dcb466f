/**
 * Bodies that trickle in: once a request's headers are in, its body must keep coming at BODY_MIN_BYTES_PER_SECOND,
 * after BODY_GRACE_SWEEPS looks. An order's body (at most 64 KiB) from any client that means to send it comes at once;
 * a socket trickling a byte at a time is cut within about a second and a half. Checked every BODY_SWEEP_MS for every
 * request still arriving — counted in looks, not in time, so a late event loop (which also reads late) never cuts a
 * body that was on its way. A walk of the requests still arriving (nearly always few: an order's body comes with its
 * headers), not of the connections; and the sweep is armed only while one is, so an idle server is not woken four
 * times a second to find none.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

const BODY_MIN_BYTES_PER_SECOND = 1024;
const BODY_SWEEP_MS = 250;
const BODY_GRACE_SWEEPS = 4;

export class SlowBodies {
  /**
   * Requests whose body was still to come when their headers were in, each with the sweeps that looked at it since and
   * its connection's bytes then; a request leaves when it is answered with its body in, or at the first sweep that
   * finds it whole, or gone.
   */
  private readonly arriving = new Map<IncomingMessage, { looks: number; readonly bytes: number }>();
  private sweep: NodeJS.Timeout | undefined;

  /** `tooSlow`: a request's body did not keep the pace; its connection is to be answered 408 and closed. */
  constructor(private readonly tooSlow: (socket: Socket) => void) {}

  /** A request's headers are in: watched if its body is still to come. */
  watch(req: IncomingMessage): void {
    if (req.complete) return;
    this.arriving.set(req, { looks: 0, bytes: req.socket.bytesRead });
    this.sweep ??= setInterval(() => this.cutSlowBodies(), BODY_SWEEP_MS).unref();
  }

  /**
   * Its response has closed: no longer watched if its body is in — left to the sweep, it held its response and its
   * order's objects up to 250 ms more. One answered before its body came (a 401) stays: a body trickling after it is
   * still cut.
   */
  answered(req: IncomingMessage): void {
    if (req.complete) this.arriving.delete(req);
  }

  /** Requests watched now. */
  get size(): number {
    return this.arriving.size;
  }

  close(): void {
    clearInterval(this.sweep);
    this.sweep = undefined;
  }

  /** Every request whose body has not kept BODY_MIN_BYTES_PER_SECOND since its grace: told `tooSlow`. */
  private cutSlowBodies(): void {
    for (const [req, seen] of this.arriving) {
      const { socket } = req;
      if (req.complete || socket.destroyed) {
        this.arriving.delete(req);
        continue;
      }
      const owed = (BODY_MIN_BYTES_PER_SECOND * (++seen.looks - BODY_GRACE_SWEEPS) * BODY_SWEEP_MS) / 1000;
      if (owed <= 0 || socket.bytesRead - seen.bytes >= owed) continue;
      this.arriving.delete(req);
      this.tooSlow(socket);
    }
    if (this.arriving.size === 0) this.close();
  }
}
