/**
 * What failed in one run of the suite, one entry per failing test, keyed so that the same test failing in several
 * runs is counted as one: the flake hunt's tally (flaky.ts).
 */
import { relative } from 'node:path';
import type { RunReport } from './vitest-json.js';

export interface RunFailure {
  /** The file and the test's full name, or what failed instead of a test. */
  readonly key: string;
  /** The name and the failure's messages, where a seed is looked for. */
  readonly text: readonly string[];
}

export function failuresIn(report: RunReport, root: string): RunFailure[] {
  const failures = report.testResults.flatMap((file): RunFailure[] => {
    const name = relative(root, file.name);
    const failed = file.assertionResults.filter((test) => test.status === 'failed');
    if (failed.length > 0)
      return failed.map((test) => ({
        key: `${name} > ${test.fullName}`,
        text: [test.fullName, ...test.failureMessages],
      }));
    // A file can fail with no test failed: an error outside a test, a leak found after them.
    if (file.status === 'failed')
      return [{ key: `${name} (the file: ${(file.message ?? '').split('\n')[0]})`, text: [file.message ?? ''] }];
    return [];
  });
  // Every test passed and Vitest still failed the run: an unhandled error, which its output above names.
  if (failures.length === 0 && report.exitCode !== undefined && report.exitCode !== 0)
    return [
      {
        key: `the run (Vitest exited ${String(report.exitCode)}, every test passed: an error outside any test)`,
        text: [],
      },
    ];
  return failures;
}
