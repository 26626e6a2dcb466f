/**
 * What a run prints and keeps: the timeline as it happens, then totals, then
 * every violation with the order's whole history — each request (when, to
 * which instance and process, why) and how it ended, the order at rest, and
 * what the nemesis did meanwhile. The run's folder keeps history.json (the
 * whole history and the observations at rest), violations.json and
 * report.txt (this text), beside the instances' output.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readAnswer } from './answers.js';
import type { FinalOrder, Observations, Violation } from './checker.js';
import { describeOverlap, type PausedHolderOverlap } from './courier-check.js';
import type { OrderBooks, Takeover } from './durable-check.js';
import type { Attempt, History, TimelineEntry } from './history.js';

const at = (ms: number): string => `+${(ms / 1000).toFixed(3).padStart(8)}s`;

export function formatEntry(entry: TimelineEntry): string {
  return `${at(entry.atMs)}  ${entry.actor.padEnd(10)}  ${entry.what}`;
}

function count<T>(items: Iterable<T>, key: (item: T) => string): string {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return (
    [...counts]
      .sort((a, b) => b[1] - a[1])
      .map(([name, n]) => `${name} ${n}`)
      .join(', ') || 'none'
  );
}

function endOf(attempt: Attempt): string {
  const reading = readAnswer(attempt.end);
  if (reading)
    return `${reading.status} ${reading.kind}${attempt.end.kind === 'answered' && attempt.end.replayed ? ' (replayed)' : ''}`;
  return attempt.end.kind === 'failed' ? `no answer: ${attempt.end.error}` : attempt.end.kind.replace('_', ' ');
}

function finalOf(final: FinalOrder | undefined): string {
  if (final === undefined) return 'not read';
  if (final.found === 'unreadable') return `unreadable: ${final.why}`;
  const payment = `charged ${final.payment.charged}, refunded ${final.payment.refunded}`;
  if (final.found === false) return `no record (404); provider: ${payment}`;
  return `${final.state}, outcome ${final.outcome ? `${final.outcome.http_status} ${final.outcome.kind}` : 'none'}, runs ${final.runs}, ${payment}`;
}

export interface Totals {
  readonly wallMs: number;
  readonly runMs: number;
  readonly planned: number;
  readonly nemesis: Readonly<Record<string, number>>;
  readonly skipped: number;
  /** Excesses over COURIERS that leases allow (courier-check.ts): not violations, said with their durations. */
  readonly pausedHolderOverlaps: readonly PausedHolderOverlap[];
  /** Outages switched on a survivor as another instance was lost (besides the nemesis's own dependency_outage). */
  readonly survivorOutages: number;
}

