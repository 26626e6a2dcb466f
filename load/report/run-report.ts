/**
 * A load run's report as one self-contained HTML file: where and when it ran
 * (machine, commit, load of the machine), a summary table, the run set beside
 * an earlier one, and per scenario its latency over time, its latency
 * histogram and what the server was doing meanwhile; for a comparison, both
 * servers side by side, round by round.
 */
import { formatHeadline, HEADLINES } from './headline.js';
import { escapeHtml, formatMs, formatNumber, formatStatuses, ratioCell, renderPage, verdictCell } from './page.js';
import {
  Charts,
  COLORS,
  cpuAndMemory,
  eventLoopDelay,
  latencyHistogram,
  latencyOverTime,
  perThread,
  serverState,
  type LineChart,
} from './charts.js';
import type {
  Baseline,
  ComparedFigure,
  ComparedScenario,
  Comparison,
  GeneratorName,
  LoadReport,
  ScenarioResult,
} from './types.js';
import { formatRatio, formatSpread, spreadOf } from '../lib/rounds.js';

/** A benchmark target: what it asks, the figure measured, and met or not — never a failure of the run. */
function targetCell(target: ScenarioResult['target']): string {
  if (target === null) return '<td>—</td>';
  const verdict = target.met === null ? 'not judged (smoke run)' : target.met ? 'met' : 'not met';
  return `<td>${escapeHtml(target.text)}: <strong>${verdict}</strong> (${escapeHtml(target.figure)})</td>`;
}

const rss = (r: ScenarioResult): string =>
  r.peakRssMb !== null
    ? formatNumber(r.peakRssMb)
    : r.sampledPeakRssMb !== null
      ? `${formatNumber(r.sampledPeakRssMb)} <small>(sampled)</small>`
      : '—';

function figureCells(r: ScenarioResult): string {
  return [
    `<td class="num">${formatNumber(r.requestsPerSec)}</td>`,
    `<td class="num">${formatMs(r.latency.p50)}</td>`,
    `<td class="num">${formatMs(r.latency.p90)}</td>`,
    `<td class="num">${formatMs(r.latency.p99)}</td>`,
    `<td class="num">${formatMs(r.latency.max)}</td>`,
    `<td>${formatStatuses(r.statuses)}</td>`,
    `<td class="num${r.errors > 0 ? ' bad' : ''}">${r.errors}</td>`,
    `<td class="num">${formatNumber(r.processCpu?.usPerOrder ?? null)}</td>`,
    `<td class="num">${rss(r)}</td>`,
  ].join('');
}
const FIGURE_HEADINGS =
  '<th class="num">orders/s</th><th class="num">p50</th><th class="num">p90</th><th class="num">p99</th><th class="num">max (ms)</th><th>Statuses</th><th class="num">Errors</th>' +
  '<th class="num" title="CPU time of the server process, every thread, over the measured load, per order answered">CPU µs per order</th><th class="num">Peak RSS MB</th>';

function header(report: LoadReport, title: string): string {
  const { cpus, cpuModel, node, platform, hostname, memoryGb } = report.machine;
  const commit = report.commit
    ? `commit <code>${escapeHtml(report.commit.sha.slice(0, 12))}</code>${report.commit.dirty ? ' <strong>with uncommitted changes</strong>' : ''}`
    : 'commit unknown (not a git checkout)';
  const load = (values: readonly number[]): string => values.map((v) => v.toFixed(2)).join(' / ');
  return `<h1>${escapeHtml(title)}</h1>
<p class="meta">${escapeHtml(report.startedAt)} → ${escapeHtml(report.finishedAt)} · ${commit}<br>
${escapeHtml(`${hostname}: ${cpus} CPUs · ${cpuModel} · ${memoryGb} GB · Node ${node} · ${platform}`)}<br>
load average (1 / 5 / 15 min): ${load(report.loadAverage.start)} at the start, ${load(report.loadAverage.end)} at the end ·
load generator: ${generatorText(report.generator ?? 'autocannon')}
${report.smoke ? '<br><strong>Smoke run</strong>: a few seconds per scenario; gates applied, targets not judged.' : ''}</p>`;
}

function generatorText(generator: GeneratorName): string {
  return generator === 'wrk'
    ? '<strong>wrk</strong> (a process of its own; latencies its own, corrected for coordinated omission; no time per response)'
    : "<strong>autocannon</strong> (in the suite's process, on the same cores as the server)";
}

