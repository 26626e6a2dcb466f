/**
 * A step's effect, not its record, with real processes on a real Postgres. An instance paused past its lease (SIGSTOP,
 * as a long GC or a frozen VM would hold it) while its vendor step waits on the vendor is taken over: the survivor
 * resumes the run, runs the vendor step again and ends the order. Woken, the paused instance finishes its own copy of
 * the step. The step ran to its end on both instances and `order_steps` has one row of it; what must hold is what the
 * vendor's books say: the effect applied once for the order's run — the survivor's — and the paused instance's late
 * request refused as stale (counted), for it carries the fence of a claim the takeover superseded. The timeline shows
 * the step on both instances. And the paused instance's own client, waiting there, is told the answer on record — the
 * survivor's, byte for byte as any retry is — not what its late copy of the run reached.
 */
import { describe, expect, it } from 'vitest';
import type { ServerProcess } from '../../load/lib/server-process.js';
import { orderBody } from '../support/orders.js';
import { freshDatabase, POSTGRES_SKIPPED, POSTGRES_UNAVAILABLE, sql } from '../support/postgres.js';
import { usePostgresInstances } from '../support/server-instances.js';
import { eventually } from '../support/wait.js';
import { readFollowingRetryAfter } from '../support/http.js';

const postgres = usePostgresInstances();

/** Short, so that the takeover comes within the test; long enough not to lapse on a busy machine. */
const LEASE_MS = 2000;
/** The vendor's wait: long enough for the pause to outlast the lease while it sleeps, on both instances. */
const VENDOR_MS = 6000;

interface EffectRow {
  readonly step: string;
  readonly fence: number;
  readonly instance: string | null;
  readonly answer: string;
}

interface TimelineJson {
  readonly lifecycle?: string;
  readonly step_attempts: readonly { step: string; instance_id: string; outcome: string }[];
  readonly step_effects?: readonly { step: string; instance_id: string | null; fence: number; answer: string }[];
}

const instanceId = async (target: ServerProcess): Promise<string> =>
  ((await (await fetch(new URL('/healthz', target.url))).json()) as { durable: { instance_id: string } }).durable
    .instance_id;

async function lifecycle(target: ServerProcess, orderId: string): Promise<string | undefined> {
  const response = await readFollowingRetryAfter(new URL(`/orders/${orderId}`, target.url));
  return response.status === 200 ? ((await response.json()) as { lifecycle: string }).lifecycle : undefined;
}

