import { describe, expect, it } from 'vitest';
import { failuresIn } from '../../scripts/test-runs/run-failures.js';
import type { FileResult, RunReport } from '../../scripts/test-runs/vitest-json.js';

const ROOT = '/repo';

function file(name: string, status: string, tests: Array<[string, string, string[]?]>, message?: string): FileResult {
  return {
    name: `${ROOT}/${name}`,
    startTime: 0,
    endTime: 1,
    status,
    ...(message === undefined ? {} : { message }),
    assertionResults: tests.map(([fullName, testStatus, failureMessages = []]) => ({
      fullName,
      status: testStatus,
      failureMessages,
    })),
  };
}

describe("the flake hunt's tally of one run", () => {
  it('names each failed test by its file and full name, with its messages', () => {
    const report: RunReport = {
      success: false,
      exitCode: 1,
      testResults: [
        file('test/a.test.ts', 'failed', [
          ['a works', 'passed'],
          ['a fails', 'failed', ['chaos seed 42: 1 violation']],
        ]),
        file('test/b.test.ts', 'passed', [['b works', 'passed']]),
      ],
    };
    expect(failuresIn(report, ROOT)).toEqual([
      { key: 'test/a.test.ts > a fails', text: ['a fails', 'chaos seed 42: 1 violation'] },
    ]);
  });

  it('names a file that failed outside its tests by its message', () => {
    const report: RunReport = {
      success: false,
      exitCode: 1,
      testResults: [file('test/c.test.ts', 'failed', [['c works', 'passed']], 'OS threads 12, expected 11\nat …')],
    };
    expect(failuresIn(report, ROOT)).toEqual([
      { key: 'test/c.test.ts (the file: OS threads 12, expected 11)', text: ['OS threads 12, expected 11\nat …'] },
    ]);
  });

  // Before, a run that failed only by an unhandled rejection was tallied as passed, though CI would fail it.
  it('counts a run whose every test passed as failed when Vitest failed it: an error outside any test', () => {
    const report: RunReport = {
      success: true,
      exitCode: 1,
      testResults: [file('test/d.test.ts', 'passed', [['d works', 'passed']])],
    };
    expect(failuresIn(report, ROOT)).toEqual([
      { key: 'the run (Vitest exited 1, every test passed: an error outside any test)', text: [] },
    ]);
  });

  it('finds nothing in a run Vitest passed, or in a report without its exit code', () => {
    const passed = [file('test/e.test.ts', 'passed', [['e works', 'passed']])];
    expect(failuresIn({ success: true, exitCode: 0, testResults: passed }, ROOT)).toEqual([]);
    expect(failuresIn({ success: true, testResults: passed }, ROOT)).toEqual([]);
  });
});
