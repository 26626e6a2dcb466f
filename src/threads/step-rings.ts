/**
 * Steps and their reports through shared memory, the one way between the main thread and the step threads: each thread
 * owns a pair of rings (src/shared-memory/word-ring.ts), one that brings it the batches of steps posted for it, one
 * that takes their reports back. A batch is an integer record: the order's numbers in fixed words, what is not a number
 * by index into a table both sides have (a step's module among the setup's, a failing step, a fault, a failure kind),
 * and the few strings (client, order id, request id, trace id) inline. The steps' requests to the payment provider come
 * back among the reports, each before its step's own: a cell, an operation and an amount, the main thread knowing the
 * rest.
 *
 * The main thread claims a free pair for a thread as soon as Piscina says the thread is ready (its threadId in the
 * pair's OWNER word), and frees it once the thread has exited and its last reports are read; the thread finds its pair
 * by that id once its runtime is ready, and reads what waits there. A step is known by its cancel cell, unique while
 * the step is out: its report comes back under it.
 *
 * Every message fits its ring: a batch is a few hundred words, and a report's detail is cut to REPORT_DETAIL_CHARS (the
 * whole of it is in the thread's log line), so no report can wait for room that never comes.
 */
import type { DependencyVerdict } from '../domain/dependencies.js';
import { FAULTS, type Fault } from '../domain/faults.js';
import type { Order } from '../domain/order.js';
import { TIERS } from '../domain/tier.js';
import { ACTION_NAMES, STEP_FAILURE_KINDS, STEP_NAMES, type ActionName, type StepName } from '../domain/steps.js';
import { WordRing } from '../shared-memory/word-ring.js';
import {
  REPORT_DETAIL_CHARS,
  type BatchedReport,
  type LedgerRequest,
  type StepBatch,
  type StepReport,
  type StepRingBuffers,
} from './protocol.js';

/** Words of each ring's data: room for some thousands of orders' batches a turn. */
const RING_WORDS = 1 << 16;

export interface RingPair {
  readonly index: number;
  readonly tasks: WordRing;
  readonly reports: WordRing;
}

export class StepRings {
  private readonly owners: Int32Array;
  private readonly pairs: RingPair[];

  constructor(readonly buffers: StepRingBuffers) {
    this.owners = new Int32Array(buffers.owners);
    this.pairs = buffers.tasks.map((tasks, index) => ({
      index,
      tasks: new WordRing(tasks),
      reports: new WordRing(buffers.reports[index]!),
    }));
  }

  /** Room for `threads` live threads, and as many dead ones not yet exited while their replacements run. */
  static create(threads: number): StepRings {
    const pairs = threads * 2 + 2;
    return new StepRings({
      owners: new SharedArrayBuffer(pairs * Int32Array.BYTES_PER_ELEMENT),
      tasks: Array.from({ length: pairs }, () => WordRing.create(RING_WORDS).buffer),
      reports: Array.from({ length: pairs }, () => WordRing.create(RING_WORDS).buffer),
    });
  }

  /** Main thread: claim a free pair for a thread; undefined if none is free (it gets no steps until one is). */
  claim(threadId: number): RingPair | undefined {
    for (const pair of this.pairs) {
      if (Atomics.compareExchange(this.owners, pair.index, 0, threadId) === 0) return pair;
    }
    return undefined;
  }

  /** The pair a thread owns, if one was claimed for it. */
  ownedBy(threadId: number): RingPair | undefined {
    for (const pair of this.pairs) if (Atomics.load(this.owners, pair.index) === threadId) return pair;
    return undefined;
  }

  /** Main thread, once the thread has exited and its reports are read: free its pair for a new thread. */
  free(pair: RingPair): void {
    pair.tasks.clear();
    pair.reports.clear();
    Atomics.store(this.owners, pair.index, 0);
  }
}

const NONE = -1;
const indexIn = <T>(table: readonly T[], value: T | undefined): number =>
  value === undefined ? NONE : table.indexOf(value);
const ACTIONS = ACTION_NAMES;
const STEPS = STEP_NAMES;
const KINDS: readonly string[] = [...STEP_FAILURE_KINDS, 'internal'];
const STATUSES = ['ok', 'canceled', 'error'] as const;
const VERDICTS: readonly DependencyVerdict[] = ['answered', 'failed'];

/** Words of a batch but for its strings and steps. */
const BATCH_FIXED = 2 + 2 + 1 + 1 + ACTIONS.length * 2 + STEPS.length * 2 + ACTIONS.length + 1 + 1 + 2 + 1 + 1;

/**
 * Main thread: write a batch into a thread's ring; false if it has no room (the batch goes some other way).
 * `moduleIndex`: a step's module in the setup's table.
 */
