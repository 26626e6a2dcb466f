/**
 * The order files start in: longest first, a file that waits and one that computes taking turns within each
 * project, so that a unit file not yet timed never takes an integration file's turn.
 */
import { describe, expect, it } from 'vitest';
import { inTurns } from '../support/sequencer.js';

interface File {
  readonly name: string;
  readonly project: 'unit' | 'integration';
  /** Number.MAX_VALUE: not yet timed (a fresh clone), as the sequencer counts it. */
  readonly seconds: number;
  readonly waits: boolean;
}

const files: File[] = [
  { name: 'wait-40', project: 'integration', seconds: 40, waits: true },
  { name: 'wait-30', project: 'integration', seconds: 30, waits: true },
  { name: 'wait-20', project: 'integration', seconds: 20, waits: true },
  { name: 'compute-28', project: 'integration', seconds: 28, waits: false },
  { name: 'compute-22', project: 'integration', seconds: 22, waits: false },
  { name: 'new-unit', project: 'unit', seconds: Number.MAX_VALUE, waits: false },
  { name: 'newer-unit', project: 'unit', seconds: Number.MAX_VALUE, waits: false },
  { name: 'old-unit', project: 'unit', seconds: 0.1, waits: false },
];

describe('the order files start in', () => {
  it('takes turns within each project, longest first: a unit file not yet timed takes no integration turn', () => {
    const order = inTurns(
      files,
      (file) => file.project,
      (file) => file.seconds,
      (file) => file.waits,
    ).map((file) => file.name);
    // Before: wait-40, new-unit, wait-30, newer-unit, wait-20, compute-28, … — the unit files took the computing
    // files' turns, and the three integration files that wait started first, together.
    expect(order.filter((name) => !name.includes('unit'))).toEqual([
      'wait-40',
      'compute-28',
      'wait-30',
      'compute-22',
      'wait-20',
    ]);
    expect(order.filter((name) => name.includes('unit'))).toEqual(['new-unit', 'newer-unit', 'old-unit']);
    // The integration files first, the longest project by its timed files: before, the untimed unit files first held
    // the workers, and the first integration file started 6 s late.
    expect(order[0]).toBe('wait-40');
  });
});
