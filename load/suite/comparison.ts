/**
 * A scenario run against this service and another server alternately —
 * this, other, this, other… — so that both sides see the machine in the same
 * state, round after round; then the ratio of the medians of its headline
 * figure, with the spread of each side's rounds and of the ratio pair by pair.
 */
import { driveScenario, type DriveSettings, type LoadTarget } from './drive.js';
import { HEADLINES } from '../report/headline.js';
import type { OtherServer } from './other-server.js';
import type { ComparedScenario, ScenarioResult } from '../report/types.js';
import { pairRatios, spreadOf } from '../lib/rounds.js';
import type { Scenario } from './scenarios.js';
import { histogram, histogramBounds } from '../lib/stats.js';

/** This service for one round: started for it (or already running), and what stops it. */
export type StartThisService = (serverEnv: Readonly<Record<string, string>>) => Promise<{ target: LoadTarget; stop: () => Promise<void> }>;

export async function compareScenario(
  scenario: Scenario,
  rounds: number,
  startThis: StartThisService,
  other: OtherServer,
  settings: Omit<DriveSettings, 'label' | 'judgeTargets'>,
): Promise<ComparedScenario> {
  const thisRounds: ScenarioResult[] = [];
  const otherRounds: ScenarioResult[] = [];
  const thisLatencies: number[] = [];
  const otherLatencies: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const drive = { ...settings, judgeTargets: false };
    const mine = await startThis(scenario.serverEnv);
    try {
      const { result, latencies } = await driveScenario(scenario, mine.target, { ...drive, label: `${scenario.name}, this service, round ${round}/${rounds}` });
      thisRounds.push(result);
      thisLatencies.push(...latencies);
    } finally {
      await mine.stop();
    }
    const target = await other.startRound();
    try {
      const { result, latencies } = await driveScenario(scenario, target, { ...drive, label: `${scenario.name}, other server, round ${round}/${rounds}` });
      otherRounds.push(result);
      otherLatencies.push(...latencies);
    } finally {
      await other.endRound();
    }
  }

  // The same reading of memory on both sides: the high-water mark of a process started for the round if both were, else the samples.
  const rssMethod = [...thisRounds, ...otherRounds].every((result) => result.peakRssMb !== null) ? 'high-water mark' : 'sampled';
  const figure = (result: ScenarioResult): number => HEADLINES[scenario.headline].read(result, rssMethod) ?? NaN;
  const thisFigure = spreadOf(thisRounds.map(figure));
  const otherFigure = spreadOf(otherRounds.map(figure));
  const upperMs = histogramBounds([...thisLatencies, ...otherLatencies]);
  return {
    name: scenario.name,
    description: scenario.description,
    headline: scenario.headline,
    this: thisRounds,
    other: otherRounds,
    thisFigure,
    otherFigure,
    ratioOfMedians: thisFigure.median / otherFigure.median,
    pairRatios: spreadOf(pairRatios(thisFigure.values, otherFigure.values)),
    rssMethod,
    histogram: { upperMs, thisCounts: histogram(thisLatencies, upperMs).counts, otherCounts: histogram(otherLatencies, upperMs).counts },
  };
}