export function writeBatch(ring: WordRing, batch: StepBatch, moduleIndex: (module: string) => number): boolean {
  const { order } = batch;
  const modules = batch.steps.map((step) => moduleIndex(step.module));
  let length =
    BATCH_FIXED +
    WordRing.stringWords(order.client) +
    WordRing.stringWords(order.orderId) +
    WordRing.stringWords(batch.requestId) +
    WordRing.stringWords(batch.traceId ?? '') +
    batch.steps.length * 2;
  batch.steps.forEach((step, i) => {
    if (modules[i] === NONE) length += WordRing.stringWords(step.module);
  });
  let at = ring.begin(length);
  if (at < 0) return false;
  const words = ring.words;
  at = ring.writeFloat(at, order.amount);
  at = ring.writeFloat(at, batch.remainingMs ?? NaN);
  words[at++] = batch.run;
  words[at++] = batch.clientIndex ?? 0;
  for (const action of ACTIONS) at = ring.writeFloat(at, order.delayMs[action]);
  for (const step of STEPS) at = ring.writeFloat(at, order.cpuMs[step]);
  for (const action of ACTIONS) words[at++] = indexIn(FAULTS, order.faults?.[action]);
  words[at++] = indexIn(STEPS, order.failStep);
  // The tier ranks the order's steps in the wait for a courier: lost here, a critical order would wait as standard.
  words[at++] = indexIn(TIERS, order.tier);
  words[at++] = order.failCompensation ? 1 : 0;
  words[at++] = order.faults === undefined ? 0 : 1;
  words[at++] = batch.traceId === undefined ? 0 : 1;
  words[at++] = batch.steps.length;
  at = ring.writeString(at, order.client);
  at = ring.writeString(at, order.orderId);
  at = ring.writeString(at, batch.requestId);
  at = ring.writeString(at, batch.traceId ?? '');
  batch.steps.forEach((step, i) => {
    words[at++] = step.cell;
    words[at++] = modules[i]!;
    if (modules[i] === NONE) at = ring.writeString(at, step.module);
  });
  ring.end();
  return true;
}

/** Worker: the batch at `at` (a message of the ring's). `modules`: the setup's table. */
export function readBatch(ring: WordRing, at: number, modules: readonly string[]): StepBatch {
  const words = ring.words;
  const amount = ring.readFloat(at);
  const remainingMs = ring.readFloat(at + 2);
  at += 4;
  const run = words[at++]!;
  const clientIndex = words[at++]!;
  const delayMs = {} as Record<ActionName, number>;
  for (const action of ACTIONS) {
    delayMs[action] = ring.readFloat(at);
    at += 2;
  }
  const cpuMs = {} as Record<StepName, number>;
  for (const step of STEPS) {
    cpuMs[step] = ring.readFloat(at);
    at += 2;
  }
  const faults: Partial<Record<ActionName, Fault>> = {};
  for (const action of ACTIONS) {
    const fault = words[at++]!;
    if (fault !== NONE) faults[action] = FAULTS[fault]!;
  }
  const failStep = words[at++]!;
  const tier = words[at++]!;
  const failCompensation = words[at++] === 1;
  const hasFaults = words[at++] === 1;
  const hasTrace = words[at++] === 1;
  const count = words[at++]!;
  const client = ring.readString(at);
  const orderId = ring.readString(client.next);
  const requestId = ring.readString(orderId.next);
  const traceId = ring.readString(requestId.next);
  at = traceId.next;
  const steps: Array<StepBatch['steps'][number]> = [];
  for (let i = 0; i < count; i++) {
    const cell = words[at++]!;
    const moduleIndex = words[at++]!;
    let module = modules[moduleIndex];
    if (moduleIndex === NONE) {
      const inline = ring.readString(at);
      module = inline.value;
      at = inline.next;
    }
    steps.push({ cell, module: module! });
  }
  // Field by field, undefined where unset: one shape, and no spread, for every batch.
  const order: Order = {
    client: client.value,
    orderId: orderId.value,
    amount,
    failStep: failStep === NONE ? undefined : STEPS[failStep],
    failCompensation,
    delayMs,
    cpuMs,
    faults: hasFaults ? faults : undefined,
    tier: tier === NONE ? undefined : TIERS[tier],
  };
  return {
    order,
    run,
    requestId: requestId.value,
    traceId: hasTrace ? traceId.value : undefined,
    remainingMs: Number.isNaN(remainingMs) ? undefined : remainingMs,
    clientIndex: clientIndex || undefined,
    steps,
  };
}

/** Main thread: the cells of the steps of the batch at `at`, as `readBatch` would find them (one taken back). */
export function batchCells(ring: WordRing, at: number): number[] {
  const words = ring.words;
  const count = words[at + BATCH_FIXED - 1]!;
  let next = at + BATCH_FIXED;
  for (let i = 0; i < 4; i++) next += 1 + ((words[next]! + 1) >> 1);
  const cells: number[] = [];
  for (let i = 0; i < count; i++) {
    cells.push(words[next]!);
    next += words[next + 1] === NONE ? 2 + 1 + ((words[next + 2]! + 1) >> 1) : 2;
  }
  return cells;
}