export function formatTotals(
  history: History,
  observed: Observations,
  violations: readonly Violation[],
  totals: Totals,
): string {
  const couriers = observed.couriers;
  const sums = history.courierSamples.map((sample) => sample.busy.reduce<number>((sum, busy) => sum + (busy ?? 0), 0));
  const over = history.courierSamples.filter((_, i) => sums[i]! > couriers);
  const atRest = [...observed.orders.values()].map((final) =>
    final.found === true ? (final.outcome?.kind ?? final.state) : final.found === false ? 'no record' : 'unreadable',
  );
  return [
    `wall time ${(totals.wallMs / 1000).toFixed(1)} s (nemesis and clients ${(totals.runMs / 1000).toFixed(1)} s)`,
    `orders: ${history.orders.length} (clients ${totals.planned}, thread-fault bursts ${history.attempts.filter((a) => a.why === 'fault_burst').length}, probes ${history.attempts.filter((a) => a.why === 'probe').length})`,
    `requests: ${history.attempts.length} — ${count(history.attempts, (a) => a.why)}`,
    `answers: ${count(history.attempts, endOf)}`,
    `orders at rest: ${count(atRest, (kind) => kind)}`,
    `nemesis: ${count(
      Object.entries(totals.nemesis).flatMap(([op, n]) => Array<string>(n).fill(op)),
      (op) => op,
    )}; skipped ${totals.skipped}`,
    `instance processes: ${count(
      history.timeline.filter((e) => e.actor === 'supervisor' && e.what.startsWith('start ')),
      (e) => e.what.split(' ')[1]!,
    )}; exits ${history.exits.length} (${history.exits.filter((e) => !e.expected).length} by themselves)`,
    `courier samples: ${history.courierSamples.length}, most busy at once ${Math.max(0, ...sums)} of ${couriers}; single samples over ${couriers}: ${over.length}${
      over.length
        ? ` (at ${over
            .slice(0, 8)
            .map((s) => `+${(s.atMs / 1000).toFixed(1)}s`)
            .join(', ')}${over.length > 8 ? ', …' : ''})`
        : ''
    }`,
    `paused holders' overlaps (a process frozen past its lease still lending, which leases without fencing at the resource allow): ${totals.pausedHolderOverlaps.length}${totals.pausedHolderOverlaps.map((overlap) => `\n  ${describeOverlap(overlap)}`).join('')}`,
    ...(observed.durable ? [resumptions(history, observed.durable.takeovers)] : []),
    counts(history, observed, totals),
    ...(observed.durable ? [effects(observed.durable.books)] : []),
    `violations: ${violations.length}${violations.length ? ` — ${count(violations, (v) => v.kind)}` : ''}`,
  ].join('\n');
}

/** The order's runs as Postgres holds them, and its takeovers, when they were read. */
function booksOf(observed: Observations, orderId: string): string[] {
  const books = observed.durable?.books.get(orderId);
  if (!books) return [];
  const takeovers = observed.durable!.takeovers.filter((takeover) => takeover.orderId === orderId);
  return [
    `    runs      ${books.finishedAtMs === null ? 'running' : `ended ${at(books.finishedAtMs).trim()}`}, recoveries ${books.recoveries}`,
    ...books.payments.map((run) => `      provider run ${run.run}: charged ${run.charged}, refunded ${run.refunded}`),
    ...books.steps.map(
      (row) => `      order_steps run ${row.run}: ${row.step} ${row.outcome} (takeover ${row.attempt - 1})`,
    ),
    ...books.effects.map((effect) => `      service run ${effect.run}: ${effect.step} ${effect.answer}`),
    ...takeovers.map(
      (takeover) =>
        `      ${at(takeover.atMs)} takeover ${takeover.recoveries} resumed run ${takeover.run} after ${takeover.stepsDone} steps`,
    ),
  ];
}

/**
 * The run in the counts that say what it exercised: takeovers (runs of a lost instance claimed, from the orders'
 * recoveries at rest), resumes (the takeovers' lines), dependency outages (on a survivor as its peer was lost, and on
 * their own), graceful stops and cancels.
 */
function counts(history: History, observed: Observations, totals: Totals): string {
  const books = [...(observed.durable?.books.values() ?? [])];
  const takeovers = books.reduce((sum, order) => sum + order.recoveries, 0);
  const resumes = observed.durable?.takeovers.length ?? 0;
  const outagesAlone = totals.nemesis['dependency_outage'] ?? 0;
  const stops = totals.nemesis['terminate_instance'] ?? 0;
  return `counts: takeovers ${takeovers}, resumes ${resumes}, dependency outages ${outagesAlone + totals.survivorOutages} (${totals.survivorOutages} on a survivor during a takeover), graceful stops ${stops}, cancels ${history.cancels.length}`;
}

/** What the vendor's and the courier service's books received, by answer. */
function effects(books: ReadonlyMap<string, OrderBooks>): string {
  const all = [...books.values()].flatMap((order) => order.effects);
  const of = (answer: string): number => all.filter((effect) => effect.answer === answer).length;
  return `effects (the vendor's and the courier service's books): ${all.length} requests — applied ${of('applied')}, duplicates ${of('duplicate')}, stale ${of('stale')}`;
}

