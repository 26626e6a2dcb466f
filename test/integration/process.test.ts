/**
 * The server as a process: its configuration, its start-up line, and its
 * shutdown on SIGTERM — orders in flight answered, connections closed, the
 * process ending by itself with nothing left open.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { everyStep, STEP_NAMES } from '../../src/domain/steps.js';
import { rawRequest } from '../support/http.js';
import { orderBody } from '../support/orders.js';
import { converse, parseReply } from '../support/raw-socket.js';
import {
  runToExit as runServerToExit,
  startServerProcess as startServer,
  type ServerProcess,
} from '../../load/lib/server-process.js';
import { eventually, pause } from '../support/wait.js';
import { parseSamples } from '../support/prometheus.js';

const TEST_ENV = { THREADS: '2', LOG_LEVEL: 'info' };
const startServerProcess = (env: Record<string, string> = {}): Promise<ServerProcess> =>
  startServer({ ...TEST_ENV, ...env });
const runToExit = (env: Record<string, string>): ReturnType<typeof runServerToExit> =>
  runServerToExit({ ...TEST_ENV, ...env });

let server: ServerProcess | undefined;
afterEach(() => {
  if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
  server = undefined;
});

const JSON_TYPE = { 'content-type': 'application/json' };

describe('configuration', () => {
  // Every message is the configuration's own (test/unit/config.test.ts, in-process): here, that the process stops with
  // it, one line and exit code 78, before anything starts. Each case is a process of its own: side by side.
  it.concurrent.for([
    ['COURIERS', 'five', 'COURIERS must be an integer from 1 to 1024'],
    ['HEADERS_TIMEOUT_MS', '40000', 'HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS (30000)'],
  ] as const)('%s=%s stops the process with one line naming it', async ([name, value, says], { expect }) => {
    const { code, stdout, stderr } = await runToExit({ [name]: value });
    expect(code).toBe(78);
    expect(stdout).toBe('');
    expect(stderr.trimEnd().split('\n')).toEqual([`invalid configuration: ${says}, got ${JSON.stringify(value)}`]);
  });

  it.concurrent(
    'LEASE_MS shorter than twice a courier revocation stops the process with one line, before Postgres is looked for',
    async ({ expect }) => {
      const { code, stdout, stderr } = await runToExit({
        DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:1/nowhere',
        LEASE_MS: '1000',
        CANCEL_GRACE_MS: '500',
      });
      expect(code).toBe(78);
      expect(stdout).toBe('');
      expect(stderr.trimEnd().split('\n')).toEqual([
        `invalid configuration: LEASE_MS must be an integer from 1100 to 600000 (at least 2 × (CANCEL_GRACE_MS + 50): an instance gives its lease up CANCEL_GRACE_MS + 50 ms early, for a stuck thread's couriers to come back first, and renews it in the other half), got "1000"`,
      ]);
    },
  );

  it.concurrent(
    'MAX_CONNECTIONS beyond what the open-file limit allows stops the process, saying so',
    async ({ expect }) => {
      const { code, stderr } = await runToExit({ MAX_CONNECTIONS: '1000000' });
      expect(code).toBe(78);
      expect(stderr).toMatch(
        /^invalid configuration: MAX_CONNECTIONS must be an integer from 1 to \d+, got "1000000" \(the open-file limit \d+ less \d+ for the process itself; raise it with ulimit -n\)\n$/,
      );
    },
  );
});

describe('start-up', () => {
  it('prints one line with the address it really listens on, saying it is in open mode and what its warm-up did, and serves orders without a key', async () => {
    server = await startServerProcess({ PORT: '0', WARM_UP_MS: '300' });
    expect(server.url.port).not.toBe('0');
    const lines = server.stdout.filter((line) => line.includes('listening on'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('(open mode: no API keys; every caller is the one anonymous client and the admin)');
    const { warm_up: warmUp } = JSON.parse(lines[0]!) as { warm_up?: { orders: number; statuses: object } };
    expect(warmUp?.orders).toBeGreaterThan(0);
    expect(Object.keys(warmUp!.statuses).sort()).toEqual(['200', '400']);
    const answer = await rawRequest(server.url, { headers: JSON_TYPE, body: JSON.stringify(orderBody()) });
    expect(answer.status).toBe(200);
  });

  // Node's default is four whatever the machine: on two cores they took the cores from the step threads during a
  // collection (src/runtime.ts, SERVER_NODE_FLAGS).
  it.skipIf(process.platform !== 'linux')(
    "runs V8's helper threads on the cores less one (at least one), not Node's default four",
    async () => {
      server = await startServerProcess({ PORT: '0' });
      const tasks = `/proc/${server.child.pid}/task`;
      const names = readdirSync(tasks).map((task) => readFileSync(join(tasks, task, 'comm'), 'utf8').trim());
      expect(names.filter((name) => name.includes('V8Worker'))).toHaveLength(Math.max(1, availableParallelism() - 1));
    },
  );

  it('refuses open mode on an address other machines reach, with one line, unless ALLOW_ANONYMOUS=on', async () => {
    const { code, stdout, stderr } = await runToExit({ HOST: '0.0.0.0' });
    expect(code).toBe(78);
    expect(stdout).toBe('');
    expect(stderr).toMatch(
      /^invalid configuration: HOST=0\.0\.0\.0 can be reached from other machines, and no API keys are set: .*ALLOW_ANONYMOUS=on.*\n$/,
    );
    server = await startServerProcess({ HOST: '0.0.0.0', ALLOW_ANONYMOUS: 'on', PORT: '0' });
    expect(
      (await rawRequest(new URL(`http://127.0.0.1:${server.url.port}`), { method: 'GET', path: '/healthz' })).status,
    ).toBe(200);
  });

  // A copy beside it with SO_REUSEPORT would join its port, and the kernel would deal the first's clients out between
  // the two (src/http/port-ownership.ts). The first is in keys mode and the second in open mode, so an answer tells
  // which process gave it: a keyless read of an unknown order is 401 from the first, 404 from the second.
  it.skipIf(process.platform !== 'linux')(
    'a second copy on the port it listens on exits 78 saying the port is taken, within 2 s of when a copy with a bad configuration does; the first answers every request sent meanwhile and after',
    async () => {
      server = await startServerProcess({ API_KEYS: 'shop:shop-key-for-the-port-test-0123456789ab' });
      const first = server;
      const fresh = new Agent({ keepAlive: false });
      onTestFinished(() => fresh.destroy());
      // Fifty a second: within the keyless requests a peer may send (UNAUTHENTICATED_PER_SECOND) before 429s.
      const keylessRead = (): Promise<number> =>
        Promise.all([
          rawRequest(first.url, { method: 'GET', path: '/orders/nobody-placed-this', agent: fresh }),
          pause(20),
        ]).then(([answer]) => answer.status);
      // The control, on this machine as it is now: a copy whose PORT is no port loads every module and exits 78 (about
      // 0.4 s quiet). A taken port is refused as soon: before the warm-up, the threads and the rest of a start (which
      // took more than 5 s beside four busy loops when the port was first looked at as it listened).
      const main = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
      const controlStartedAt = performance.now();
      const control = spawn(process.execPath, [main], {
        env: { ...process.env, ...TEST_ENV, PORT: 'not-a-port' },
        stdio: 'ignore',
      });
      expect(await new Promise((exited) => control.once('exit', exited))).toBe(78);
      const withinMs = performance.now() - controlStartedAt + 2000;
      // As `npm start` runs it, in open mode, which needs no key; with a warm-up longer than it has.
      const second = spawn(process.execPath, [main], {
        env: { ...process.env, ...TEST_ENV, HOST: first.url.hostname, PORT: first.url.port, WARM_UP_MS: '10000' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      onTestFinished(() => void (second.exitCode === null && second.kill('SIGKILL')));
      let said = '';
      second.stdout.setEncoding('utf8').on('data', (chunk: string) => (said += chunk));
      second.stderr.setEncoding('utf8').on('data', (chunk: string) => (said += chunk));
      const startedAt = performance.now();
      let exit: { code: number | null; at: number } | undefined;
      second.once('exit', (code) => (exit = { code, at: performance.now() }));
      // One request at a time, each on a connection of its own, from the second's start until it has exited or its
      // time has passed, and then as many again (40 at least in all).
      const during: number[] = [];
      while (exit === undefined && performance.now() - startedAt < withinMs) during.push(await keylessRead());
      const after: number[] = [];
      while (after.length < Math.max(20, 40 - during.length)) after.push(await keylessRead());
      // Each answer the first's: none from the second.
      expect(during.length).toBeGreaterThan(0);
      expect([...during, ...after].filter((status) => status !== 401)).toEqual([]);
      expect(exit, `the second copy was still running ${withinMs} ms after its start; it said:\n${said}`).toBeDefined();
      expect(exit!.at - startedAt).toBeLessThan(withinMs);
      expect(exit!.code).toBe(78);
      expect(said).toBe(
        `port ${first.url.port} on ${first.url.hostname} is taken by another process; set PORT to another port\n`,
      );
    },
  );

  it('takes its keys from files: each of two admin keys works, a client key orders; a changed file is read without a restart; no key is logged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keys-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const [adminA, adminB] = ['file_admin_a_0123456789abcdefghijklmnop', 'file_admin_b_0123456789abcdefghijklmnop'];
    const acme = 'file_acme_0123456789abcdefghijklmnopqrs';
    writeFileSync(join(dir, 'api-keys'), `acme:${acme}\n`);
    writeFileSync(join(dir, 'admin-keys'), `# the old one goes once every caller has the new\n${adminA}\n${adminB}\n`);
    server = await startServerProcess({
      API_KEYS_FILE: join(dir, 'api-keys'),
      ADMIN_KEY_FILE: join(dir, 'admin-keys'),
      LOG_LEVEL: 'debug',
    });
    const asAdmin = (key: string): Promise<number> =>
      rawRequest(server!.url, {
        method: 'GET',
        path: '/admin/dependencies',
        headers: { authorization: `Bearer ${key}` },
      }).then((answer) => answer.status);
    expect(await asAdmin(adminA)).toBe(200);
    expect(await asAdmin(adminB)).toBe(200);
    expect(await asAdmin(acme)).toBe(403);
    const order = (headers: Record<string, string>): Promise<number> =>
      rawRequest(server!.url, { headers: { ...JSON_TYPE, ...headers }, body: JSON.stringify(orderBody()) }).then(
        (answer) => answer.status,
      );
    expect(await order({ authorization: `Bearer ${acme}` })).toBe(200);
    expect(await order({})).toBe(401);

    // Rotated without a restart: a new admin key added, the old one and a client removed — each within a second. (A
    // file left with comments only would be refused, the keys kept: test/unit/key-reload.test.ts.)
    const adminC = 'file_admin_c_0123456789abcdefghijklmnop';
    const changed = performance.now();
    writeFileSync(join(dir, 'admin-keys'), `${adminB}\n${adminC}\n`);
    writeFileSync(join(dir, 'api-keys'), '# acme has gone\nglobex:file_globex_0123456789abcdefghijklmnopq\n');
    await eventually(
      async () => [await asAdmin(adminA), await asAdmin(adminC), await order({ authorization: `Bearer ${acme}` })],
      (statuses) => statuses.join() === '401,200,401',
      { within: 3000 },
    );
    expect(performance.now() - changed).toBeLessThan(1000);
    expect(await asAdmin(adminB)).toBe(200);
    const audit = await eventually(
      async () => server!.stdout.find((line) => line.includes('"audit":"keys_reloaded"')),
      (line) => line !== undefined,
      { within: 3000 },
    );
    expect(JSON.parse(audit!)).toMatchObject({ removed: ['acme'], added: ['globex'], adminKeysChanged: true });
    server.child.kill('SIGTERM');
    await server.exited;
    expect(server.stdout.join('\n')).not.toMatch(/file_(admin|acme)_/);
  });

  it('warns, at start, that FAULT_INJECTION is on', async () => {
    server = await startServerProcess({ FAULT_INJECTION: 'on' });
    const started = server;
    // Log lines are written in batches (LOG_BUFFER), at most a second late.
    await eventually(
      async () => started.stdout.some((line) => line.includes('FAULT_INJECTION=on') && line.includes('"level":40')),
      Boolean,
      { within: 3000 },
    );
  });
});

describe('logs', () => {
  it("carry the request id into the worker threads: a step's own log lines have it, with the thread and how long the step took", async () => {
    server = await startServerProcess({ LOG_LEVEL: 'debug' });
    const answer = await rawRequest(server.url, {
      headers: { ...JSON_TYPE, 'x-request-id': 'trace-me-42' },
      body: JSON.stringify(orderBody({ order_id: 'logged', delay_ms: { ...everyStep(0), payment: 60 } })),
    });
    expect(answer.headers['x-request-id']).toBe('trace-me-42');
    const fromSteps = await eventually(
      async () =>
        server!.stdout
          .filter((line) => line.includes('"request_id":"trace-me-42"') && line.includes('"thread_id"'))
          .map(
            (line) =>
              JSON.parse(line) as {
                thread_id: number;
                order_id: string;
                step: string;
                msg: string;
                duration_ms: number;
              },
          ),
      (lines) => lines.length === STEP_NAMES.length,
    );
    expect(fromSteps.map((line) => line.msg).sort()).toEqual(STEP_NAMES.map((name) => `${name} done`).sort());
    for (const line of fromSteps) {
      expect(line.thread_id).toBeGreaterThan(0);
      expect(line.order_id).toBe('logged');
      // Since the step started on its thread; payment waited 60 ms for its answer.
      expect(line.duration_ms).toBeGreaterThanOrEqual(line.step === 'payment' ? 59 : 0);
      expect(line.duration_ms).toBeLessThan(5000);
    }
    // A step canceled says so on its own thread when its code sees it: the moment a cancel's reach is measured to.
    const declined = await rawRequest(server.url, {
      headers: { ...JSON_TYPE, 'x-request-id': 'canceled-steps' },
      body: JSON.stringify(
        orderBody({
          order_id: 'declined',
          fail_step: 'payment',
          delay_ms: { payment: 30, vendor: 5000, courier: 5000 },
        }),
      ),
    });
    expect(declined.status).toBe(400);
    const canceled = await eventually(
      async () =>
        server!.stdout
          .filter((line) => line.includes('"request_id":"canceled-steps"') && line.includes(' canceled"'))
          .map((line) => (JSON.parse(line) as { msg: string }).msg)
          .sort(),
      (lines) => lines.length === 2,
    );
    expect(canceled).toEqual(['courier canceled', 'vendor canceled']);
  });
});

describe('log lines', () => {
  it('at level error are on stdout as soon as the request that caused them is answered, even if the process is killed right after', async () => {
    server = await startServerProcess();
    const answer = await rawRequest(server.url, {
      headers: { ...JSON_TYPE, 'x-request-id': 'killed-after' },
      body: JSON.stringify(
        orderBody({ fail_step: 'vendor', fail_compensation: true, delay_ms: { payment: 0, vendor: 30, courier: 0 } }),
      ),
    });
    server.child.kill('SIGKILL');
    expect(answer.status).toBe(500);
    await server.exited;
    // The request's own line, written by the main thread (its steps' lines come from the worker threads).
    const line = server.stdout.find(
      (text) => text.includes('"request_id":"killed-after"') && text.includes('"status":'),
    );
    expect(line && JSON.parse(line)).toMatchObject({ level: 50, status: 500, kind: 'compensation_failed' });
  });

  it('at level info are on stdout within about a second', async () => {
    server = await startServerProcess();
    await rawRequest(server.url, {
      headers: { ...JSON_TYPE, 'x-request-id': 'soon-written' },
      body: JSON.stringify(orderBody({ delay_ms: { payment: 0, vendor: 0, courier: 0 } })),
    });
    const answered = performance.now();
    await eventually(async () => server!.stdout.some((line) => line.includes('"request_id":"soon-written"')), Boolean, {
      within: 3000,
    });
    // Flushed every second; the margin is for a busy machine.
    expect(performance.now() - answered).toBeLessThan(2000);
  });
});

describe('open-file limit', () => {
  /** The server under `prlimit --nofile`, which the connection limits are derived from. */
  function startWithFileLimit(files: number): Promise<{ child: ChildProcess; url: URL; stdout: string[] }> {
    const main = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
    const child = spawn('prlimit', [`--nofile=${files}:${files}`, process.execPath, main], {
      env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: '0', THREADS: '2', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const stdout: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => stdout.push(...chunk.split('\n').filter(Boolean)));
    return eventually(
      async () => stdout.map((line) => /listening on (http:\/\/[^\s"]+)/.exec(line)?.[1]).find(Boolean),
      (found) => found !== undefined || child.exitCode !== null,
      { within: 10_000 },
    ).then((found) => ({ child, url: new URL(found!), stdout }));
  }

  it("caps connections below it: beyond the cap a request takes a silent connection's place, beyond the budget closed at once, the process unharmed", async () => {
    // 200 files, 2 threads: a budget of 56 connections (200 - 128 - 8 x 2), 50 of them served (src/config.ts).
    const limited = await startWithFileLimit(200);
    try {
      const order = JSON.stringify(orderBody({ delay_ms: { payment: 0, vendor: 0, courier: 0 } }));
      const post = `POST /order HTTP/1.1\r\nHost: ${limited.url.host}\r\nContent-Type: application/json\r\nContent-Length: ${order.length}\r\n\r\n${order}`;
      const read = `GET /webhooks HTTP/1.1\r\nHost: ${limited.url.host}\r\n\r\n`;
      // The cap's 50, each with a caller: a connection that has named one never gives way to a newcomer. Silent, they
      // would give way to the newcomers once a second old (src/http/server.ts, makeRoomFor), and beside busy cores
      // opening 70 one by one took longer than that: the newcomers took their places instead of being closed.
      const talks = await Promise.all(Array.from({ length: 50 }, () => converse(limited.url)));
      for (const [i, talk] of talks.entries()) {
        await talk.send(i === 0 ? post : read);
        await eventually(
          async () => parseReply(talk.reply()).status,
          (status) => status === 200,
        );
      }
      // The 20 beyond the cap at once: the first 6 are kept (beyond the cap, within the budget), then each is closed
      // at accept, told nothing. A kept newcomer still silent a second later gives way to a later one (told 503), so
      // the rule is counted as closed + gave way = 14, 6 kept: true however the server's turns spread the burst.
      const newcomers = await Promise.all(Array.from({ length: 20 }, () => converse(limited.url)));
      talks.push(...newcomers);
      await eventually(
        async () => newcomers.filter((talk) => talk.socket.destroyed).length,
        (gone) => gone === 14,
      );
      expect(talks.slice(0, 50).every((talk) => !talk.socket.destroyed)).toBe(true);
      const gone = newcomers.filter((talk) => talk.socket.destroyed);
      const closedAtAccept = gone.filter((talk) => talk.reply() === '');
      const gaveWay = gone.filter((talk) => talk.reply() !== '');
      expect(gaveWay.map((talk) => parseReply(talk.reply()).status)).toEqual(gaveWay.map(() => 503));
      const beyondCap = newcomers.filter((talk) => !talk.socket.destroyed);
      expect(beyondCap).toHaveLength(6);

      const refused = beyondCap.at(-1)!;
      await refused.send(post);
      // Beyond the cap, a request that arrives whole takes the place of a connection that has sent nothing (issue 25):
      // here another of the kept newcomers. The 503 beyond the cap, when every connection has a caller, is
      // hostile-client.test's.
      await eventually(
        async () => parseReply(refused.reply()).status,
        (status) => status === 200,
      );
      // The silent connection it replaced is closed first, but this process may read the answer before it hears of
      // that close (beside busy cores it did): wait for the close, not for the turn after the answer.
      await eventually(async () => beyondCap.slice(0, -1).some((talk) => talk.socket.destroyed), Boolean);
      if (closedAtAccept.length > 0)
        await eventually(
          async () => limited.stdout.some((line) => line.includes('connection closed at accept')),
          Boolean,
          { within: 3000 },
        );

      // Still alive, and serving every newcomer once the crowd has gone.
      for (const talk of talks) talk.socket.destroy();
      // The server hears of the closed connections a moment later; until then a newcomer may still be over the cap.
      const after = await eventually(
        () =>
          rawRequest(limited.url, {
            headers: JSON_TYPE,
            body: JSON.stringify(orderBody({ delay_ms: { payment: 0, vendor: 0, courier: 0 } })),
          }),
        (answer) => answer.status !== 503,
        { within: 3000, every: 50 },
      );
      expect(after.status).toBe(200);
      expect(limited.child.exitCode).toBe(null);
    } finally {
      limited.child.kill('SIGKILL');
    }
  });
});

describe('npm start', () => {
  let npm: ChildProcess | undefined;
  let serverPid: number | undefined;
  afterEach(() => {
    npm?.kill('SIGKILL');
    // Before `exec` in the start script, the server outlived npm and its shell.
    if (serverPid !== undefined) {
      try {
        process.kill(serverPid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    npm = serverPid = undefined;
  });

  it('runs the server on the Node the project pinned, whatever Node runs npm; passes SIGTERM to it, which drains, says "stopped" and stops answering', async () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    // A newcomer's shell: no node_modules/.bin on PATH, so npm runs on the machine's own Node.
    const PATH = (process.env['PATH'] ?? '')
      .split(':')
      .filter((dir) => !dir.includes('node_modules'))
      .join(':');
    npm = spawn('npm', ['start', '--silent'], {
      cwd: root,
      env: { ...process.env, PATH, HOST: '127.0.0.1', PORT: '0', THREADS: '2', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const stdout: string[] = [];
    npm.stdout!.setEncoding('utf8').on('data', (chunk: string) => stdout.push(...chunk.split('\n').filter(Boolean)));
    const exited = new Promise((resolve) => npm!.once('exit', resolve));
    const listening = await eventually(
      async () => stdout.find((line) => line.includes('listening on')),
      (line) => line !== undefined,
      { within: 30_000, every: 50 },
    );
    const { pid, msg } = JSON.parse(listening!) as { pid: number; msg: string };
    serverPid = pid;
    expect(realpathSync(`/proc/${pid}/exe`)).toBe(
      realpathSync(new URL('../../node_modules/.bin/node', import.meta.url)),
    );
    const url = new URL(/listening on (\S+)/.exec(msg)![1]!);
    expect((await rawRequest(url, { method: 'GET', path: '/readyz' })).status).toBe(200);

    npm.kill('SIGTERM');
    await exited;
    await eventually(async () => stdout.some((line) => line.includes('"msg":"stopped"')), Boolean, { within: 5000 });
    await expect(rawRequest(url, { method: 'GET', path: '/readyz', agent: new Agent() })).rejects.toThrow();
  });
});

describe('on another Node', () => {
  // The machine's own Node, if it is not the pinned one (these machines have Node 20).
  const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => {
    try {
      return execFileSync(path, ['--version'], { encoding: 'utf8' }).trim() !== `v${process.versions.node}`;
    } catch {
      return false;
    }
  });

  it.skipIf(systemNode === undefined)(
    'the server refuses to start, with one line saying how to run it on the right one',
    async () => {
      const main = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
      const child = spawn(systemNode!, [main], {
        env: { ...process.env, ...TEST_ENV, PORT: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const code = await new Promise((resolve) => child.once('exit', resolve));
      expect(code).toBe(78);
      expect(stderr).toMatch(
        /^this service runs on Node \^\d+\.\d+\.\d+ \(package\.json's engines\), not \d+\.\d+\.\d+: start it with `npm start`.*\n$/,
      );
    },
  );
});

describe('SIGTERM', () => {
  it('answers the orders in flight with Connection: close, then exits 0 by itself', async () => {
    server = await startServerProcess({ SHUTDOWN_TIMEOUT_MS: '5000' });
    const agent = new Agent({ keepAlive: true });
    const inFlight = Array.from({ length: 5 }, () =>
      rawRequest(server!.url, {
        headers: JSON_TYPE,
        body: JSON.stringify(orderBody({ delay_ms: { payment: 500, vendor: 500, courier: 500 } })),
        agent,
      }),
    );
    // All five admitted before the signal (a fixed pause was not always enough on a busy machine).
    await eventually(
      async () =>
        (await rawRequest(server!.url, { path: '/healthz', method: 'GET' })).json() as { orders_in_flight: number },
      (health) => health.orders_in_flight === 5,
    );
    const signaled = performance.now();
    server.child.kill('SIGTERM');
    const answers = await Promise.all(inFlight);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.headers['connection']).toBe('close');
    }
    const { code, at } = await server.exited;
    expect(code).toBe(0);
    // It ends on its own, long before the backstop that would exit with 1.
    expect(at - signaled).toBeLessThan(2000);
    expect(server.stdout.some((line) => line.includes('"msg":"stopped"'))).toBe(true);
    await expect(rawRequest(server.url, { path: '/healthz', method: 'GET' })).rejects.toThrow();
    agent.destroy();
  });

  it('with DRAIN_DELAY_MS, says not ready at once but serves every order sent for that long, then drains and exits 0', async () => {
    server = await startServerProcess({ DRAIN_DELAY_MS: '2000', SHUTDOWN_TIMEOUT_MS: '5000' });
    const { url } = server;
    const agent = new Agent({ keepAlive: true });
    // A new order each time (its own order_id), not a replay of one already answered.
    const order = (): string => JSON.stringify(orderBody({ delay_ms: { payment: 20, vendor: 20, courier: 20 } }));
    // As a load balancer's endpoints do, the load goes on for a while after the signal: 1.5 s of the 2.
    let sendUntil = Infinity;
    const outcomes: Array<{ status: number | string; at: number }> = [];
    const sender = async (): Promise<void> => {
      while (performance.now() < sendUntil) {
        const answer = await rawRequest(url, { headers: JSON_TYPE, body: order(), agent }).catch(
          (error: NodeJS.ErrnoException) => ({ status: error.code ?? String(error) }),
        );
        outcomes.push({ status: answer.status, at: performance.now() });
      }
    };
    const load = Promise.all(Array.from({ length: 6 }, sender));
    await eventually(
      async () => outcomes.length,
      (served) => served >= 20,
    );
    const signaled = performance.now();
    sendUntil = signaled + 1500;
    server.child.kill('SIGTERM');
    const probe = (path: string): Promise<number> =>
      rawRequest(url, { method: 'GET', path, agent: new Agent() }).then((answer) => answer.status);
    await eventually(
      () => probe('/readyz'),
      (status) => status === 503,
    );
    const unready = performance.now() - signaled;
    // Liveness holds while the orders are still served: a kubelet must not restart a pod that is leaving.
    expect(await probe('/healthz')).toBe(200);
    await load;
    const { code, at } = await server.exited;
    agent.destroy();
    const afterSignal = outcomes.filter((outcome) => outcome.at > signaled);
    console.log(
      `readiness 503 ${unready.toFixed(0)} ms after SIGTERM; ${outcomes.length} orders, ${afterSignal.length} answered after it; exit ${(at - signaled).toFixed(0)} ms after it`,
    );
    expect(unready).toBeLessThan(1000);
    expect(outcomes.filter((outcome) => outcome.status !== 200)).toEqual([]);
    // Still served a second after the signal, when the drain of old would long have refused them.
    expect(afterSignal.some((outcome) => outcome.at > signaled + 1000)).toBe(true);
    expect(code).toBe(0);
    expect(at - signaled).toBeGreaterThanOrEqual(2000);
    expect(at - signaled).toBeLessThan(2000 + 3000);
    expect(server.stdout.some((line) => line.includes('"msg":"stopped"'))).toBe(true);
  });

  it('is not held open by idle keep-alive connections', async () => {
    server = await startServerProcess();
    const agent = new Agent({ keepAlive: true, keepAliveMsecs: 60_000 });
    for (let i = 0; i < 3; i++) await rawRequest(server.url, { path: '/healthz', method: 'GET', agent });
    const signaled = performance.now();
    server.child.kill('SIGTERM');
    const { code, at } = await server.exited;
    expect(code).toBe(0);
    expect(at - signaled).toBeLessThan(1000);
    agent.destroy();
  });

  it('answers 503 with Retry-After to a request arriving on a connection already open', async () => {
    server = await startServerProcess();
    const keepBusy = rawRequest(server.url, {
      headers: JSON_TYPE,
      body: JSON.stringify(orderBody({ delay_ms: { payment: 600, vendor: 0, courier: 0 } })),
    });
    const socket = connect(Number(server.url.port), server.url.hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    const body = JSON.stringify(orderBody());
    socket.write(`POST /order HTTP/1.1\r\nHost: ${server.url.host}\r\nContent-Type: application/json\r\n`);
    await pause(100);
    server.child.kill('SIGTERM');
    // Wait for the drain to have begun (the listener closed: a new connection is refused), not for time: on busy cores
    // 100 ms was sometimes too short for the signal to be handled, and the order was served 200.
    const port = Number(server.url.port);
    const refused = (): Promise<boolean> =>
      new Promise((resolve) => {
        const probe = connect(port, server!.url.hostname);
        probe.once('connect', () => (probe.destroy(), resolve(false)));
        probe.once('error', () => resolve(true));
      });
    await eventually(refused, (isRefused) => isRefused);
    let reply = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (reply += chunk));
    const ended = new Promise((resolve) => socket.once('close', resolve));
    socket.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await ended;
    expect(reply).toMatch(/^HTTP\/1\.1 503 /);
    expect(reply).toMatch(/\r\nRetry-After: 1\r\n/i);
    expect(reply).toMatch(/\r\nConnection: close\r\n/i);
    expect(reply).toContain('"kind":"shutting_down"');
    expect((await keepBusy).status).toBe(200);
    expect((await server.exited).code).toBe(0);
  });

  it('cancels and answers what is still running when the drain deadline nears, then exits 0 in time', async () => {
    server = await startServerProcess({
      SHUTDOWN_TIMEOUT_MS: '1000',
      REFUND_TIMEOUT_MS: '200',
      ORDER_TIMEOUT_MS: '30000',
    });
    const slow = Array.from({ length: 3 }, () =>
      rawRequest(server!.url, {
        headers: JSON_TYPE,
        body: JSON.stringify(orderBody({ delay_ms: { payment: 10_000, vendor: 10_000, courier: 10_000 } })),
      }),
    );
    await eventually(
      async () =>
        (await rawRequest(server!.url, { path: '/healthz', method: 'GET' })).json() as { orders_in_flight: number },
      (health) => health.orders_in_flight === 3,
    );
    const signaled = performance.now();
    const signaledAt = Date.now();
    server.child.kill('SIGTERM');
    for (const answer of await Promise.all(slow)) {
      expect(answer.status).toBe(503);
      expect(answer.headers['retry-after']).toBe('1');
      const parsed = answer.json() as { error: { kind: string }; steps: Array<{ detail: string }> };
      expect(parsed.error.kind).toBe('shutting_down');
      expect(parsed.steps.every((step) => step.detail === 'canceled: shutting_down')).toBe(true);
    }
    const { code, at } = await server.exited;
    expect(code).toBe(0);
    // The drain ends within SHUTDOWN_TIMEOUT_MS: its last line ("stopped", stamped by the server's clock) says when.
    const stopped = server.stdout.find((line) => line.includes('"msg":"stopped"'));
    expect(stopped).toBeDefined();
    expect((JSON.parse(stopped!) as { time: number }).time - signaledAt).toBeLessThan(1000 + 300);
    // Then the process ends by itself (exit code 0: the backstop, a second later, did not fire). Its teardown — the
    // threads terminated, the isolates torn down — is not the drain's: 456 ms of it in a full run on a slow machine.
    expect(at - signaled).toBeLessThan(1000 + 1000);
  });
});

describe('SIGTERM when stdout is not read', () => {
  const main = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
  const DRAIN_MS = 3000;
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  let pid: number | undefined;
  let reader: ChildProcess | undefined;
  afterEach(() => {
    if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
    // The whole pipeline: the reader's sleep holds this process's end of the pipe.
    if (reader?.pid !== undefined && alive(reader.pid)) process.kill(-reader.pid, 'SIGKILL');
    pid = undefined;
    reader = undefined;
  });

  /** Orders until the server has written (or tried to write) well over a pipe's 64 KiB of log lines. */
  async function logLots(url: URL): Promise<number> {
    const body = JSON.stringify(orderBody({ delay_ms: { payment: 0, vendor: 0, courier: 0 } }));
    for (let batch = 0; batch < 30; batch++)
      await Promise.all(Array.from({ length: 20 }, () => rawRequest(url, { headers: JSON_TYPE, body })));
    const metrics = await rawRequest(url, { method: 'GET', path: '/metrics' });
    return parseSamples(metrics.text).get('log_lines_dropped_total') ?? 0;
  }

  /** The server's pid and address, from the start-up line its reader passed on. */
  async function startedBehind(pipeline: ChildProcess): Promise<{ pid: number; url: URL }> {
    let first = '';
    pipeline.stdout!.setEncoding('utf8').on('data', (chunk: string) => (first += chunk));
    await eventually(
      async () => first,
      (text) => text.includes('\n'),
      { within: 30_000, every: 50 },
    );
    const { pid: serverPid, msg } = JSON.parse(first) as { pid: number; msg: string };
    pid = serverPid;
    return { pid: serverPid, url: new URL(/listening on (\S+)/.exec(msg)![1]!) };
  }

  async function exitsWithinDrain(serverPid: number): Promise<void> {
    const signaled = performance.now();
    process.kill(serverPid, 'SIGTERM');
    await eventually(
      async () => alive(serverPid),
      (up) => !up,
      { within: DRAIN_MS, every: 50 },
    );
    expect(performance.now() - signaled).toBeLessThan(DRAIN_MS);
  }

  it('exits within its drain time when the reader has gone (`npm start | head -1`), counting the lines it lost', async () => {
    const pipeline = spawn('sh', ['-c', '"$0" "$1" | head -1', process.execPath, main], {
      env: { ...process.env, ...TEST_ENV, LOG_BUFFER: 'on', PORT: '0', SHUTDOWN_TIMEOUT_MS: String(DRAIN_MS - 1000) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const server = await startedBehind(pipeline);
    expect(await logLots(server.url)).toBeGreaterThan(0);
    await exitsWithinDrain(server.pid);
  });

  it('exits within its drain time when the reader stops reading and the pipe is full, counting the lines it lost', async () => {
    // The reader takes the start-up line, then reads nothing more while the pipe stays open.
    const pipeline = spawn(
      'sh',
      ['-c', '"$0" "$1" | { IFS= read -r line; echo "$line"; exec sleep 60; }', process.execPath, main],
      {
        env: {
          ...process.env,
          ...TEST_ENV,
          LOG_BUFFER: 'off',
          PORT: '0',
          SHUTDOWN_TIMEOUT_MS: String(DRAIN_MS - 1000),
        },
        stdio: ['ignore', 'pipe', 'inherit'],
        detached: true,
      },
    );
    reader = pipeline;
    const server = await startedBehind(pipeline);
    expect(await logLots(server.url)).toBeGreaterThan(0);
    await exitsWithinDrain(server.pid);
  });
});
