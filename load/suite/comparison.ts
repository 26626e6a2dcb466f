/**
 * A scenario run against this service and another server alternately —
 * this, other, this, other… — so that both sides see the machine in the same
 * state, round after round; then, for each figure (orders/s, p50, p99, CPU
 * per order, peak RSS; the headline first), the ratio of the medians, with
 * the spread of each side's rounds and of the ratio pair by pair.
 */
import { pairRatios, spreadOf } from '../lib/rounds.js';
import { histogram, histogramBounds } from '../lib/stats.js';
import { COMPARED_FIGURES, HEADLINES } from '../report/headline.js';
import type { ComparedFigure, ComparedScenario, HeadlineKind, ScenarioResult } from '../report/types.js';
import { driveScenario, type DriveSettings, type LoadTarget } from './drive.js';
import type { LogFileFor, OtherServer } from './other-server.js';
import type { Scenario } from './scenarios.js';

/** This service for one round: started for it (its output to `logFile`) or already running, and what stops it. */
export type StartThisService = (
  serverEnv: Readonly<Record<string, string>>,
  logFile: string,
) => Promise<{ target: LoadTarget; stop: () => Promise<void> }>;

export async function compareScenario(
  scenario: Scenario,
  rounds: number,
  servers: { readonly startThis: StartThisService; readonly other: OtherServer; readonly logFile: LogFileFor },
  settings: Omit<DriveSettings, 'label' | 'target'>,
): Promise<ComparedScenario> {
  const { startThis, other, logFile } = servers;
  const thisRounds: ScenarioResult[] = [];
  const otherRounds: ScenarioResult[] = [];
  const thisLatencies: number[] = [];
  const otherLatencies: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const drive = { ...settings, target: 'none' } as const;
    const mine = await startThis(scenario.serverEnv, logFile(`${scenario.name}.this.round-${round}`));
    try {
      const { result, latencies } = await driveScenario(scenario, mine.target, {
        ...drive,
        label: `${scenario.name}, this service, round ${round}/${rounds}`,
      });
      thisRounds.push(result);
      thisLatencies.push(...latencies);
    } finally {
      await mine.stop();
    }
    const target = await other.startRound(logFile(`${scenario.name}.other.round-${round}`));
    try {
      const { result, latencies } = await driveScenario(scenario, target, {
        ...drive,
        label: `${scenario.name}, other server, round ${round}/${rounds}`,
      });
      otherRounds.push(result);
      otherLatencies.push(...latencies);
    } finally {
      await other.endRound();
    }
  }

  // The same reading of memory on both sides: the high-water mark of a process started for the round if both were, else
  // the samples.
  const rssMethod = [...thisRounds, ...otherRounds].every((result) => result.peakRssMb !== null)
    ? 'high-water mark'
    : 'sampled';
  const compare = (kind: HeadlineKind): ComparedFigure => {
    const read = (result: ScenarioResult): number => HEADLINES[kind].read(result, rssMethod) ?? NaN;
    const thisFigure = spreadOf(thisRounds.map(read));
    const otherFigure = spreadOf(otherRounds.map(read));
    return {
      kind,
      thisFigure,
      otherFigure,
      ratioOfMedians: thisFigure.median / otherFigure.median,
      pairRatios: spreadOf(pairRatios(thisFigure.values, otherFigure.values)),
    };
  };
  const figures = [scenario.headline, ...COMPARED_FIGURES.filter((kind) => kind !== scenario.headline)].map(compare);
  const { thisFigure, otherFigure, ratioOfMedians, pairRatios: ratios } = figures[0]!;
  const upperMs = histogramBounds([...thisLatencies, ...otherLatencies]);
  return {
    name: scenario.name,
    description: scenario.description,
    headline: scenario.headline,
    this: thisRounds,
    other: otherRounds,
    thisFigure,
    otherFigure,
    ratioOfMedians,
    pairRatios: ratios,
    rssMethod,
    figures,
    histogram: {
      upperMs,
      thisCounts: histogram(thisLatencies, upperMs).counts,
      otherCounts: histogram(otherLatencies, upperMs).counts,
    },
  };
}
