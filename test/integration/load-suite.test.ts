/**
 * The load suite's command line, as a newcomer meets it: a comparison whose
 * other server cannot start, or a generator that cannot drive a scenario,
 * says so at once — before any load runs and before a run's folder is made —
 * with where the Go service comes from and how to point elsewhere. And what a
 * drive asks of the server it measures.
 */
import { execFile } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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

  it('wrk for a scenario sent at a steady rate', async () => {
    const ended = await runSuite(['--generator', 'wrk', '--smoke', 'sustained']);
    expect(ended.code).toBe(2);
    expect(ended.stderr).toMatch(/sustained's steady rate needs autocannon|wrk is not installed/);
  });
});

/** The slowest step of an order with the default delays: the vendor's. */
const SLOWEST_STEP_MS = 200;

describe('a comparison', () => {
  /**
   * A stand-in server on loopback: answers an order once its slowest step would have (light's vendor, 200 ms: an
   * order answered sooner would pass the scenario's physical bound and fail its gates), and counts what it is asked.
   */
  async function standIn(): Promise<{ server: Server; url: string; asked: Map<string, number> }> {
    const asked = new Map<string, number>();
    const server = createServer((request, response) => {
      const path = new URL(request.url ?? '/', 'http://x').pathname;
      asked.set(path, (asked.get(path) ?? 0) + 1);
      request.resume();
      request.on('end', () => {
        if (path === '/metrics') return response.end('nodejs_eventloop_lag_p50_seconds 0.011\n');
        response.setHeader('content-type', 'application/json');
        if (path === '/healthz')
          return response.end(JSON.stringify({ orders_in_flight: 0, running_steps: 0, threads_replaced: 0 }));
        setTimeout(() => response.end(JSON.stringify({ status: 'ok' })), SLOWEST_STEP_MS);
      });
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked };
  }

  it(
    'asks this service nothing while its load runs, as it asks the other server nothing',
    { timeout: 90_000 },
    async () => {
      const mine = await standIn();
      const other = await standIn();
      const before = runsKept();
      try {
        const ended = await runSuite(
          ['--against', other.url, '--rounds', '1', '--duration', '1', '--warm-up', '1', 'light'],
          {
            LOAD_URL: mine.url,
          },
        );
        expect(ended.code, ended.stderr).toBe(0);
      } finally {
        mine.server.close();
        other.server.close();
        for (const run of runsKept().filter((run) => !before.includes(run)))
          rmSync(projectFile(`load/results/${run}`), { recursive: true, force: true });
      }
      expect(mine.asked.get('/order') ?? 0).toBeGreaterThan(0);
      // A scrape holds the service's main thread ~13 ms: asked of this service alone, it made a build 1.04–1.09× itself
      // at fail-fast's p99.
      expect(mine.asked.get('/metrics') ?? 0).toBe(0);
      expect(other.asked.get('/metrics') ?? 0).toBe(0);
    },
  );
});
