import { describe, expect, it } from 'vitest';
import { flakyArgs } from '../../scripts/test-runs/flaky-args.js';

describe("the flake hunt's command line", () => {
  it("passes Vitest's options on with their values, in order, and keeps its own", () => {
    expect(
      flakyArgs(['--runs', '5', '--project', 'integration', '--busy=2', 'test/integration/faults', '-t', 'a name']),
    ).toEqual({ runs: 5, busy: 2, vitest: ['--project', 'integration', 'test/integration/faults', '-t', 'a name'] });
    expect(flakyArgs(['--project=unit', '--', 'test/unit/x'])).toEqual({
      runs: 3,
      busy: 0,
      vitest: ['--project=unit', '--', 'test/unit/x'],
    });
  });

  it('refuses a count that is not a whole number', () => {
    expect(() => flakyArgs(['--runs', 'many'])).toThrow('--runs must be a whole number, got many');
    expect(() => flakyArgs(['--busy', '-1'])).toThrow('--busy must be a whole number, got -1');
  });
});