/** How many orders carried a deadline of their own, and what the takeovers resumed. */
function resumptions(history: History, takeovers: readonly Takeover[]): string {
  const withDeadline = history.orders.filter((order) => order.deadline_ms !== undefined).length;
  const orders = new Set(takeovers.map((takeover) => takeover.orderId)).size;
  const carried = takeovers.reduce((sum, takeover) => sum + takeover.stepsDone, 0);
  return `resumed: ${takeovers.length} takeovers resumed ${orders} of the ${withDeadline} orders with a deadline of their own, after ${carried} steps they found recorded ok`;
}

/** A violation, and for an order its whole history. */
export function formatViolation(
  violation: Violation,
  history: History,
  observed: Observations,
  leaseMs: number,
): string {
  const head = `[${violation.kind}]${violation.orderId ? ` order ${violation.orderId}` : ''}${violation.instance && !violation.orderId ? ` instance ${violation.instance}` : ''}${violation.atMs !== undefined ? ` at ${at(violation.atMs).trim()}` : ''}: ${violation.message}`;
  if (!violation.orderId) return head;
  const attempts = history.attempts
    .filter((attempt) => attempt.orderId === violation.orderId)
    .sort((a, b) => a.sentMs - b.sentMs);
  const body = history.orders.find((order) => order.order_id === violation.orderId);
  const from = Math.min(...attempts.map((a) => a.sentMs)) - 1000;
  const to = Math.max(...attempts.map((a) => a.endedMs)) + 2 * leaseMs;
  const meanwhile = history.timeline.filter((entry) => entry.atMs >= from && entry.atMs <= to);
  return [
    head,
    `    body      ${JSON.stringify(body)}`,
    ...attempts.map(
      (a) =>
        `    ${at(a.sentMs)} → ${a.instance} (${a.pid === undefined ? 'no process' : `pid ${a.pid}`}${a.state === 'up' ? '' : `, ${a.state}`}) ${a.why.padEnd(22)} ${at(a.endedMs)} ← ${endOf(a)}`,
    ),
    `    at rest   ${finalOf(observed.orders.get(violation.orderId))}${observed.alarmed.has(violation.orderId) ? '; an error line names it' : ''}`,
    ...booksOf(observed, violation.orderId),
    ...(meanwhile.length ? ['    meanwhile', ...meanwhile.map((entry) => `      ${formatEntry(entry)}`)] : []),
  ].join('\n');
}

/** Violations shown in full per kind on the terminal; the rest in a line each (report.txt has them all in full). */
const SHOWN_IN_FULL = 5;

export function formatViolations(
  violations: readonly Violation[],
  format: (violation: Violation) => string,
  reportFile: string,
): string {
  const shown = new Map<string, number>();
  const lines = violations.map((violation) => {
    const n = (shown.get(violation.kind) ?? 0) + 1;
    shown.set(violation.kind, n);
    return n <= SHOWN_IN_FULL
      ? `${format(violation)}\n`
      : `[${violation.kind}] ${violation.orderId ? `order ${violation.orderId}: ` : ''}${violation.message.split('\n')[0]}`;
  });
  const cut = [...shown].filter(([, n]) => n > SHOWN_IN_FULL).length > 0;
  return `${lines.join('\n')}${cut ? `\n(beyond ${SHOWN_IN_FULL} of a kind, one line each here; every one in full in ${reportFile})` : ''}`;
}

export async function keepRun(
  dir: string,
  history: History,
  observed: Observations,
  violations: readonly Violation[],
  report: string,
): Promise<void> {
  const rest = {
    ...observed,
    orders: Object.fromEntries(observed.orders),
    alarmed: [...observed.alarmed],
    ...(observed.durable
      ? { durable: { ...observed.durable, books: Object.fromEntries(observed.durable.books) } }
      : {}),
  };
  await writeFile(join(dir, 'history.json'), JSON.stringify({ ...history, atRest: rest }, null, 1));
  await writeFile(join(dir, 'violations.json'), JSON.stringify(violations, null, 1));
  await writeFile(join(dir, 'report.txt'), report);
}
