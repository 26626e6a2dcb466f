/**
 * `npm run dev` (scripts/dev.ts) as a person uses it: it builds, serves, and
 * on Ctrl-C — which npm may deliver to it twice — the server gets one
 * signal, answers the order in flight, and nothing is left running.
 * Restarting on a change is not tested here (it would edit the sources).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { rawRequest } from '../support/http.js';
import { orderBody } from '../support/orders.js';
import { eventually, pause } from '../support/wait.js';

const DEV = fileURLToPath(new URL('../../dist/scripts/dev.js', import.meta.url));

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

it(
  'serves the build, and on a doubled Ctrl-C drains once and leaves no process behind',
  { timeout: 90_000 },
  async () => {
    // stdout is a pipe here, not a terminal: the server's JSON lines come through as they are.
    const runner = spawn(process.execPath, [DEV], {
      env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: '0', THREADS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout: string[] = [];
    let stderr = '';
    runner.stdout.setEncoding('utf8').on('data', (chunk: string) => stdout.push(...chunk.split('\n').filter(Boolean)));
    runner.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => runner.once('exit', (code) => resolve(code)));
    /** Whatever happens, the test leaves none of them running. */
    const started = [runner.pid!];
    cleanup = () => {
      for (const pid of started) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    };

    const listening = await eventually(
      async () =>
        stdout
          .map((line) => JSON.parse(line) as { msg?: string; pid: number })
          .find((line) => line.msg?.startsWith('listening on ')),
      (line) => line !== undefined || runner.exitCode !== null,
      { within: 60_000, every: 50 },
    );
    expect(listening, stderr).toBeDefined();
    const serverPid = listening!.pid;
    started.push(serverPid);
    const url = new URL(/^listening on (\S+)/.exec(listening!.msg!)![1]!);

    const inFlight = rawRequest(url, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(orderBody({ order_id: 'dev-drain', delay_ms: { payment: 0, vendor: 600, courier: 0 } })),
    });
    await pause(150);
    runner.kill('SIGINT');
    await pause(20);
    runner.kill('SIGINT');

    expect((await inFlight).status).toBe(200);
    expect(await exited).toBe(0);
    const messages = stdout.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages.filter((msg) => msg === 'shutting down')).toHaveLength(1);
    expect(messages).not.toContain('second signal: exiting now');
    expect(messages).toContain('vendor done'); // LOG_LEVEL is debug under npm run dev
    expect(messages.at(-1)).toBe('stopped');
    expect(isAlive(serverPid)).toBe(false);
    expect(stderr).not.toMatch(/tsc ended/);
  },
);
