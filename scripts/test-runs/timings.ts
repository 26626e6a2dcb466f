/**
 * `npm run test:timings [-- vitest args]`: runs the suite (or the files
 * named) with Vitest's JSON reporter and writes the slowest files, with their
 * durations, into docs/testing.md between its timings markers — so the table
 * says what the suite costs now, not what it cost when someone last looked.
 * Run it on a quiet machine: beside other work every figure is longer. Every
 * file's seconds also go to test/timings.json, which the test sequencer
 * reads to start the longest files first (test/support/sequencer.ts) — on a
 * fresh clone too, where Vitest has no timings of its own. A run of some
 * files only updates theirs. `-- --from report.json` writes them from a JSON
 * report already made (`npm test -- --reporter=json --outputFile.json=…`,
 * as on a fresh clone) instead of running the suite again.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { relative } from 'node:path';
import { vitestJson, type RunReport } from './vitest-json.js';
import { TIMINGS_FILE, type FileTiming, type Timings } from './timings-file.js';

const DOC = 'docs/testing.md';
const START = '<!-- test-timings:start -->';
const END = '<!-- test-timings:end -->';
/** Rows of the table: the files that cost the most. */
const SLOWEST = 15;

const args = process.argv.slice(2);
const fromAt = args.indexOf('--from');
const report =
  fromAt >= 0 ? (JSON.parse(await readFile(args[fromAt + 1] ?? '', 'utf8')) as RunReport) : await vitestJson(args);
/** From the project's root: a report made in another checkout (a fresh clone) names its files under that one's. */
const nameOf = (path: string): string => {
  const here = relative(process.cwd(), path);
  return here.startsWith('..') ? path.slice(path.lastIndexOf('/test/') + 1) : here;
};
const files = report.testResults
  .map((file) => ({
    name: nameOf(file.name),
    ms: file.endTime - file.startTime,
    cpu: report.cpuSeconds?.[file.name],
    status: file.status,
  }))
  .sort((a, b) => b.ms - a.ms);
const cpuTotal = files.reduce((sum, file) => sum + (file.cpu ?? 0), 0);
const wallMs =
  Math.max(...report.testResults.map((file) => file.endTime)) -
  Math.min(...report.testResults.map((file) => file.startTime));
const total = files.reduce((sum, file) => sum + file.ms, 0);
const seconds = (ms: number): string => (ms / 1000).toFixed(1);
const table = [
  START,
  `Slowest ${Math.min(SLOWEST, files.length)} of ${files.length} files, ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (\`npm run test:timings\`): ${seconds(total)} s of files' time in ${seconds(wallMs)} s from first start to last end${cpuTotal > 0 ? `, ${cpuTotal.toFixed(0)} CPU seconds (files' processes and what they started)` : ''}${
    files.some((file) => file.status !== 'passed')
      ? '; failed: ' +
        files
          .filter((file) => file.status !== 'passed')
          .map((file) => `\`${file.name}\``)
          .join(', ')
      : ''
  }.`,
  '',
  '| file | seconds | CPU seconds |',
  '| --- | ---: | ---: |',
  ...files
    .slice(0, SLOWEST)
    .map(
      (file) =>
        `| \`${file.name.replace(/^test\//, '')}\` | ${seconds(file.ms)} | ${file.cpu === undefined ? '–' : file.cpu.toFixed(1)} |`,
    ),
  END,
].join('\n');

const known = JSON.parse(await readFile(TIMINGS_FILE, 'utf8').catch(() => '{}')) as Timings;
// A report without CPU (`--from`) keeps each file's CPU from before.
const measured = files.map((file): [string, FileTiming] => {
  const cpuSeconds = file.cpu === undefined ? known[file.name]?.cpuSeconds : Number(file.cpu.toFixed(1));
  return [file.name, { seconds: Number(seconds(file.ms)), ...(cpuSeconds === undefined ? {} : { cpuSeconds }) }];
});
const timings = Object.fromEntries(
  Object.entries({ ...known, ...Object.fromEntries(measured) }).sort(([a], [b]) => a.localeCompare(b)),
);
await writeFile(TIMINGS_FILE, `${JSON.stringify(timings, null, 2)}\n`);

const doc = await readFile(DOC, 'utf8');
const from = doc.indexOf(START);
const to = doc.indexOf(END);
if (from < 0 || to < from) throw new Error(`${DOC} has no ${START} … ${END} section to write the table into`);
await writeFile(DOC, doc.slice(0, from) + table + doc.slice(to + END.length));
console.log(`${DOC}: the ${Math.min(SLOWEST, files.length)} slowest of ${files.length} files written`);
if (!report.success) process.exitCode = 1;
