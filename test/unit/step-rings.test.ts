import { describe, expect, it } from 'vitest';
import { orderKey, type Order } from '../../src/domain/order.js';
import { WordRing } from '../../src/shared-memory/word-ring.js';
import type { BatchedReport, StepBatch } from '../../src/threads/protocol.js';
import {
  readBatch,
  readLedgerRequest,
  readReport,
  StepRings,
  writeBatch,
  writeLedgerRequest,
  writeReport,
} from '../../src/threads/step-rings.js';

const MODULES = ['file:///steps/payment.js', 'file:///steps/vendor.js'];
const moduleIndex = (module: string): number => MODULES.indexOf(module);

const order: Order = {
  client: 'client-ä',
  orderId: 'order-1',
  amount: 1234.5,
  failStep: 'vendor',
  failCompensation: true,
  delayMs: { payment: 1, vendor: 2.5, courier: 3, refund: 4 },
  cpuMs: { payment: 0, vendor: 5, courier: 0 },
  faults: { courier: 'hang', refund: 'crash' },
  tier: 'critical',
};

function roundTrip(batch: StepBatch): StepBatch {
  const ring = WordRing.create(1024);
  expect(writeBatch(ring, batch, moduleIndex)).toBe(true);
  ring.publish();
  let read: StepBatch | undefined;
  ring.read((at) => (read = readBatch(ring, at, MODULES)));
  return read!;
}

function reportTrip(report: BatchedReport): BatchedReport {
  const ring = WordRing.create(1024);
  expect(writeReport(ring, 7, report, report.endedEarlierMs)).toBe(true);
  ring.publish();
  let read: { cell: number; report: BatchedReport } | undefined;
  ring.read((at) => (read = readReport(ring, at)));
  expect(read!.cell).toBe(7);
  return read!.report;
}

describe('step rings', () => {
  it('carry a batch as integer records, whole: the order, its labels, its steps by module index or by name', () => {
    const batch: StepBatch = {
      order,
      run: 3,
      requestId: 'req-1',
      traceId: '0af7651916cd43dd8448eb211c80319c',
      remainingMs: 987.25,
      clientIndex: 2,
      steps: [
        { cell: 4, module: MODULES[1]! },
        { cell: 5, module: 'file:///elsewhere/probe.js' },
      ],
    };
    expect(roundTrip(batch)).toEqual(batch);
    const bare: StepBatch = {
      order: { ...order, failStep: undefined, failCompensation: false, faults: undefined, tier: undefined },
      run: 1,
      requestId: 'req-2',
      steps: [{ cell: 0, module: MODULES[0]! }],
    };
    const { faults: _none, ...withoutFaults } = bare.order;
    expect(roundTrip(bare)).toEqual({ ...bare, order: withoutFaults });
  });

  it('carry every kind of report back', () => {
    const reports: BatchedReport[] = [
      { status: 'ok', threadId: 3, endedEarlierMs: 0.5 },
      { status: 'ok', threadId: 3, endedEarlierMs: 0, dependency: 'answered', retries: 2, ranMs: 12.5 },
      { status: 'canceled', threadId: 4, endedEarlierMs: 1, dependency: 'failed', courierWaitMs: [1.5, 20] },
      { status: 'canceled', threadId: 4, endedEarlierMs: 0, siblingFailed: 'vendor_unavailable' },
      { status: 'error', threadId: 5, kind: 'no_courier', endedEarlierMs: 0 },
      { status: 'error', threadId: 5, kind: 'internal', detail: 'TypeError: boom\n    at step', endedEarlierMs: 2 },
    ];
    for (const report of reports) expect(reportTrip(report)).toEqual(report);
  });

  it("carry a step's requests to the payment provider among the reports, each told from a report", () => {
    const ring = WordRing.create(1024);
    const charge = { op: 'charge', order: orderKey(order.client, order.orderId), run: 2, amount: 1234.5, test: false };
    expect(writeLedgerRequest(ring, 9, { ...charge, op: 'charge' })).toBe(true);
    expect(writeReport(ring, 9, { status: 'ok', threadId: 3 }, 0)).toBe(true);
    expect(writeLedgerRequest(ring, 0, { ...charge, op: 'void', amount: 0.25, test: true })).toBe(true);
    ring.publish();
    const read: unknown[] = [];
    ring.read((at) => read.push(readLedgerRequest(ring, at) ?? readReport(ring, at)));
    expect(read).toEqual([
      { cell: 9, op: 'charge', amount: 1234.5, test: false },
      { cell: 9, report: { status: 'ok', threadId: 3, endedEarlierMs: 0 } },
      { cell: 0, op: 'void', amount: 0.25, test: true },
    ]);
  });

  it('give each thread a pair of its own, and a freed pair to the next thread, empty', () => {
    const rings = StepRings.create(1);
    const first = rings.claim(101)!;
    const second = rings.claim(102)!;
    expect(first.index).not.toBe(second.index);
    expect(rings.ownedBy(102)).toBe(second);
    first.tasks.begin(1);
    first.tasks.end();
    first.tasks.publish();
    rings.free(first);
    expect(rings.ownedBy(101)).toBeUndefined();
    const again = rings.claim(103)!;
    expect(again.index).toBe(first.index);
    expect(again.tasks.hasMessages()).toBe(false);
    for (let id = 104; rings.claim(id); id++) expect(id).toBeLessThan(110);
  });
});
