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

/** The seconds of a file neither test/timings.json nor Vitest's cache has timed: it counts as the longest. */
const UNTIMED = Number.MAX_VALUE;

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

/**
 * `files` longest first, within each project a file that waits and one that computes taking turns: each project has
 * its own workers. Taken over both, a unit file not yet timed (a fresh clone has no cache) took a computing file's
 * turn, and the first five integration files were four that wait: a third of the cores idle for the first 30 s.
 */
export function inTurns<T>(
  files: readonly T[],
  projectOf: (file: T) => string,
  seconds: (file: T) => number,
  waits: (file: T) => boolean,
): T[] {
  const longestFirst = [...files].sort((a, b) => seconds(b) - seconds(a));
  // The project whose timed files take longest first: a project's files not yet timed (a fresh clone's unit files)
  // must not hold the workers while the long ones wait to start.
  const known = (inProject: readonly T[]): number =>
    inProject.map(seconds).reduce((sum, timed) => sum + (timed === UNTIMED ? 0 : timed), 0);
  const projects = [...Map.groupBy(longestFirst, projectOf).values()].sort((a, b) => known(b) - known(a));
  return projects.flatMap((inProject) =>
    takingTurns(
      inProject.filter((file) => waits(file)),
      inProject.filter((file) => !waits(file)),
    ),
  );
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
      return cached === undefined ? UNTIMED : cached / 1000;
    };
    const waits = (spec: TestSpecification): boolean => {
      const timing = timingOf(spec);
      return timing?.cpuSeconds !== undefined && timing.cpuSeconds / Math.max(timing.seconds, 1) < WAITS_BELOW;
    };
    return inTurns(files, (spec) => spec.project.name, seconds, waits);
  }
}
