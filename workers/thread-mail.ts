/**
 * What a thread posts to the main thread besides its tasks' answers — its
 * steps' requests to the payment provider, and the reports of steps that
 * end before their task does — leaves once per turn of the thread's
 * event loop, in one message. Under load one turn ends the waits of many
 * steps at once (their timers fall due together), and every message costs
 * the main thread a structured clone and a dispatch of its own.
 *
 * Holding a ledger request until the end of the turn loses nothing: it was
 * recorded in its task's cell before it was queued, so a thread that dies
 * first leaves it to the cell, and the gateway takes a request and its
 * settlement in either order. A report waits no more than the turn.
 */
import type { LedgerRequest, MailedReport, ThreadMail } from '../src/threads/protocol.js';

export class ThreadMailbox {
  private ledgerRequests: LedgerRequest[] = [];
  private reports: MailedReport[] = [];
  private flushing = false;

  constructor(private readonly post: (mail: ThreadMail) => void) {}

  ledgerRequest(request: LedgerRequest): void {
    this.ledgerRequests.push(request);
    this.flushAtEndOfTurn();
  }

  report(report: MailedReport): void {
    this.reports.push(report);
    this.flushAtEndOfTurn();
  }

  private flushAtEndOfTurn(): void {
    if (this.flushing) return;
    this.flushing = true;
    // An immediate runs once the thread is back in its event loop, after every timer and message of this turn.
    setImmediate(() => {
      this.flushing = false;
      const mail: ThreadMail = {
        type: 'thread-mail',
        ledgerRequests: this.ledgerRequests,
        reports: this.reports,
      };
      this.ledgerRequests = [];
      this.reports = [];
      this.post(mail);
    });
  }
}