function environment(serverEnv: ScenarioResult['serverEnv']): string {
  if (serverEnv === null) return '— (not started by the suite)';
  const env = Object.entries(serverEnv);
  return env.length === 0
    ? 'the defaults'
    : env.map(([key, value]) => `<code>${escapeHtml(key)}=${escapeHtml(value)}</code>`).join(' ');
}

function scenarioSection(s: ScenarioResult, index: number, charts: Charts): string {
  const envText = environment(s.serverEnv);
  const after = s.health
    ? `${s.health.runningSteps} running steps, ${s.health.threadsReplaced} threads replaced, ${s.health.ordersInFlight} orders in flight`
    : '— (no /healthz)';
  return `
<section id="scenario-${index}">
  <h2>${escapeHtml(s.name)}</h2>
  <p class="description">${escapeHtml(s.description)}</p>
  <dl>
    <dt>Connections</dt><dd>${s.connections}</dd>
    <dt>Duration</dt><dd>${formatNumber(s.durationSec)} s (${formatNumber(s.requests)} responses)</dd>
    <dt>Server env</dt><dd>${envText}</dd>
    <dt>Most orders in flight</dt><dd>${formatNumber(s.peakOrdersInFlight)}</dd>
    <dt>Server process CPU</dt><dd>${cpuText(s)}</dd>
    <dt>After drain</dt><dd>${after}</dd>
  </dl>
  <div class="charts">
    ${charts.figure('Latency over time', latencyOverTime(s), untimed(s))}
    ${charts.figure('Latency histogram', latencyHistogram(s.histogram), 'buckets fitted to the data')}
    ${charts.figure('Orders and steps', serverState(s.series), '/healthz every 250 ms')}
    ${charts.figure('Main thread: event-loop delay', eventLoopDelay(s.series), 'over each 5 s and the last stretch, from /metrics')}
    ${charts.figure('CPU and memory of the server', cpuAndMemory(s.series), '/proc every 250 ms')}
    ${s.series.health?.perThread ? charts.figure('Worker threads', perThread(s.series), '/healthz per_thread') : ''}
  </div>
</section>`;
}

/** Why a chart of latency over time is missing, when that is why. */
const untimed = (r: ScenarioResult): string =>
  r.timeline === null ? 'the load generator gives no time per response' : '';

function cpuText(r: ScenarioResult): string {
  if (!r.processCpu) return '— (its process is not on this machine)';
  return `${formatNumber(r.processCpu.usPerOrder)} µs per order answered; ${r.processCpu.cores.toFixed(2)} cores busy on average (every thread of the process, /proc, over the measured load)`;
}

/**
 * This run's scenarios beside the baseline's of the same name: the headline first, then the usual figures, with ratios
 * this ÷ that.
 */
function baselineTable(report: LoadReport, baseline: Baseline): string {
  const rows = report.scenarios.flatMap((now) => {
    const then = baseline.scenarios.find((s) => s.name === now.name);
    if (!then) return [];
    const headline = HEADLINES[now.headline];
    const pair = (
      a: number | null,
      b: number | null,
      format: (v: number | null) => string,
      better: 'higher' | 'lower',
    ): string =>
      `<td class="num">${format(a)} / ${format(b)}</td>${a !== null && b !== null ? ratioCell(a / b, better) : '<td class="num">—</td>'}`;
    const differs = [
      ...(now.connections !== then.connections ? [`${then.connections} connections`] : []),
      ...(now.durationSec !== then.durationSec ? [`${then.durationSec} s`] : []),
    ];
    return [
      `<tr><td>${escapeHtml(now.name)}${differs.length > 0 ? ` <small>(then ${differs.join(', ')})</small>` : ''}</td>` +
        pair(
          headline.read(now),
          headline.read(then as ScenarioResult),
          (v) => (v === null ? '—' : formatHeadline(now.headline, v)),
          headline.better,
        ) +
        pair(now.requestsPerSec, then.requestsPerSec, formatNumber, 'higher') +
        pair(now.latency.p50, then.latency.p50, formatMs, 'lower') +
        pair(now.latency.p99, then.latency.p99, formatMs, 'lower') +
        pair(now.processCpu?.usPerOrder ?? null, then.processCpu?.usPerOrder ?? null, formatNumber, 'lower') +
        pair(now.peakRssMb ?? now.sampledPeakRssMb, then.peakRssMb ?? then.sampledPeakRssMb, formatNumber, 'lower') +
        '</tr>',
    ];
  });
  if (rows.length === 0) return '';
  return `<div class="table-wrap"><table>
<thead><tr><th>Scenario</th><th class="num">headline: now / then</th><th class="num">×</th><th class="num">orders/s</th><th class="num">×</th><th class="num">p50 ms</th><th class="num">×</th><th class="num">p99 ms</th><th class="num">×</th><th class="num">CPU µs per order</th><th class="num">×</th><th class="num">peak RSS MB</th><th class="num">×</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table></div>`;
}

