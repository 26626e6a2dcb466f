/**
 * One Vitest run with its JSON reporter: what the timing table and the flake
 * hunt read. The run's own output goes to this terminal as usual; the report
 * is read from a temporary file.
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
}

/** `vitest run` with `args` (file filters, options) beside the JSON reporter; the default reporter still prints. */
export async function vitestJson(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<RunReport> {
  const dir = await mkdtemp(join(tmpdir(), 'vitest-json-'));
  const outputFile = join(dir, 'report.json');
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
      { stdio: 'inherit', env },
    );
    await new Promise<void>((resolve, reject) => child.on('exit', () => resolve()).on('error', reject));
    return JSON.parse(await readFile(outputFile, 'utf8')) as RunReport;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
