/**
 * `npm run test:flaky -- --runs N --busy K [vitest args]`: a flake hunt
 * anyone can run. The suite (or the files named) runs N times, one after the
 * other, with K busy loops — processes that only spin — beside it, as a
 * contributor's laptop or a shared CI runner is busy; then each test that
 * failed is printed with how many runs it failed in and its seed (from its
 * name or failure, where the test draws from one).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { flakyArgs } from './flaky-args.js';
import { failuresIn } from './run-failures.js';
import { vitestJson } from './vitest-json.js';

const { runs, busy, vitest } = flakyArgs(process.argv.slice(2));

const spinners: ChildProcess[] = Array.from({ length: busy }, () =>
  spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
);
const stop = (): void => {
  for (const spinner of spinners) spinner.kill('SIGKILL');
};
process.on('exit', stop);
process.on('SIGINT', () => process.exit(130));

const SEED = /seed[\s:=]*(-?\d+)/i;
const failures = new Map<string, { count: number; seeds: Set<string> }>();
try {
  for (let run = 1; run <= runs; run++) {
    console.log(`\n=== test:flaky run ${run} of ${runs}, ${busy} busy loop(s) beside it ===\n`);
    const report = await vitestJson(vitest);
    for (const { key, text } of failuresIn(report, process.cwd())) {
      const seen = failures.get(key) ?? { count: 0, seeds: new Set<string>() };
      seen.count++;
      const seed = text.map((line) => SEED.exec(line)?.[1]).find((found) => found !== undefined);
      if (seed !== undefined) seen.seeds.add(seed);
      failures.set(key, seen);
    }
  }
} finally {
  stop();
}

console.log(`\n=== test:flaky: ${runs} run(s), ${busy} busy loop(s) ===`);
if (failures.size === 0) console.log('no test failed');
for (const [key, { count: failedRuns, seeds }] of [...failures].sort((a, b) => b[1].count - a[1].count))
  console.log(`${failedRuns}/${runs}  ${key}${seeds.size ? `  seed ${[...seeds].join(', ')}` : ''}`);
if (failures.size > 0) process.exitCode = 1;