/**
 * In place of a report's cell, in a thread's report ring: the message is a step's request to the payment provider.
 * Cells are never negative.
 */
const LEDGER_REQUEST = -2;
const LEDGER_OPS: ReadonlyArray<LedgerRequest['op']> = ['charge', 'void'];
const LEDGER_WORDS = 1 + 1 + 1 + 1 + 2;

/** A step's request to the payment provider as its ring carries it: who asked is its cell, the rest its task. */
export interface RingLedgerRequest {
  readonly cell: number;
  readonly op: LedgerRequest['op'];
  readonly amount: number;
  readonly test: boolean;
}

/**
 * Worker: write the request of the step of `cell` to the payment provider, among its reports (before the step's own,
 * which it precedes); false if the ring has no room now. The main thread has the order and run of the cell's step: they
 * do not travel.
 */
export function writeLedgerRequest(ring: WordRing, cell: number, request: LedgerRequest): boolean {
  let at = ring.begin(LEDGER_WORDS);
  if (at < 0) return false;
  const words = ring.words;
  words[at++] = LEDGER_REQUEST;
  words[at++] = cell;
  words[at++] = LEDGER_OPS.indexOf(request.op);
  words[at++] = request.test ? 1 : 0;
  ring.writeFloat(at, request.amount);
  ring.end();
  return true;
}

/** Main thread: the ledger request at `at`, or undefined if the message there is a report. */
export function readLedgerRequest(ring: WordRing, at: number): RingLedgerRequest | undefined {
  const words = ring.words;
  if (words[at] !== LEDGER_REQUEST) return undefined;
  return {
    cell: words[at + 1]!,
    op: LEDGER_OPS[words[at + 2]!]!,
    test: words[at + 3] === 1,
    amount: ring.readFloat(at + 4),
  };
}

/** Words of a report but for its detail. */
const REPORT_FIXED = 1 + 1 + 1 + 1 + 1 + 1 + 2 + 2 + 2 + 2;

/**
 * Worker: write the report of the step of `cell`; false if the ring has no room now (write it again after the main
 * thread reads). Its detail is cut to REPORT_DETAIL_CHARS, whatever the step made of it.
 */
export function writeReport(ring: WordRing, cell: number, report: StepReport, endedEarlierMs: number): boolean {
  const detail = report.status === 'error' ? (report.detail ?? '').slice(0, REPORT_DETAIL_CHARS) : '';
  let at = ring.begin(REPORT_FIXED + WordRing.stringWords(detail));
  if (at < 0) return false;
  const words = ring.words;
  words[at++] = cell;
  words[at++] = STATUSES.indexOf(report.status);
  words[at++] = report.threadId;
  // The failure's kind: its own for an error, its sibling's for a step its thread canceled over one.
  const kind =
    report.status === 'error' ? report.kind : report.status === 'canceled' ? report.siblingFailed : undefined;
  words[at++] = kind === undefined ? NONE : KINDS.indexOf(kind);
  words[at++] = indexIn(VERDICTS, report.dependency);
  words[at++] = report.retries ?? 0;
  at = ring.writeFloat(at, endedEarlierMs);
  at = ring.writeFloat(at, report.ranMs ?? NaN);
  at = ring.writeFloat(at, report.courierWaitMs?.[0] ?? NaN);
  at = ring.writeFloat(at, report.courierWaitMs?.[1] ?? NaN);
  ring.writeString(at, detail);
  ring.end();
  return true;
}

/** Main thread: the report at `at`, and the cell of its step. */
export function readReport(ring: WordRing, at: number): { readonly cell: number; readonly report: BatchedReport } {
  const words = ring.words;
  const cell = words[at]!;
  const status = STATUSES[words[at + 1]!]!;
  const threadId = words[at + 2]!;
  const kind = words[at + 3]!;
  const dependency = words[at + 4]!;
  const retries = words[at + 5]!;
  const endedEarlierMs = ring.readFloat(at + 6);
  const ranMs = ring.readFloat(at + 8);
  const waitFrom = ring.readFloat(at + 10);
  const waitLasted = ring.readFloat(at + 12);
  const failed = status === 'error';
  // Every field in every report, undefined where it has none: one shape, and no spread per report. The status decides
  // which of the union it is, which a literal built once cannot tell the compiler.
  const report = {
    status,
    threadId,
    kind: failed ? KINDS[kind] : undefined,
    siblingFailed: status === 'canceled' && kind !== NONE ? KINDS[kind] : undefined,
    detail: failed ? ring.readString(at + 14).value || undefined : undefined,
    endedEarlierMs,
    dependency: dependency === NONE ? undefined : VERDICTS[dependency],
    retries: retries || undefined,
    ranMs: Number.isNaN(ranMs) ? undefined : ranMs,
    courierWaitMs: Number.isNaN(waitFrom) ? undefined : ([waitFrom, waitLasted] as const),
  } as BatchedReport;
  return { cell, report };
}
