/**
 * A scenario run against this service, another server (the Go service) and the lean build of this service's stack
 * alternately — this, other, lean, this, other, lean… — so that every side sees the machine in the same state, round
 * after round; then, for each figure (orders/s, p50, p99, CPU per order, peak RSS; the headline first), this service's
 * ratio to the other server and to the lean build: the ratio of the medians, with the spread of each side's rounds and
 * of the ratio pair by pair.
 */
import { pairRatios, spreadOf } from '../lib/rounds.js';
import { histogram, histogramBounds } from '../lib/stats.js';
import { COMPARED_FIGURES, HEADLINES } from '../report/headline.js';
import type { ComparedFigure, ComparedScenario, ComparedSide, HeadlineKind, ScenarioResult } from '../report/types.js';
import { driveScenario, type DriveSettings, type LoadTarget } from './drive.js';
import type { LogFileFor } from './other-server.js';
import type { Scenario } from './scenarios.js';

/** A server started for one round (its output to `logFile`), or one already running, and what ends its round. */
export type StartServer = (
  serverEnv: Readonly<Record<string, string>>,
  logFile: string,
) => Promise<{ target: LoadTarget; stop: () => Promise<void> }>;

/** The sides in the order each round runs them. */
export const SIDES: readonly ComparedSide[] = ['this', 'other', 'lean'];

export const SIDE_LABELS: Readonly<Record<ComparedSide, string>> = {
  this: 'this service',
  other: 'other server',
  lean: 'lean build',
};

export async function compareScenario(
  scenario: Scenario,
  rounds: number,
  servers: { readonly start: Readonly<Record<ComparedSide, StartServer>>; readonly logFile: LogFileFor },
  settings: Omit<DriveSettings, 'label' | 'target'>,
): Promise<ComparedScenario> {
  const results: Record<ComparedSide, ScenarioResult[]> = { this: [], other: [], lean: [] };
  const latencies: Record<ComparedSide, number[]> = { this: [], other: [], lean: [] };
  for (let round = 1; round <= rounds; round++) {
    for (const side of SIDES) {
      const server = await servers.start[side](
        scenario.serverEnv,
        servers.logFile(`${scenario.name}.${side}.round-${round}`),
      );
      try {
        const driven = await driveScenario(scenario, server.target, {
          ...settings,
          target: 'none',
          label: `${scenario.name}, ${SIDE_LABELS[side]}, round ${round}/${rounds}`,
        });
        results[side].push(driven.result);
        latencies[side].push(...driven.latencies);
      } finally {
        await server.stop();
      }
    }
  }

  // The same reading of memory on every side: the high-water mark of a process started for the round if all were, else
  // the samples.
  const rssMethod = SIDES.every((side) => results[side].every((result) => result.peakRssMb !== null))
    ? 'high-water mark'
    : 'sampled';
  const compare = (kind: HeadlineKind): ComparedFigure => {
    const read = (result: ScenarioResult): number => HEADLINES[kind].read(result, rssMethod) ?? NaN;
    const [thisFigure, otherFigure, leanFigure] = SIDES.map((side) => spreadOf(results[side].map(read))) as [
      ReturnType<typeof spreadOf>,
      ReturnType<typeof spreadOf>,
      ReturnType<typeof spreadOf>,
    ];
    return {
      kind,
      thisFigure,
      otherFigure,
      leanFigure,
      ratioOfMedians: thisFigure.median / otherFigure.median,
      pairRatios: spreadOf(pairRatios(thisFigure.values, otherFigure.values)),
      ratioToLean: thisFigure.median / leanFigure.median,
      pairRatiosToLean: spreadOf(pairRatios(thisFigure.values, leanFigure.values)),
    };
  };
  const figures = [scenario.headline, ...COMPARED_FIGURES.filter((kind) => kind !== scenario.headline)].map(compare);
  const headline = figures[0]!;
  const upperMs = histogramBounds(SIDES.flatMap((side) => latencies[side]));
  return {
    name: scenario.name,
    description: scenario.description,
    headline: scenario.headline,
    this: results.this,
    other: results.other,
    lean: results.lean,
    thisFigure: headline.thisFigure,
    otherFigure: headline.otherFigure,
    leanFigure: headline.leanFigure!,
    ratioOfMedians: headline.ratioOfMedians,
    pairRatios: headline.pairRatios,
    ratioToLean: headline.ratioToLean!,
    pairRatiosToLean: headline.pairRatiosToLean!,
    rssMethod,
    figures,
    histogram: {
      upperMs,
      thisCounts: histogram(latencies.this, upperMs).counts,
      otherCounts: histogram(latencies.other, upperMs).counts,
      leanCounts: histogram(latencies.lean, upperMs).counts,
    },
  };
}
