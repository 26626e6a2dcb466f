/**
 * docs/deploying.md's "Failover: try it", run as it is written there: two
 * instances on one Postgres, the one that took the order killed while it
 * runs, the survivor taking it over, a retry answered afresh. Only what must
 * differ here is replaced: the Postgres (a fresh database of the run's), the
 * port (a free one) and the log file (in a scratch folder). Real processes:
 * `npm start`, the node:cluster primary, its instances, bash and curl.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/free-port.js';
import { pathOf, PROJECT_ROOT } from '../../src/paths.js';
import {
  freshDatabase,
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  startTestPostgres,
  type TestPostgres,
} from '../support/postgres.js';

/** Long enough for two instances to start, a 3 s order to be killed and the survivor's lease wait, on a busy machine. */
const RECIPE_MS = 120_000;

/** The recipe's shell lines, as docs/deploying.md gives them. */
function recipe(): string {
  const guide = readFileSync(new URL('docs/deploying.md', PROJECT_ROOT), 'utf8');
  const section = guide.slice(guide.indexOf('## Failover: try it'));
  const start = section.indexOf('```sh\n') + '```sh\n'.length;
  return section.slice(start, section.indexOf('\n```', start));
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`docs/deploying.md's failover recipe${POSTGRES_SKIPPED}`, () => {
  let postgres: TestPostgres;
  let scratch: string;
  beforeAll(async () => {
    postgres = await startTestPostgres();
    scratch = mkdtempSync(join(tmpdir(), 'failover-recipe-'));
  });
  afterAll(async () => {
    await postgres?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it(
    'prints what it says: the instance it killed, the order taken over as interrupted with its money back, the retry ok',
    { timeout: 180_000 },
    async () => {
      const written = recipe();
      const databaseUrl = 'postgres://postgres:postgres@127.0.0.1:54329/order_threads';
      expect(written).toContain(databaseUrl);
      expect(written).toContain('PORT=8080');
      // Below the ephemeral range (scripts/free-port.ts): one from listen(0) was taken by an outgoing connection of a
      // test beside it before the cluster bound it, and the recipe waited for an instance that had refused the port.
      const port = await freePort();
      const log = join(scratch, 'failover.log');
      const script = written
        .replace(databaseUrl, await freshDatabase(postgres))
        .replace('PORT=8080', `PORT=${port}`)
        .replaceAll('failover.log', log);
      // A process group of its own: whatever the recipe leaves running if it fails is ended with it.
      const bash = spawn('bash', ['-c', script], { cwd: pathOf(PROJECT_ROOT), detached: true });
      let printed = '';
      bash.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
      bash.stderr.on('data', (chunk: Buffer) => (printed += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => bash.once('exit', resolve));
      // The recipe's loops wait without end, as a person's terminal would: past RECIPE_MS the test says where it
      // stood, with what the recipe printed and the log's last lines, rather than meet the test's own timeout mute.
      const stalled = new Promise<'stalled'>((resolve) => setTimeout(resolve, RECIPE_MS, 'stalled').unref());
      try {
        const end = await Promise.race([exited, stalled]);
        if (end === 'stalled') {
          const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-30).join('\n') : '(no log)';
          expect.fail(
            `the recipe had not ended after ${RECIPE_MS} ms; it printed:\n${printed}\nits log ends:\n${tail}`,
          );
        }
        expect(end, printed).toBe(0);
      } finally {
        try {
          process.kill(-bash.pid!, 'SIGKILL');
        } catch {
          // The group has ended: the recipe's last line stopped the instances.
        }
      }
      const lines = printed.trim().split('\n');
      const killed = /^killed instance (\d+), which was running (failover-\d+)$/.exec(lines[0] ?? '');
      expect(killed, printed).not.toBeNull();
      const orderId = killed![2]!;
      // The pid it killed was one of the two instances, as the log's lines name them.
      expect(readFileSync(log, 'utf8')).toContain(`"pid":${killed![1]},`);
      expect(JSON.parse(lines[1]!)).toMatchObject({
        order_id: orderId,
        state: 'done',
        outcome: { http_status: 503, kind: 'interrupted' },
        payment: { charged: 1200, refunded: 1200 },
      });
      expect(JSON.parse(lines[2]!)).toMatchObject({ status: 'ok', order_id: orderId });
    },
  );
});
