/**
 * One Vitest run with its JSON reporter: what the timing table and the flake
 * hunt read. The run's own output goes to this terminal as usual; the report
 * (and each file's CPU, which the test setup logs) is read from temporary files.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCase {
  readonly fullName: string;
  readonly status: string;
  readonly failureMessages: readonly string[];
}

export interface FileResult {
  /** Absolute. */
  readonly name: string;
  readonly startTime: number;
  readonly endTime: number;
  readonly status: string;
  readonly message?: string;
  readonly assertionResults: readonly TestCase[];
}

export interface RunReport {
  readonly success: boolean;
  readonly testResults: readonly FileResult[];
  /**
   * Each file's CPU seconds, its own process's and its reaped children's (test/support/os-threads-per-file.ts), by
   * absolute path; absent from a report Vitest wrote by itself.
   */
  readonly cpuSeconds?: Readonly<Record<string, number>>;
  /**
   * How Vitest exited; absent from a report Vitest wrote by itself. Not 0 with every test passed is an error outside
   * any test (an unhandled rejection, a failed global setup): the run failed all the same, as CI would say.
   */
  readonly exitCode?: number | null;
}

/** `vitest run` with `args` (file filters, options) beside the JSON reporter; the default reporter still prints. */
export async function vitestJson(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<RunReport> {
  const dir = await mkdtemp(join(tmpdir(), 'vitest-json-'));
  const outputFile = join(dir, 'report.json');
  const cpuLog = join(dir, 'cpu.jsonl');
  try {
    const child = spawn(
      process.execPath,
      [
        'node_modules/vitest/vitest.mjs',
        'run',
        '--reporter=default',
        '--reporter=json',
        `--outputFile.json=${outputFile}`,
        ...args,
      ],
      { stdio: 'inherit', env: { ...env, TEST_CPU_LOG: cpuLog } },
    );
    const exitCode = await new Promise<number | null>((resolve, reject) =>
      child.on('exit', (code) => resolve(code)).on('error', reject),
    );
    const report = JSON.parse(await readFile(outputFile, 'utf8')) as RunReport;
    const cpuLines = (await readFile(cpuLog, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    const cpuSeconds = Object.fromEntries(
      cpuLines
        .map((line) => JSON.parse(line) as { file: string; cpuSeconds: number })
        .map((f) => [f.file, f.cpuSeconds]),
    );
    return { ...report, cpuSeconds, exitCode };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
