/**
 * What does an order allocate, on the main thread and on the step threads, and where?
 * Kept in: docs/decisions/an-order-in-flight.md
 *
 * The service as `npm start` runs it, with its inspector on a free port of
 * loopback, under a load-suite scenario driven by wrk (`overhead` unless
 * said). After a warm-up, V8's sampling heap profiler runs on every isolate
 * for the measured seconds — objects a collection has taken back included,
 * since what an order allocates and drops is what the young collections pay
 * for — and each isolate's bytes are divided by the orders answered
 * meanwhile: by function (its own allocations), and by owner (the nearest
 * frame of the project's own code, src/ or workers/, on the stack that
 * allocated; a package or Node's own when none). It samples one allocation
 * in `--interval` bytes: the figures are estimates, and each round draws its
 * own.
 *
 *   npm run measure -- order-allocation
 *   npm run measure -- order-allocation --scenario fail-fast --seconds 20
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../scripts/free-port.js';
import { parseCommandLine } from '../lib/command-line.js';
import { Inspector } from '../lib/inspector.js';
import { formatSpread, inRounds, progress, roundsOption, spreadOf } from '../lib/rounds.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { formatTable } from '../lib/table.js';
import { WRK } from '../suite/generators/wrk.js';
import { scenarioNamed } from '../suite/scenarios.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- order-allocation',
    summary: "Bytes an order allocates on each of the server's isolates, by function and by owner, sampled under load.",
  },
  {
    rounds: roundsOption(1),
    scenario: { type: 'string', default: 'overhead', help: 'a load-suite scenario wrk can drive' },
    seconds: { type: 'integer', default: 10, min: 1, help: 'seconds sampled' },
    'warm-up': { type: 'integer', default: 20, min: 0, help: 'seconds of the same load before the sampling' },
    interval: { type: 'integer', default: 512, min: 16, help: 'bytes between two sampled allocations, on average' },
    top: { type: 'integer', default: 20, min: 1, help: 'rows per table' },
  },
);

const scenario = scenarioNamed(options.scenario);
WRK.check(scenario);

/** A node of a sampling heap profile (the protocol's SamplingHeapProfileNode). */
interface ProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly ProfileNode[];
}

/** Bytes by function and by owner, for one isolate or several added up. */
interface Allocations {
  readonly total: number;
  readonly byFunction: Map<string, number>;
  readonly byOwner: Map<string, number>;
}

const PROJECT_CODE = /\/dist\/(src|workers)\/(.*)$/;

/** Where a frame's code lives, as a reader finds it: the project's file, a package, or Node's own module. */
function placeOf(url: string): string {
  const own = PROJECT_CODE.exec(url);
  if (own) return `dist/${own[1]}/${own[2]}`;
  const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (inPackage) return `npm:${inPackage[1]}`;
  return url === '' ? '(V8)' : url;
}

function add(into: Map<string, number>, key: string, bytes: number): void {
  into.set(key, (into.get(key) ?? 0) + bytes);
}

/** A profile's bytes, each sample charged to its function and to the nearest frame of the project's own code. */
function allocationsOf(head: ProfileNode, into: Allocations = emptyAllocations()): Allocations {
  let total = into.total;
  const walk = (node: ProfileNode, owner: string | undefined): void => {
    const { functionName, url, lineNumber } = node.callFrame;
    const place = placeOf(url);
    const own = PROJECT_CODE.test(url) ? place : owner;
    if (node.selfSize > 0) {
      total += node.selfSize;
      add(
        into.byFunction,
        `${functionName || '(anonymous)'} ${place}${url ? `:${lineNumber + 1}` : ''}`,
        node.selfSize,
      );
      add(into.byOwner, own ?? place, node.selfSize);
    }
    for (const child of node.children) walk(child, own);
  };
  walk(head, undefined);
  return { ...into, total };
}

function emptyAllocations(): Allocations {
  return { total: 0, byFunction: new Map(), byOwner: new Map() };
}