function comparisonBaselineTable(comparison: Comparison, baseline: Baseline): string {
  const rows = comparison.scenarios.flatMap((now) => {
    const then = baseline.comparison?.find((s) => s.name === now.name);
    if (!then) return [];
    const better = HEADLINES[now.headline].better;
    return [
      `<tr><td>${escapeHtml(now.name)}</td><td>${escapeHtml(HEADLINES[now.headline].label)}</td>` +
        `<td class="num">${formatRatio(now.pairRatios, now.ratioOfMedians)}</td><td class="num">${formatRatio(then.pairRatios, then.ratioOfMedians)}</td>` +
        `<td class="num">${now.pairRatiosToLean ? formatRatio(now.pairRatiosToLean, now.ratioToLean) : '—'}</td><td class="num">${then.pairRatiosToLean ? formatRatio(then.pairRatiosToLean, then.ratioToLean) : '—'}</td>` +
        `<td class="num">${formatSpread(now.thisFigure)} / ${formatSpread(then.thisFigure)}</td>${ratioCell(now.thisFigure.median / then.thisFigure.median, better)}` +
        `<td class="num">${formatSpread(now.otherFigure)} / ${formatSpread(then.otherFigure)}</td>${ratioCell(now.otherFigure.median / then.otherFigure.median, better)}</tr>`,
    ];
  });
  if (rows.length === 0) return '';
  return `<div class="table-wrap"><table>
<thead><tr><th>Scenario</th><th>Headline</th><th class="num">this ÷ other, now</th><th class="num">then</th><th class="num">this ÷ lean, now</th><th class="num">then</th><th class="num">this service: now / then</th><th class="num">×</th><th class="num">other server: now / then</th><th class="num">×</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table></div>`;
}

function baselineSection(report: LoadReport): string {
  const baseline = report.baseline;
  if (!baseline) return '';
  const table = report.comparison
    ? comparisonBaselineTable(report.comparison, baseline)
    : baselineTable(report, baseline);
  if (table === '') return '';
  return `<section>
<h2>Compared with <a href="../${encodeURIComponent(baseline.run)}/report.html">${escapeHtml(baseline.startedAt)}</a></h2>
<p class="description">That run: commit ${escapeHtml(baseline.commit ?? 'unknown')}${baseline.smoke ? ', a smoke run' : ''}. Ratios are now ÷ then, green or red where they differ by more than 10% (this machine drifts ±20% over a day: one run against another is a hint, not a measurement).</p>
${table}
</section>`;
}

function summaryTable(report: LoadReport): string {
  const rows = report.scenarios.map(
    (s, i) =>
      `<tr><td><a href="#scenario-${i}">${escapeHtml(s.name)}</a></td>${figureCells(s)}${targetCell(s.target)}${verdictCell(s.problems)}</tr>`,
  );
  return `<div class="table-wrap"><table>
<thead><tr><th>Scenario</th>${FIGURE_HEADINGS}<th>Target</th><th>Gates</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table></div>`;
}

/** The round whose headline figure is the median (the lower middle for an even count): the one shown in time charts. */
function medianRound(results: readonly ScenarioResult[], values: readonly number[]): ScenarioResult | undefined {
  const order = values.map((value, i) => [value, i] as const).sort(([a], [b]) => a - b);
  const middle = order[(order.length - 1) >> 1];
  return middle === undefined ? results[0] : results[middle[1]];
}

/** The median over rounds of the most requests awaiting a response at once: what a memory figure was measured at. */
const inFlight = (rounds: readonly ScenarioResult[]): string =>
  formatNumber(spreadOf(rounds.map((r) => r.peakOrdersInFlight ?? NaN)).median);

/** "25 s, settled: 521, 471, 460 µs/order": how a round was warmed up. */
function warmUpText(result: ScenarioResult): string {
  const warmUp = result.warmUp;
  if (!warmUp) return '—';
  if (warmUp.windowsUsPerOrder.length === 0) return `${warmUp.seconds} s`;
  const windows = warmUp.windowsUsPerOrder.map((us) => formatNumber(us)).join(', ');
  return `${warmUp.seconds} s, ${warmUp.settled ? 'settled' : 'not settled'}: ${windows} µs/order`;
}

