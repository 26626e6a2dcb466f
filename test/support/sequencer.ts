/**
 * The order files start in: the longest first, so the run is not bounded by a long file started last while the other
 * workers stand idle. Durations come from test/timings.json (written by `npm run test:timings`, committed, so a fresh
 * clone has them), else from Vitest's own cache of the last run; a file neither knows (a new one) starts first, as
 * Vitest starts files it has not timed.
 *
 * Longest first is not enough: the four longest files mostly wait, and run together they left a third of the cores
 * idle while later the CPU-heavy files had the cores to themselves. So a file that waits and one that computes take
 * turns (each kind still longest first), by their share of a core in test/timings.json (a file without one counts as
 * computing).
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { TIMINGS_FILE, type Timings } from '../../scripts/test-runs/timings-file.js';

/** Below this share of a core while it runs, a file mostly waits. */
const WAITS_BELOW = 0.45;

function committedTimings(root: string): Timings {
  try {
    return JSON.parse(readFileSync(`${root}/${TIMINGS_FILE}`, 'utf8')) as Timings;
  } catch {
    return {};
  }
}

/** `waiting` and `computing` taking turns, a waiting one first, until both are out. */
function takingTurns<T>(waiting: readonly T[], computing: readonly T[]): T[] {
  const turns: T[] = [];
  for (let i = 0; i < Math.max(waiting.length, computing.length); i++)
    turns.push(...waiting.slice(i, i + 1), ...computing.slice(i, i + 1));
  return turns;
}

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const timings = committedTimings(root);
    const timingOf = (spec: TestSpecification) => timings[relative(root, spec.moduleId)];
    const seconds = (spec: TestSpecification): number => {
      const known = timingOf(spec)?.seconds;
      if (known !== undefined) return known;
      const cached = this.ctx.cache.getTestSpecificationResult(spec)?.duration;
      return cached === undefined ? Number.MAX_VALUE : cached / 1000;
    };
    const waits = (spec: TestSpecification): boolean => {
      const timing = timingOf(spec);
      return timing?.cpuSeconds !== undefined && timing.cpuSeconds / Math.max(timing.seconds, 1) < WAITS_BELOW;
    };
    const longestFirst = [...files].sort((a, b) => seconds(b) - seconds(a));
    return takingTurns(
      longestFirst.filter((spec) => waits(spec)),
      longestFirst.filter((spec) => !waits(spec)),
    );
  }
}