const timeline = async (target: ServerProcess, orderId: string): Promise<TimelineJson> =>
  (await (await readFollowingRetryAfter(new URL(`/orders/${orderId}/timeline`, target.url))).json()) as TimelineJson;

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`a step's external effect${POSTGRES_SKIPPED}`, () => {
  it(
    'is applied once when an instance paused past its lease finishes a step the survivor ran again: its late request refused as stale, the step on both instances in the timeline',
    { timeout: 60_000 },
    async () => {
      const url = await freshDatabase(postgres.server());
      const env = { LEASE_MS: String(LEASE_MS) };
      const [paused, survivor] = await Promise.all([postgres.instance(url, env), postgres.instance(url, env)]);
      const [pausedId, survivorId] = await Promise.all([instanceId(paused), instanceId(survivor)]);
      const body = orderBody({
        order_id: 'paused-vendor',
        deadline_ms: 30_000,
        delay_ms: { payment: 0, vendor: VENDOR_MS, courier: 0 },
      });
      const accepted = await fetch(new URL('/order', paused.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', prefer: 'respond-async' },
        body: JSON.stringify(body),
      });
      expect(accepted.status).toBe(202);
      // Its payment and courier ended and recorded; its vendor waits on the vendor.
      await eventually(
        () => sql<{ n: number }>(url, `SELECT count(*)::int AS n FROM order_steps WHERE outcome = 'ok'`),
        ([row]) => row!.n === 2,
      );
      paused.child.kill('SIGSTOP');
      try {
        // Taken over once the paused instance's lease lapses, resumed after its recorded steps: the vendor runs again.
        const ended = await eventually(
          () => lifecycle(survivor, 'paused-vendor'),
          (state) => state === 'succeeded',
          { within: 30_000, every: 100 },
        );
        expect(ended).toBe('succeeded');
      } finally {
        paused.child.kill('SIGCONT');
      }
      // Woken, the paused instance's vendor step finishes, its wait long over, and sends its request as it was given.
      const vendor = (): Promise<EffectRow[]> =>
        sql<EffectRow>(
          url,
          `SELECT step, fence, instance::text, answer FROM service_requests WHERE step = 'vendor' ORDER BY received_at`,
        );
      const requests = await eventually(vendor, (rows) => rows.length === 2, { within: 10_000, every: 100 }).catch(
        async (error: unknown) => {
          // What the paused instance did since it woke: its warnings and errors, and whether it still runs the order.
          const health = await fetch(new URL('/healthz', paused.url)).then((response) => response.text(), String);
          throw new Error(`${String(error)}; the paused instance: ${health}\n${paused.stdout.join('\n')}`);
        },
      );
      expect(requests).toMatchObject([
        { answer: 'applied', instance: survivorId },
        { answer: 'stale', instance: pausedId, fence: 0 },
      ]);
      expect(requests[0]!.fence).toBeGreaterThan(0);
      // The courier's ended before the pause, on the paused instance: applied once, under the run's first claim.
      expect(
        await sql<EffectRow>(
          url,
          `SELECT step, fence, instance::text, answer FROM service_requests WHERE step = 'courier'`,
        ),
      ).toEqual([{ step: 'courier', fence: 0, instance: pausedId, answer: 'applied' }]);
      // One record of the step, whatever ran it.
      expect(await sql<{ n: number }>(url, `SELECT count(*)::int AS n FROM order_steps WHERE step = 'vendor'`)).toEqual(
        [{ n: 1 }],
      );

      // The timeline shows the vendor step on both instances: its attempts, and its requests with what became of each.
      const { step_attempts: attempts, step_effects: effects } = await timeline(survivor, 'paused-vendor');
      expect(attempts.filter((attempt) => attempt.step === 'vendor')).toMatchObject([
        { instance_id: pausedId, outcome: 'lost' },
        { instance_id: survivorId, outcome: 'ok' },
      ]);
      expect(effects?.filter((effect) => effect.step === 'vendor')).toMatchObject([
        { instance_id: survivorId, answer: 'applied' },
        { instance_id: pausedId, fence: 0, answer: 'stale' },
      ]);
    },
  );

  it(
    'leaves the paused instance’s waiting client the answer on record, byte for byte as a retry’s, not its late copy’s',
    { timeout: 60_000 },
    async () => {
      const url = await freshDatabase(postgres.server());
      const env = { LEASE_MS: String(LEASE_MS) };
      const [paused, survivor] = await Promise.all([postgres.instance(url, env), postgres.instance(url, env)]);
      const body = orderBody({
        order_id: 'paused-client',
        deadline_ms: 30_000,
        delay_ms: { payment: 0, vendor: VENDOR_MS, courier: 0 },
      });
      const send = (target: ServerProcess): Promise<{ status: number; text: string }> =>
        fetch(new URL('/order', target.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }).then(async (response) => ({ status: response.status, text: await response.text() }));
      // Its client waits on the instance about to be paused.
      const waiting = send(paused);
      await eventually(
        () => sql<{ n: number }>(url, `SELECT count(*)::int AS n FROM order_steps WHERE outcome = 'ok'`),
        ([row]) => row!.n === 2,
      );
      paused.child.kill('SIGSTOP');
      try {
        await eventually(
          () => lifecycle(survivor, 'paused-client'),
          (state) => state === 'succeeded',
          { within: 30_000, every: 100 },
        );
      } finally {
        paused.child.kill('SIGCONT');
      }
      const told = await waiting;
      const retried = await send(survivor);
      expect(retried.status).toBe(200);
      // Before: its own result under the kind on record — its own threads and durations, a body no replay gives.
      expect(told).toEqual(retried);
    },
  );
});
