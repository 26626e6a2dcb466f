/** What a run prints when it ends: its figures as tables that fit a terminal (load/lib/table.ts). */
import { formatRatio, formatSpread, pairRatios, spreadOf } from '../lib/rounds.js';
import { formatTable, type Column } from '../lib/table.js';
import { HEADLINES } from '../report/headline.js';
import type { ComparedScenario, ScenarioResult, ThreadKind } from '../report/types.js';

const ms = (value: number): string => (Number.isFinite(value) ? value.toFixed(1) : '—');
const figure = (value: number | null | undefined): string => (value == null ? '—' : value.toLocaleString('en-US'));

const statuses = (result: ScenarioResult): string =>
  Object.entries(result.statuses)
    .map(([status, count]) => `${status}×${count.toLocaleString('en-US')}`)
    .join(' ');

const peakRss = (result: ScenarioResult): string =>
  result.peakRssMb !== null
    ? figure(result.peakRssMb)
    : result.sampledPeakRssMb !== null
      ? `${figure(result.sampledPeakRssMb)} (sampled)`
      : '—';

const right = (heading: string): Column => ({ heading, align: 'right' });

/** The figures and the gates of each scenario, then the targets: what each asks, what was measured, met or not. */
export function scenariosTable(results: readonly ScenarioResult[]): string {
  const columns: Column[] = [
    { heading: 'scenario' },
    right('orders/s'),
    right('p50 ms'),
    right('p90 ms'),
    right('p99 ms'),
    right('max ms'),
    right('CPU µs per order'),
    right('peak RSS MB'),
    { heading: 'statuses' },
    { heading: 'gates' },
  ];
  const rows = results.map((r) => [
    r.name,
    figure(r.requestsPerSec),
    ms(r.latency.p50),
    ms(r.latency.p90),
    ms(r.latency.p99),
    ms(r.latency.max),
    figure(r.processCpu?.usPerOrder),
    peakRss(r),
    statuses(r),
    r.problems.length === 0 ? 'ok' : r.problems.join('; '),
  ]);
  const targets = results.flatMap((r) =>
    r.target
      ? [
          [
            r.name,
            r.target.text,
            r.target.figure,
            r.target.met === null ? 'not judged (smoke run)' : r.target.met ? 'met' : 'NOT met',
          ],
        ]
      : [],
  );
  const targetColumns: Column[] = [
    { heading: 'scenario' },
    { heading: 'target' },
    { heading: 'measured' },
    { heading: 'verdict' },
  ];
  return targets.length === 0
    ? formatTable(columns, rows)
    : `${formatTable(columns, rows)}\n\n${formatTable(targetColumns, targets)}`;
}

/** Per scenario, each figure on every side, and this service's ratio to the other server and to the lean build. */
export function comparisonTable(compared: readonly ComparedScenario[]): string {
  const columns: Column[] = [
    { heading: 'scenario' },
    { heading: 'figure' },
    right('this service'),
    right('other server'),
    right('lean build'),
    right('this ÷ other'),
    right('this ÷ lean'),
    { heading: 'gates' },
  ];
  const rows = compared.flatMap((c) => {
    const gates = [...c.this, ...c.other, ...(c.lean ?? [])].every((r) => r.problems.length === 0) ? 'ok' : 'FAILED';
    const figures = c.figures ?? [
      {
        kind: c.headline,
        thisFigure: c.thisFigure,
        otherFigure: c.otherFigure,
        ratioOfMedians: c.ratioOfMedians,
        pairRatios: c.pairRatios,
      },
    ];
    return figures.map((f, i) => [
      i === 0 ? c.name : '',
      `${HEADLINES[f.kind].label}${f.kind === 'peakRss' ? `, ${c.rssMethod}` : ''}`,
      formatSpread(f.thisFigure),
      formatSpread(f.otherFigure),
      f.leanFigure ? formatSpread(f.leanFigure) : '—',
      formatRatio(f.pairRatios, f.ratioOfMedians),
      f.pairRatiosToLean ? formatRatio(f.pairRatiosToLean, f.ratioToLean) : '—',
      i === 0 ? gates : '',
    ]);
  });
  return formatTable(columns, rows);
}

const THREAD_COLUMNS: ReadonlyArray<readonly [ThreadKind, string]> = [
  ['mainThread', 'main thread'],
  ['workerThreads', 'worker threads'],
  ['v8Helpers', 'V8 helpers'],
  ['other', 'other'],
];

/** A scenario's rounds on each side there is: a plain run has only this service's. */
interface RoundsBySide {
  readonly name: string;
  readonly this: readonly ScenarioResult[];
  readonly other?: readonly ScenarioResult[];
  readonly lean?: readonly ScenarioResult[];
}

