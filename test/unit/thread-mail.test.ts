import { describe, expect, it } from 'vitest';
import { orderKey } from '../../src/domain/order.js';
import type { LedgerRequest, MailedReport, ThreadMail } from '../../src/threads/protocol.js';
import { taskRunner } from '../../workers/step-batch.js';
import { ThreadMailbox } from '../../workers/thread-mail.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const charge = (orderId: string): LedgerRequest => ({
  op: 'charge',
  order: orderKey('open', orderId),
  run: 1,
  amount: 100,
  test: false,
});
const ok = (seq: number): MailedReport => ({ seq, report: { status: 'ok', threadId: 1, endedEarlierMs: 0 } });

describe("a thread's mail", () => {
  it('leaves once per turn of the event loop, with everything posted in that turn, in order', async () => {
    const posted: ThreadMail[] = [];
    const mailbox = new ThreadMailbox((mail) => posted.push(mail));
    mailbox.ledgerRequest(charge('a'));
    mailbox.report(ok(1));
    mailbox.ledgerRequest(charge('b'));
    expect(posted).toEqual([]);
    await nextTurn();
    expect(posted).toEqual([{ type: 'thread-mail', ledgerRequests: [charge('a'), charge('b')], reports: [ok(1)] }]);
    mailbox.report(ok(2));
    await nextTurn();
    await nextTurn();
    expect(posted).toHaveLength(2);
    expect(posted[1]).toEqual({ type: 'thread-mail', ledgerRequests: [], reports: [ok(2)] });
  });

  it("carries the reports of an order that ends before its task's other orders: its answer need not wait for theirs", async () => {
    const mailed: MailedReport[] = [];
    const ends: Record<string, Promise<void>> = {
      fast: Promise.resolve(),
      slow: new Promise((r) => setTimeout(r, 50)),
    };
    const run = taskRunner(
      (task, ended) => void ends[task.order.orderId]!.then(() => ended({ status: 'ok', threadId: 1 })),
      (report) => mailed.push(report),
    );
    const batch = (orderId: string, seq: number) => ({
      order: { orderId } as never,
      run: 1,
      requestId: 'r',
      steps: [{ seq, cell: seq, module: 'm' }],
    });
    const answer = run({ batches: [batch('fast', 1), batch('slow', 2)] });
    await new Promise((r) => setTimeout(r, 20));
    expect(mailed.map((m) => m.seq)).toEqual([1]);
    expect((await answer).map((reports) => reports.map((r) => r.status))).toEqual([['ok'], ['ok']]);
  });
});
