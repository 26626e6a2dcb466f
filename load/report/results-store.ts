/**
 * Load runs kept on disk (git-ignored): load/results/<time>/ holds a run's
 * report.json, its self-contained report.html and, in logs/, what each
 * server it started wrote; load/results/index.html lists every run kept. A
 * run is compared with an earlier one — by default the latest of the same
 * kind (scenarios or a comparison with another server, smoke or not, the
 * same load generator) that shares a scenario with it.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathOf, projectFile } from '../../src/paths.js';
import type { Baseline, GeneratorName, LoadReport } from './types.js';

/** load/results/ (not under dist/, whichever runs). */
export const RESULTS_DIR = pathOf(projectFile('load/results/'));

export interface StoredRun {
  /** Its directory's name under load/results/. */
  readonly dir: string;
  readonly report: LoadReport;
}

/** "2026-11-22T02-19-00-123Z": the start time, sortable and safe in a path. */
export const runDirName = (startedAt: string): string => startedAt.replace(/[:.]/g, '-');

/**
 * Every run kept, oldest first; folders without a readable report.json (older formats, a run cut short) are passed
 * over.
 */
export function storedRuns(): StoredRun[] {
  let dirs: string[];
  try {
    dirs = readdirSync(RESULTS_DIR, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
  } catch {
    return [];
  }
  return dirs.flatMap((dir) => {
    try {
      const report = JSON.parse(readFileSync(join(RESULTS_DIR, dir, 'report.json'), 'utf8')) as LoadReport;
      return Array.isArray(report.scenarios) && typeof report.startedAt === 'string' ? [{ dir, report }] : [];
    } catch {
      return [];
    }
  });
}

export interface RunFolder {
  /** Relative to the project: load/results/<dir>. */
  readonly dir: string;
  /** A server's log file in the run's logs/, by name (e.g. `overhead.this.round-1`). */
  readonly logFile: (name: string) => string;
}

/**
 * The run's folder: its servers write their logs there while it runs (made with the first, so a run that stops before
 * leaves nothing).
 */
export function startRunFolder(startedAt: string): RunFolder {
  const dir = runDirName(startedAt);
  const logs = join(RESULTS_DIR, dir, 'logs');
  return {
    dir: `load/results/${dir}`,
    logFile: (name) => {
      mkdirSync(logs, { recursive: true });
      return join(logs, `${name.replace(/[^\w.-]+/g, '-')}.log`);
    },
  };
}

const scenarioNames = (report: LoadReport): string[] =>
  report.comparison ? report.comparison.scenarios.map((s) => s.name) : report.scenarios.map((s) => s.name);

/**
 * The run to compare with: `requested` by its directory name, or else the
 * latest run before `startedAt` of the same kind with a scenario in common.
 * Null when there is none, or when `requested` is "none".
 */
export function pickBaseline(
  runs: readonly StoredRun[],
  startedAt: string,
  kind: { comparison: boolean; smoke: boolean; generator: GeneratorName; scenarios: readonly string[] },
  requested?: string,
): StoredRun | null {
  if (requested === 'none') return null;
  if (requested !== undefined) {
    const named = runs.find((run) => run.dir === requested.replace(/\/+$/, '').split('/').pop());
    if (!named) throw new Error(`--compare ${requested}: no such run in load/results/ (see load/results/index.html)`);
    return named;
  }
  const earlier = runs.filter(
    (run) =>
      run.report.startedAt < startedAt &&
      (run.report.comparison !== null) === kind.comparison &&
      run.report.smoke === kind.smoke &&
      (run.report.generator ?? 'autocannon') === kind.generator &&
      scenarioNames(run.report).some((name) => kind.scenarios.includes(name)),
  );
  return earlier.at(-1) ?? null;
}

/** The figures of a run to set beside another's, without its charts' data. */
export function baselineOf(run: StoredRun): Baseline {
  const { report } = run;
  return {
    run: run.dir,
    startedAt: report.startedAt,
    commit: report.commit ? `${report.commit.sha.slice(0, 10)}${report.commit.dirty ? ' (dirty)' : ''}` : null,
    smoke: report.smoke,
    scenarios: report.scenarios.map(
      ({ timeline: _t, histogram: _h, series: _s, description: _d, serverEnv: _e, ...figures }) => figures,
    ),
    comparison: report.comparison
      ? report.comparison.scenarios.map(
          ({
            name,
            headline,
            thisFigure,
            otherFigure,
            leanFigure,
            ratioOfMedians,
            pairRatios,
            ratioToLean,
            pairRatiosToLean,
          }) => ({
            name,
            headline,
            thisFigure,
            otherFigure,
            ...(leanFigure ? { leanFigure } : {}),
            ratioOfMedians,
            pairRatios,
            ...(ratioToLean !== undefined && pairRatiosToLean ? { ratioToLean, pairRatiosToLean } : {}),
          }),
        )
      : null,
  };
}

/** Writes load/results/<dir>/report.json and report.html; returns the directory, relative to the project. */
export function saveRun(report: LoadReport, html: string): string {
  const dir = runDirName(report.startedAt);
  mkdirSync(join(RESULTS_DIR, dir), { recursive: true });
  writeFileSync(join(RESULTS_DIR, dir, 'report.json'), JSON.stringify(report, null, 2));
  writeFileSync(join(RESULTS_DIR, dir, 'report.html'), html);
  return `load/results/${dir}`;
}

export function saveIndex(html: string): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'index.html'), html);
  return 'load/results/index.html';
}
