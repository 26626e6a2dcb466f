/**
 * The order files start in: the longest first, whatever their project, so the run is not bounded by a long file
 * started last while the other workers stand idle. Durations come from test/timings.json (written by
 * `npm run test:timings`, committed, so a fresh clone has them), else from Vitest's own cache of the last run; a file
 * neither knows (a new one) starts first, as Vitest starts files it has not timed.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { TIMINGS_FILE, type Timings } from '../../scripts/test-runs/timings-file.js';

function committedTimings(root: string): Timings {
  try {
    return JSON.parse(readFileSync(`${root}/${TIMINGS_FILE}`, 'utf8')) as Timings;
  } catch {
    return {};
  }
}

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const timings = committedTimings(root);
    const seconds = (spec: TestSpecification): number => {
      const known = timings[relative(root, spec.moduleId)];
      if (known !== undefined) return known;
      const cached = this.ctx.cache.getTestSpecificationResult(spec)?.duration;
      return cached === undefined ? Number.MAX_VALUE : cached / 1000;
    };
    return [...files].sort(
      (a, b) => a.project.config.sequence.groupOrder - b.project.config.sequence.groupOrder || seconds(b) - seconds(a),
    );
  }
}
