/**
 * The image's file set, built without Docker (which cannot run here): the
 * Dockerfile's final stage read and done by hand — its COPYs (from the
 * context, and from the build stage, whose dist/ is the build the tests run
 * on) and its RUN, production dependencies only — in a folder of its own.
 * The service started from there as the image's CMD says, with its ENV,
 * serves an order, its HEALTHCHECK says healthy (and unhealthy with nothing
 * listening), and it writes nothing in its folder (the root filesystem may
 * be read-only).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { pathOf, projectFile } from '../../src/paths.js';
import { startServerProcess } from '../../load/lib/server-process.js';
import { rawRequest } from '../support/http.js';
import { orderBody } from '../support/orders.js';

const ROOT = pathOf(projectFile(''));
const app = mkdtempSync(join(tmpdir(), 'image-files-'));
afterAll(() => rmSync(app, { recursive: true, force: true }));

interface FinalStage {
  readonly workdir: string;
  readonly copies: Array<{ readonly from: 'context' | 'build'; readonly sources: string[]; readonly target: string }>;
  readonly runs: string[];
  readonly env: Record<string, string>;
  readonly user: string | undefined;
  readonly cmd: string[];
  /** HEALTHCHECK's command, in exec form. */
  readonly healthcheck: string[];
}

/** The Dockerfile's last stage, instruction by instruction (continued lines joined, comments left out). */
function finalStage(dockerfile: string): FinalStage {
  const lines = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const last = lines.findLastIndex((line) => /^FROM\s/i.test(line));
  const stage: FinalStage = { workdir: '/', copies: [], runs: [], env: {}, user: undefined, cmd: [], healthcheck: [] };
  const args: Record<string, string> = {};
  for (const line of lines.slice(last + 1)) {
    const [instruction = '', ...rest] = line.split(/\s+/);
    const operand = line.slice(instruction.length).trim();
    switch (instruction.toUpperCase()) {
      case 'WORKDIR':
        (stage as { workdir: string }).workdir = operand;
        break;
      case 'COPY': {
        const build = rest[0]?.startsWith('--from=') ? rest.shift() : undefined;
        const target = rest.pop()!;
        stage.copies.push({ from: build ? 'build' : 'context', sources: rest, target });
        break;
      }
      case 'RUN':
        stage.runs.push(operand);
        break;
      case 'ARG': {
        const [name = '', value = ''] = operand.split('=');
        args[name] = value;
        break;
      }
      case 'ENV': {
        const [name = '', value = ''] = operand.split('=');
        stage.env[name] = value.replace(/^\$(\w+)$/, (_, arg: string) => args[arg] ?? '');
        break;
      }
      case 'USER':
        (stage as { user: string }).user = operand;
        break;
      case 'CMD':
        (stage as { cmd: string[] }).cmd = JSON.parse(operand) as string[];
        break;
      case 'HEALTHCHECK':
        (stage as { healthcheck: string[] }).healthcheck = JSON.parse(operand.replace(/^.*?\bCMD\s+/, '')) as string[];
        break;
    }
  }
  return stage;
}

/** Every file under `folder` with its size and modification time: what a run wrote shows as a difference. */
function snapshot(folder: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat?.isFile()) files.set(path, `${stat.size}:${stat.mtimeMs}`);
  }
  return files;
}

it('holds what the final stage copies, installs production dependencies only, and its CMD serves an order', async () => {
  const stage = finalStage(execFileSync('cat', [join(ROOT, 'Dockerfile')], { encoding: 'utf8' }));
  // Exec form, node itself: signals reach the server. Not root.
  expect(stage.cmd[0]).toBe('node');
  expect(stage.user).toBeDefined();
  expect(stage.user!.split(':')[0]).not.toMatch(/^(0|root)$/);
  expect(stage.runs.some((run) => /\bnpm ci\b.*--omit=dev/.test(run))).toBe(true);

  // The build stage's /app is this working tree once built (globalSetup builds dist/).
  const fromBuild = (path: string): string => join(ROOT, path.replace(/^\/app\/?/, ''));
  for (const { from, sources, target } of stage.copies) {
    for (const source of sources) {
      const destination = target.endsWith('/') ? join(app, target, source.split('/').pop()!) : join(app, target);
      cpSync(from === 'build' ? fromBuild(source) : join(ROOT, source), destination, { recursive: true });
    }
  }
  // The RUNs as written, but for emptying npm's cache, which on this machine is everyone's.
  for (const run of stage.runs) {
    const steps = run
      .split('&&')
      .map((step) => step.trim())
      .filter((step) => !/^npm cache clean/.test(step));
    execFileSync('sh', ['-c', steps.join(' && ')], {
      cwd: app,
      stdio: 'pipe',
      env: { ...process.env, ...stage.env, npm_config_prefer_offline: 'true', npm_config_audit: 'false' },
    });
  }
  // Production dependencies only: no compiler, no test runner; and not the npm `node` package's own Node.
  const installed = readdirSync(join(app, 'node_modules'));
  expect(installed).toContain('express');
  for (const development of ['typescript', 'vitest', 'eslint', 'node']) expect(installed).not.toContain(development);

  const before = snapshot(app);
  const adminKey = 'image-smoke-admin-key-0123456789abcdef';
  const server = await startServerProcess(
    { ...stage.env, HOST: '127.0.0.1', PORT: '0', THREADS: '2', ADMIN_KEY: adminKey, BUILD_COMMIT: 'abc123' },
    // The CMD's flags are SERVER_NODE_FLAGS, which startServerProcess passes too (runtime.test.ts keeps them alike).
    { main: join(app, stage.cmd.at(-1)!) },
  );
  try {
    const order = await rawRequest(server.url, {
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` },
      body: JSON.stringify(orderBody()),
    });
    expect(order.status, order.text).toBe(200);
    const version = (await rawRequest(server.url, { method: 'GET', path: '/version' })).json();
    expect(version).toMatchObject({ commit: 'abc123', node: process.versions.node });
    // The /threads page's HTML and CSS come from web/: copied too.
    const page = await rawRequest(server.url, {
      method: 'GET',
      path: '/threads',
      headers: { authorization: `Bearer ${adminKey}` },
    });
    expect(page.status).toBe(200);
    // HEALTHCHECK, as Docker runs it in the container: the image's node, the server's PORT.
    const [command = '', ...args] = stage.healthcheck;
    expect(command).toBe('node');
    const healthcheck = (port: string) =>
      spawnSync(process.execPath, args, { cwd: app, env: { ...process.env, PORT: port }, timeout: 10_000 }).status;
    expect(healthcheck(server.url.port)).toBe(0);
    const nobody = createServer();
    await new Promise<void>((resolve) => nobody.listen(0, '127.0.0.1', resolve));
    const closedPort = String((nobody.address() as AddressInfo).port);
    await new Promise((resolve) => nobody.close(resolve));
    expect(healthcheck(closedPort)).toBe(1);
  } finally {
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  }
  expect(snapshot(app)).toEqual(before);
}, 300_000);