interface RoundResult {
  readonly orders: number;
  readonly main: Allocations;
  readonly threads: Allocations;
  readonly threadCount: number;
}

async function sampledProfile(inspector: Inspector, sessionId?: string): Promise<ProfileNode> {
  const { profile } = (await inspector.call('HeapProfiler.stopSampling', {}, sessionId)) as {
    profile: { head: ProfileNode };
  };
  return profile.head;
}

async function round(index: number): Promise<RoundResult> {
  const port = await freePort();
  const server: ServerProcess = await startServerProcess(
    { ...scenario.serverEnv, NODE_OPTIONS: `--inspect=127.0.0.1:${port}`, LOG_LEVEL: 'warn' },
    // Its log goes to a file, not through this process, which shares the cores with it.
    { logFile: join(logs, `round-${index}.log`) },
  );
  let inspector: Inspector | undefined;
  const drive = (seconds: number, tag: string) =>
    WRK.start(
      {
        url: new URL('/order', server.url),
        scenario,
        connections: scenario.connections,
        durationSec: seconds,
        warmUpSec: 0,
        tag,
      },
      () => {},
    ).finished;
  try {
    inspector = await Inspector.connect(port);
    progress(`${options['warm-up']} s of ${scenario.name} before the sampling`);
    if (options['warm-up'] > 0) await drive(options['warm-up'], `alloc-warm-${index}`);
    const sessions = [undefined, ...inspector.workers.map(({ sessionId }) => sessionId)];
    const sampling = {
      samplingInterval: options.interval,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    };
    for (const session of sessions) {
      await inspector.call('HeapProfiler.enable', {}, session);
      await inspector.call('HeapProfiler.startSampling', sampling, session);
    }
    const { responses } = await drive(options.seconds, `alloc-${index}`);
    const [main, ...threads] = await Promise.all(sessions.map((session) => sampledProfile(inspector!, session)));
    return {
      orders: responses,
      main: allocationsOf(main!),
      threads: threads.reduce((sum, head) => allocationsOf(head, sum), emptyAllocations()),
      threadCount: threads.length,
    };
  } finally {
    inspector?.close();
    server.child.kill('SIGKILL');
    await server.exited;
  }
}

const logs = mkdtempSync(join(tmpdir(), 'order-allocation-'));
const results = await inRounds(options.rounds, round).finally(() => rmSync(logs, { recursive: true, force: true }));
const kb = (bytes: number): string => (bytes / 1024).toFixed(2);
const perOrder = (result: RoundResult, isolate: 'main' | 'threads'): number => result[isolate].total / result.orders;

console.log(
  `\nKB an order allocates under ${scenario.name} (wrk, ${options.seconds} s sampled after ${options['warm-up']} s, ` +
    `${results.length} round(s); ${results[0]!.threadCount} step threads, together):`,
);
console.log(
  formatTable(
    [{ heading: 'isolate' }, { heading: 'KB an order', align: 'right' }],
    [
      ['main thread', formatSpread(spreadOf(results.map((r) => perOrder(r, 'main'))), kb)],
      ['step threads', formatSpread(spreadOf(results.map((r) => perOrder(r, 'threads'))), kb)],
    ],
  ),
);
const last = results.at(-1)!;
for (const isolate of ['main', 'threads'] as const) {
  const name = isolate === 'main' ? 'main thread' : 'step threads';
  for (const [by, rows] of [
    ['owner (the nearest frame of src/ or workers/)', last[isolate].byOwner],
    ['function (its own allocations)', last[isolate].byFunction],
  ] as const) {
    console.log(`\n${name}, by ${by} (last round):`);
    console.log(
      formatTable(
        [{ heading: 'KB an order', align: 'right' }, { heading: 'where' }],
        [...rows]
          .sort((a, b) => b[1] - a[1])
          .slice(0, options.top)
          .map(([where, bytes]) => [kb(bytes / last.orders), where]),
      ),
    );
  }
}
