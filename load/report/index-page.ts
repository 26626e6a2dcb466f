/**
 * load/results/index.html: every run kept, newest first — when, which
 * commit, what ran, its headline figures, whether its gates held — each
 * linking to its report.
 */
import { formatHeadline, HEADLINES } from './headline.js';
import { escapeHtml, renderPage } from './page.js';
import type { LoadReport } from './types.js';
import type { StoredRun } from './results-store.js';
import { formatRatio } from '../lib/rounds.js';

function kind(report: LoadReport): string {
  const generator = report.generator ?? 'autocannon';
  if (report.comparison)
    return `against <code>${escapeHtml(report.comparison.against)}</code>, ${report.comparison.rounds} rounds, ${generator}`;
  return `${report.smoke ? 'smoke' : 'scenarios'}, ${generator}`;
}

function figures(report: LoadReport): string {
  if (report.comparison) {
    return report.comparison.scenarios
      .map(
        (c) =>
          `${escapeHtml(c.name)} <strong>${formatRatio(c.pairRatios, c.ratioOfMedians)}</strong>${c.pairRatiosToLean ? ` · ÷ lean <strong>${formatRatio(c.pairRatiosToLean, c.ratioToLean)}</strong>` : ''} <small>(${escapeHtml(formatHeadline(c.headline, c.thisFigure.median))} vs ${escapeHtml(formatHeadline(c.headline, c.otherFigure.median))}${c.leanFigure ? ` and ${escapeHtml(formatHeadline(c.headline, c.leanFigure.median))}` : ''})</small>`,
      )
      .join('<br>');
  }
  return report.scenarios
    .map((s) => `${escapeHtml(s.name)} ${escapeHtml(formatHeadline(s.headline, HEADLINES[s.headline].read(s)))}`)
    .join('<br>');
}

function gates(report: LoadReport): string {
  const results = report.comparison
    ? report.comparison.scenarios.flatMap((c) => [...c.this, ...c.other, ...(c.lean ?? [])])
    : report.scenarios;
  const failed = [...new Set(results.filter((r) => r.problems.length > 0).map((r) => r.name))];
  return failed.length === 0
    ? '<td class="ok">ok</td>'
    : `<td class="bad">failed: ${escapeHtml(failed.join(', '))}</td>`;
}

export function renderIndexHtml(runs: readonly StoredRun[]): string {
  const rows = [...runs].reverse().map(({ dir, report }) => {
    const commit = report.commit
      ? `<code>${escapeHtml(report.commit.sha.slice(0, 10))}</code>${report.commit.dirty ? ' dirty' : ''}`
      : '—';
    const when = report.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
    return `<tr><td class="nowrap"><a href="${encodeURIComponent(dir)}/report.html">${escapeHtml(when)}</a></td><td>${commit}</td><td>${kind(report)}</td><td>${figures(report)}</td><td class="num">${report.loadAverage.start[0]?.toFixed(2) ?? '—'} → ${report.loadAverage.end[0]?.toFixed(2) ?? '—'}</td>${gates(report)}</tr>`;
  });
  const body = `<h1>Load runs</h1>
<p class="meta">${runs.length} run${runs.length === 1 ? '' : 's'} kept in load/results/ (git-ignored; delete a folder to forget a run). <code>npm run load -- --compare &lt;folder&gt;</code> sets a new run beside one of these.</p>
<div class="table-wrap"><table>
<thead><tr><th>Started</th><th>Commit</th><th>Run</th><th>Headline figures</th><th class="num">load avg start → end</th><th>Gates</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table></div>`;
  return renderPage({ title: 'Load runs', body });
}