/** A comparison's figures: the headline's of each scenario first, then what an order costs on both sides. */
function figuresOf(c: ComparedScenario): readonly ComparedFigure[] {
  return (
    c.figures ?? [
      {
        kind: c.headline,
        thisFigure: c.thisFigure,
        otherFigure: c.otherFigure,
        ratioOfMedians: c.ratioOfMedians,
        pairRatios: c.pairRatios,
      },
    ]
  );
}

function comparisonSummary(comparison: Comparison): string {
  const rows = comparison.scenarios.flatMap((c, i) => {
    const gates = (results: readonly ScenarioResult[]): string =>
      verdictCell(results.flatMap((r, round) => r.problems.map((p) => `round ${round + 1}: ${p}`)));
    const figures = figuresOf(c);
    return figures.map((f, k) => {
      const label = escapeHtml(HEADLINES[f.kind].label);
      const note =
        f.kind === 'peakRss'
          ? ` <small>(${c.rssMethod}; this service had at most ${inFlight(c.this)} orders in flight)</small>`
          : '';
      const ratio = formatRatio(f.pairRatios, f.ratioOfMedians);
      const toLean = f.pairRatiosToLean ? formatRatio(f.pairRatiosToLean, f.ratioToLean) : '—';
      const first =
        k === 0 ? `<td rowspan="${figures.length}"><a href="#comparison-${i}">${escapeHtml(c.name)}</a></td>` : '';
      const verdicts =
        k === 0
          ? [c.this, c.other, c.lean ?? []]
              .map((rounds) => gates(rounds).replace('<td', `<td rowspan="${figures.length}"`))
              .join('')
          : '';
      return (
        `<tr>${first}<td>${k === 0 ? `<strong>${label}</strong>` : label}${note}</td>` +
        `<td class="num">${formatSpread(f.thisFigure)}</td><td class="num">${formatSpread(f.otherFigure)}</td>` +
        `<td class="num">${f.leanFigure ? formatSpread(f.leanFigure) : '—'}</td>` +
        `<td class="num">${k === 0 ? `<strong>${ratio}</strong>` : ratio}</td><td class="num">${k === 0 ? `<strong>${toLean}</strong>` : toLean}</td>${verdicts}</tr>`
      );
    });
  });
  return `<div class="table-wrap"><table>
<thead><tr><th>Scenario</th><th>Figure</th><th class="num">this service</th><th class="num">other server</th><th class="num">lean build</th><th class="num">this ÷ other</th><th class="num">this ÷ lean</th><th>Gates, this service</th><th>Gates, other</th><th>Gates, lean</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table></div>
<p class="note">Each scenario's headline first (bold), then what an order costs on both sides: orders/s, p50 and p99 latency, the server process's CPU time per order answered (every thread, from /proc, over the measured load) and its peak resident memory. Each side: the median of its rounds (min–max); the lean build is this service's stack doing the seed contract and nothing else (load/lean/), the floor the stack allows. This ÷ other, this ÷ lean: the ratio of the medians (in brackets, the min–max of the ratios round by round: rounds ran this, other, lean, this, other, lean…, and each round of this service is set against the other sides' rounds right after it). Each round warmed up until its CPU per order settled. Higher is better for orders/s, lower for the rest.</p>`;
}