/** a[i] ÷ b[i] round by round: their median and min–max, or a dash where no round had both. */
function ratio(a: readonly number[], b: readonly number[]): string {
  const ratios = spreadOf(pairRatios(a, b));
  return Number.isFinite(ratios.median) ? formatRatio(ratios) : '—';
}

type ByThread = Readonly<Record<ThreadKind, number>>;
const byThreadOf = (rounds: readonly ScenarioResult[]): Array<ByThread | null> =>
  rounds.map((r) => r.processCpu?.byThread ?? null);
const totalsOf = (rounds: readonly ScenarioResult[]): number[] => rounds.map((r) => r.processCpu?.usPerOrder ?? NaN);
const kindOf = (split: ReadonlyArray<ByThread | null>, kind: ThreadKind): number[] =>
  split.map((byThread) => byThread?.[kind] ?? NaN);

/**
 * Where the CPU per order went, by kind of thread, over the rounds of each scenario (median and min–max; a plain run has
 * one): what the threads cost beside what they buy. This service and the lean build of its stack by thread, with this
 * service's ratio to the lean build thread by thread; the other server (the Go service, whose threads are not Node's)
 * as its total, with this service's ratio to it. Empty when no round could read the threads.
 */
export function cpuByThreadTable(scenarios: readonly RoundsBySide[]): string {
  const spread = (values: readonly number[]): string =>
    values.some(Number.isFinite) ? formatSpread(spreadOf(values)) : '—';
  const rows = scenarios.flatMap((c) => {
    const mine = byThreadOf(c.this);
    if (!mine.some((byThread) => byThread !== null)) return [];
    const rows = [
      [c.name, 'this service', spread(totalsOf(c.this)), ...THREAD_COLUMNS.map(([kind]) => spread(kindOf(mine, kind)))],
    ];
    if (c.lean && c.lean.length > 0) {
      const lean = byThreadOf(c.lean);
      rows.push(
        ['', 'lean build', spread(totalsOf(c.lean)), ...THREAD_COLUMNS.map(([kind]) => spread(kindOf(lean, kind)))],
        [
          '',
          'this ÷ lean',
          ratio(totalsOf(c.this), totalsOf(c.lean)),
          ...THREAD_COLUMNS.map(([kind]) => ratio(kindOf(mine, kind), kindOf(lean, kind))),
        ],
      );
    }
    if (c.other && c.other.length > 0)
      rows.push(
        ['', 'other server', spread(totalsOf(c.other)), ...THREAD_COLUMNS.map(() => '')],
        ['', 'this ÷ other', ratio(totalsOf(c.this), totalsOf(c.other)), ...THREAD_COLUMNS.map(() => '')],
      );
    return rows;
  });
  if (rows.length === 0) return '';
  return formatTable(
    [
      { heading: 'CPU µs per order by thread' },
      { heading: 'server' },
      right('total'),
      ...THREAD_COLUMNS.map(([, heading]) => right(heading)),
    ],
    rows,
  );
}

const sleepsOfRounds = (rounds: readonly ScenarioResult[]): number[] =>
  rounds.map((r) => r.processCpu?.sleepsPerOrder ?? NaN);

/**
 * How often each process's threads went to sleep per order, over the rounds of each scenario (median and min–max),
 * this service beside the other server and the lean build where there are: a sleep and its wake-up cost a thread as
 * much CPU as a small function's whole work, so this tells how much of the CPU per order is waking up rather than
 * working. Empty when no round could read them.
 */
export function sleepsTable(scenarios: readonly RoundsBySide[]): string {
  const compared = scenarios.some((c) => (c.other?.length ?? 0) > 0);
  const rows = scenarios.flatMap((c) => {
    const mine = sleepsOfRounds(c.this);
    if (!mine.some(Number.isFinite)) return [];
    const row = [c.name, formatSpread(spreadOf(mine))];
    if (!compared) return [row];
    const theirs = sleepsOfRounds(c.other ?? []);
    const lean = sleepsOfRounds(c.lean ?? []);
    return [
      [
        ...row,
        formatSpread(spreadOf(theirs)),
        lean.some(Number.isFinite) ? formatSpread(spreadOf(lean)) : '—',
        ratio(mine, theirs),
        ratio(mine, lean),
      ],
    ];
  });
  if (rows.length === 0) return '';
  const columns: Column[] = [{ heading: 'thread sleeps per order' }, right('this service')];
  if (compared) columns.push(right('other server'), right('lean build'), right('this ÷ other'), right('this ÷ lean'));
  return `${formatTable(columns, rows)}\nvoluntary context switches of every thread of the process over the measured load (load/lib/proc.ts, sleepsOf), per order answered`;
}
