/**
 * wrk (Debian's `wrk`, C), in a process of its own: far less of the two
 * cores than autocannon, so the server gets more of them. Its orders come
 * from a Lua script (wrk-orders.lua beside this file): the scenario's body
 * with a fresh order_id per request, the answers counted by status. So wrk
 * drives only scenarios whose orders differ by their id alone and must all
 * get the same status (not `mixed`), sent as fast as they are answered (not
 * `sustained`, at a steady rate). It gives no time per response, only its
 * latency distribution at the end — its own, corrected for coordinated
 * omission (a stalled connection's missed requests count as late ones), so a
 * tail reads higher than autocannon's raw one.
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { pathOf, projectFile } from '../../../src/paths.js';
import type { LatencySummary } from '../../lib/stats.js';
import { onPath } from '../executables.js';
import type { Scenario } from '../scenarios.js';
import { tally, type Generated, type Load, type LoadGenerator, type Running } from './generator.js';

const SCRIPT = pathOf(projectFile('load/suite/generators/wrk-orders.lua'));
/** Where the order_id's value goes in the body; split there, the two halves go to the script. */
const ID_HERE = 'ORDER-ID-HERE';
/** Orders compared to the first to tell a scenario whose orders differ by their id alone. */
const ORDERS_CHECKED = 100;

interface WrkResult {
  readonly durationUs: number;
  readonly requests: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly errors: Readonly<Record<'connect' | 'read' | 'write' | 'timeout', number>>;
  readonly latencyUs: {
    readonly mean: number;
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly max: number;
    readonly quantiles: readonly number[];
  };
}

/** The body around the order_id, the same for every order of the scenario; throws if the orders differ otherwise. */
export function bodyAroundId(scenario: Scenario): { before: string; after: string } {
  const body = (n: number): string => JSON.stringify({ ...scenario.order(n), order_id: ID_HERE });
  const first = body(0);
  for (let n = 1; n < ORDERS_CHECKED; n++) {
    if (body(n) !== first || scenario.expectedStatus(n) !== scenario.expectedStatus(0)) {
      throw new Error(
        `wrk sends one body with a fresh order_id: ${scenario.name}'s orders differ otherwise (order ${n}); drive it with autocannon`,
      );
    }
  }
  const [before, after] = first.split(ID_HERE) as [string, string];
  return { before, after };
}

/** One wrk process to its end: its result line, or an error with what it said. */
function runWrk(load: Load, seconds: number, tag: string): Promise<WrkResult> {
  const { before, after } = bodyAroundId(load.scenario);
  const threads = Math.max(1, Math.min(availableParallelism(), load.connections));
  const args = [
    '-t',
    String(threads),
    '-c',
    String(load.connections),
    '-d',
    `${seconds}s`,
    '--timeout',
    '30s',
    '-s',
    SCRIPT,
    load.url.href,
    '--',
    before,
    after,
    tag,
  ];
  const wrk = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  wrk.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  wrk.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return new Promise((resolve, reject) => {
    wrk.once('error', reject);
    wrk.once('close', (code) => {
      const line = output.split('\n').find((text) => text.startsWith('wrk-result '));
      if (code !== 0 || line === undefined)
        reject(new Error(`wrk ${args.join(' ')} ended with ${code}:\n${output.trim()}`));
      else resolve(JSON.parse(line.slice('wrk-result '.length)) as WrkResult);
    });
  });
}

const ms = (us: number): number => Math.round(us / 10) / 100;

/**
 * The quantiles spread over the responses, each repeated for its share: a distribution to bin with the other rounds'.
 */
function spreadQuantiles(quantilesUs: readonly number[], responses: number): number[] {
  const latencies: number[] = [];
  quantilesUs.forEach((us, i) => {
    const share =
      Math.round((responses * (i + 1)) / quantilesUs.length) - Math.round((responses * i) / quantilesUs.length);
    for (let k = 0; k < share; k++) latencies.push(us / 1000);
  });
  return latencies;
}

function generated(result: WrkResult, expected: number, warmUp: WrkResult | null): Generated {
  const statuses = new Map(Object.entries(result.statuses).map(([status, count]) => [Number(status), count] as const));
  const unexpected = new Map<number, number>();
  for (const [status, count] of [
    ...statuses,
    ...Object.entries(warmUp?.statuses ?? {}).map(([s, c]) => [Number(s), c] as const),
  ]) {
    if (status !== expected) tally(unexpected, status, count);
  }
  const noResponse = new Map(Object.entries(result.errors).filter(([, count]) => count > 0));
  const { mean, p50, p90, p99, max, quantiles } = result.latencyUs;
  // With no response wrk reads every percentile as 0: no latency, as for autocannon.
  const latency: LatencySummary =
    result.requests === 0
      ? { p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN }
      : { p50: ms(p50), p90: ms(p90), p99: ms(p99), max: ms(max), mean: ms(mean) };
  return {
    responses: result.requests,
    sent: null,
    elapsedMs: result.durationUs / 1000,
    statuses,
    unexpected,
    noResponse,
    latency,
    latencies: spreadQuantiles(quantiles, result.requests),
    samples: null,
  };
}

function start(load: Load, measuring: () => void): Running {
  const finished = (async (): Promise<Generated> => {
    const warmUp = load.warmUpSec > 0 ? await runWrk(load, load.warmUpSec, `${load.tag}-warm-up`) : null;
    measuring();
    return generated(await runWrk(load, load.durationSec, load.tag), load.scenario.expectedStatus(0), warmUp);
  })();
  return { recentRate: () => null, finished };
}

export const WRK: LoadGenerator = {
  name: 'wrk',
  check: (scenario) => {
    if (onPath('wrk') === null) throw new Error('--generator wrk: wrk is not installed (Debian: apt-get install wrk)');
    if (scenario.rate !== undefined)
      throw new Error(`wrk sends as fast as it is answered: ${scenario.name}'s steady rate needs autocannon`);
    bodyAroundId(scenario);
  },
  start,
};
