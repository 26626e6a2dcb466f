/**
 * What a measurement needs said about where it was taken: the machine, the
 * commit (and whether the work tree differed from it), and how loaded the
 * machine was — this machine is shared, and its load says how far to trust
 * a figure.
 */
import { execFileSync } from 'node:child_process';
import { cpus, hostname, loadavg, platform, totalmem } from 'node:os';
import { PROJECT_ROOT } from '../../src/paths.js';

export interface Machine {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly platform: string;
  readonly hostname: string;
  readonly memoryGb: number;
}

/** git rev-parse HEAD, and whether the work tree had changes. */
export interface Commit {
  readonly sha: string;
  readonly dirty: boolean;
}

export function machine(): Machine {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${platform()} ${process.arch}`,
    hostname: hostname(),
    memoryGb: Math.round(totalmem() / 2 ** 30),
  };
}

/** The checked-out commit and whether anything tracked or untracked (not ignored) differs from it; null outside git. */
export function commit(): Commit | null {
  const git = (...args: string[]): string =>
    execFileSync('git', args, { cwd: PROJECT_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return { sha: git('rev-parse', 'HEAD'), dirty: git('status', '--porcelain').length > 0 };
  } catch {
    return null;
  }
}

/** The 1, 5 and 15 minute load averages, two decimals. */
export const loadAverage = (): number[] => loadavg().map((value) => Number(value.toFixed(2)));
