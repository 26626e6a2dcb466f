/**
 * The load suite's command line, as a newcomer meets it: a comparison whose
 * other server cannot start, or a generator that cannot drive a scenario,
 * says so at once — before any load runs and before a run's folder is made —
 * with where the Go service comes from and how to point elsewhere.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compiledModule, pathOf, PROJECT_ROOT, projectFile } from '../../src/paths.js';

interface Ended {
  readonly code: number | null;
  readonly stderr: string;
  readonly ms: number;
}

/** The suite as `npm run load --` runs it, with `env` on top of this process's. */
function runSuite(args: readonly string[], env: Record<string, string> = {}): Promise<Ended> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [pathOf(compiledModule('load/suite/run')), ...args],
      { cwd: pathOf(PROJECT_ROOT), env: { ...process.env, ...env }, timeout: 60_000 },
      (error, _stdout, stderr) =>
        resolve({
          code: error ? ((error as { code?: number }).code ?? null) : 0,
          stderr,
          ms: performance.now() - started,
        }),
    );
  });
}

const runsKept = (): string[] => {
  try {
    return readdirSync(projectFile('load/results/')).sort();
  } catch {
    return [];
  }
};

describe('the load suite refuses at once', () => {
  it('a comparison whose --against-cmd is not there, naming it, before this service runs a round', async () => {
    const before = runsKept();
    const ended = await runSuite([
      '--against',
      'http://127.0.0.1:8080',
      '--against-cmd',
      './no-such-folder/run.sh',
      'overhead',
    ]);
    expect(ended.code).toBe(2);
    expect(ended.stderr).toContain('./no-such-folder/run.sh is not there');
    expect(ended.stderr).not.toMatch(/round 1/);
    expect(ended.ms).toBeLessThan(10_000); // it took 18 s, the first round of this service, before it said anything
    expect(runsKept()).toEqual(before);
  });

  it('npm run load:go without the Go service: where it comes from, and GO_SERVICE_CMD to point elsewhere', async () => {
    const ended = await runSuite(['--go', 'overhead'], { GO_SERVICE_CMD: './no-such-folder/go-order-pipeline/run.sh' });
    expect(ended.code).toBe(2);
    expect(ended.stderr).toContain('../shared/peers/go-order-pipeline/run.sh');
    expect(ended.stderr).toContain('GO_SERVICE_CMD=path/to/go-order-pipeline/run.sh npm run load:go');
    expect(ended.stderr).not.toMatch(/round 1/);
  });

  it('wrk for a scenario whose orders differ by more than their id', async () => {
    const ended = await runSuite(['--generator', 'wrk', '--smoke', 'mixed']);
    expect(ended.code).toBe(2);
    expect(ended.stderr).toMatch(/mixed's orders differ otherwise .*drive it with autocannon|wrk is not installed/);
  });
});