function comparisonSection(c: ComparedScenario, index: number, comparison: Comparison, charts: Charts): string {
  const headline = HEADLINES[c.headline];
  const read = (r: ScenarioResult): number => headline.read(r, c.rssMethod) ?? NaN;
  const roundRows = c.this.flatMap((mine, i) => {
    const theirs = c.other[i];
    const lean = c.lean?.[i];
    const row = (r: ScenarioResult, side: string, cls: string): string =>
      `<tr class="${cls}"><td>${i + 1}</td><td>${side}</td>${figureCells(r)}<td class="num">${formatNumber(r.peakOrdersInFlight)}</td><td>${warmUpText(r)}</td>${verdictCell(r.problems)}</tr>`;
    return [
      row(mine, 'this service', ''),
      ...(theirs ? [row(theirs, 'other server', 'other')] : []),
      ...(lean ? [row(lean, 'lean build', 'other')] : []),
    ];
  });
  const rounds: LineChart = {
    kind: 'lines',
    x: c.this.map((_, i) => i + 1),
    xLabel: 'round',
    left: headline.label,
    series: [
      { label: 'this service', values: c.this.map(read), side: 'left', color: COLORS.this },
      { label: 'other server', values: c.other.map(read), side: 'left', color: COLORS.other },
      ...(c.lean ? [{ label: 'lean build', values: c.lean.map(read), side: 'left' as const, color: COLORS.lean }] : []),
    ],
    pointsOnly: true,
  };
  const mine = medianRound(c.this, c.thisFigure.values);
  const theirs = medianRound(c.other, c.otherFigure.values);
  const lean = c.lean && c.leanFigure ? medianRound(c.lean, c.leanFigure.values) : undefined;
  return `
<section id="comparison-${index}">
  <h2>${escapeHtml(c.name)}: ${formatRatio(c.pairRatios, c.ratioOfMedians)} <small>(${escapeHtml(headline.label)}, this ÷ other)</small>${c.pairRatiosToLean ? `, ${formatRatio(c.pairRatiosToLean, c.ratioToLean)} <small>(this ÷ lean)</small>` : ''}</h2>
  <p class="description">${escapeHtml(c.description)}</p>
  <dl>
    <dt>Connections</dt><dd>${c.this[0]?.connections ?? '—'}</dd>
    <dt>Duration</dt><dd>${formatNumber(c.this[0]?.durationSec ?? null)} s per round, ${c.this.length} rounds each</dd>
    <dt>This service</dt><dd>${environment(c.this[0]?.serverEnv ?? null)}</dd>
    <dt>Other server</dt><dd><code>${escapeHtml(comparison.against)}</code>${comparison.againstCommand ? `, started for each round with <code>${escapeHtml(comparison.againstCommand)}</code>` : ', running already'}</dd>
    ${c.lean ? "<dt>Lean build</dt><dd><code>load/lean/server.ts</code>, started for each round with the service's V8 flags</dd>" : ''}
    <dt>Load generator</dt><dd>${generatorText(c.this[0]?.generator ?? 'autocannon')}</dd>
    <dt>Peak RSS</dt><dd>${c.rssMethod === 'high-water mark' ? 'VmHWM of a process started for the round, both sides' : 'the most VmRSS sampled every 250 ms, both sides'}</dd>
  </dl>
  <div class="table-wrap"><table>
  <thead><tr><th>Round</th><th>Server</th>${FIGURE_HEADINGS}<th class="num" title="the most orders in flight at once, as /healthz reported them (this service only)">most in flight</th><th title="seconds of load before the measured one; when warmed until settled, the CPU µs per order of each 5 s window">warm-up</th><th>Gates</th></tr></thead>
  <tbody>${roundRows.join('\n')}</tbody></table></div>
  <div class="charts">
    ${charts.figure(`${headline.label}, round by round`, rounds)}
    ${charts.figure('Latency distribution, every round', {
      kind: 'histogram',
      upperMs: c.histogram.upperMs,
      series: [
        { label: 'this service', counts: c.histogram.thisCounts, color: COLORS.this },
        { label: 'other server', counts: c.histogram.otherCounts, color: COLORS.other },
        ...(c.histogram.leanCounts
          ? [{ label: 'lean build', counts: c.histogram.leanCounts, color: COLORS.lean }]
          : []),
      ],
      share: true,
    })}
  </div>
  <h3>The median round of each, side by side</h3>
  <div class="charts">
    ${mine ? charts.figure('This service: latency over time', latencyOverTime(mine), untimed(mine)) : ''}
    ${theirs ? charts.figure('Other server: latency over time', latencyOverTime(theirs), untimed(theirs)) : ''}
    ${mine ? charts.figure('This service: CPU and memory', cpuAndMemory(mine.series)) : ''}
    ${theirs ? charts.figure('Other server: CPU and memory', cpuAndMemory(theirs.series)) : ''}
    ${lean ? charts.figure('Lean build: latency over time', latencyOverTime(lean), untimed(lean)) : ''}
    ${lean ? charts.figure('Lean build: CPU and memory', cpuAndMemory(lean.series)) : ''}
    ${mine ? charts.figure('This service: orders and steps', serverState(mine.series)) : ''}
    ${mine ? charts.figure('This service: main-thread event-loop delay', eventLoopDelay(mine.series)) : ''}
  </div>
</section>`;
}

export function renderReportHtml(report: LoadReport): string {
  const charts = new Charts();
  const body = report.comparison
    ? [
        header(report, `Comparison: this service, ${report.comparison.against} and the lean build`),
        comparisonSummary(report.comparison),
        baselineSection(report),
        ...report.comparison.scenarios.map((c, i) => comparisonSection(c, i, report.comparison!, charts)),
      ]
    : [
        header(report, 'Load report'),
        summaryTable(report),
        baselineSection(report),
        ...report.scenarios.map((s, i) => scenarioSection(s, i, charts)),
      ];
  return renderPage({ title: `Load report — ${report.startedAt}`, body: body.join('\n'), charts: charts.specs });
}
