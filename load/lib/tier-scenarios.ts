/**
 * Priority tiers under load (issue 31), over real HTTP: a free flood beside a
 * critical client, a critical flood beside a free client, and the same light
 * load with and without tiers. Driven alike by the tests that prove them
 * (test/integration/priority-tiers.test.ts) and by `npm run measure -- tiers`.
 * Each flood is sent from a worker thread (load/lib/flood-worker.ts).
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { compiledModule } from '../../src/paths.js';
import {
  freshOrder,
  keepSending,
  victimFigures,
  type Answer,
  type Sender,
  type VictimFigures,
} from './client-scenarios.js';

/** Orders whose steps each take 300 ms (the issue's). */
export const SLOW_STEPS = { delay_ms: { payment: 300, vendor: 300, courier: 300 } } as const;

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const until = (ms: number): number => performance.now() + ms;

/** What a flooding client got: its answers, and how many were 200 and 503 overloaded naming its tier. */
export interface FloodFigures {
  readonly orders: number;
  readonly ok: number;
  readonly shedNamingTier: number;
  /** One message of a 503, to show. */
  readonly shedMessage: string | undefined;
}

export function floodFigures(answers: readonly Answer[], tier: string): FloodFigures {
  const shed = answers.filter(
    (answer) => answer.status === 503 && answer.body.error?.kind === 'overloaded' && answer.headers.has('retry-after'),
  );
  return {
    orders: answers.length,
    ok: answers.filter((answer) => answer.status === 200).length,
    shedNamingTier: shed.filter((answer) => answer.body.error?.message.includes(`tier ${tier}`)).length,
    shedMessage: shed[0]?.body.error?.message,
  };
}

/** What a flood sends: orders with SLOW_STEPS, by `connections` loops for `ms`, as a client of `tier`. */
export interface FloodOrders {
  readonly url: string;
  readonly key: string | undefined;
  readonly connections: number;
  readonly ms: number;
  readonly tier: string;
}

/** A flood sent from a worker thread (load/lib/flood-worker.ts): what it got. */
async function flood(sender: Sender, connections: number, ms: number, tier: string): Promise<FloodFigures> {
  const orders: FloodOrders = { url: sender.url.href, key: sender.key, connections, ms, tier };
  const worker = new Worker(compiledModule('load/lib/flood-worker'), { workerData: orders });
  const [figures] = (await once(worker, 'message')) as [FloodFigures];
  await once(worker, 'exit');
  return figures;
}

/**
 * The critical client alone on `connections` for `seconds`; then the free one floods on `floodConnections` and, after
 * `settleMs`, the critical one sends again as before.
 */
export async function freeFlood(
  free: Sender,
  critical: Sender,
  { seconds = 3, connections = 2, floodConnections = 40, settleMs = 1000 } = {},
): Promise<{ alone: VictimFigures; beside: VictimFigures; free: FloodFigures }> {
  const order = (): unknown => freshOrder(SLOW_STEPS);
  const alone = await keepSending(critical, connections, until(seconds * 1000), order);
  const end = until(settleMs + seconds * 1000);
  const flooding = flood(free, floodConnections, settleMs + seconds * 1000, 'free');
  await pause(settleMs);
  const beside = await keepSending(critical, connections, end, order);
  return { alone: victimFigures(alone), beside: victimFigures(beside), free: await flooding };
}

/** The critical client floods on `floodConnections`; after `settleMs` the free one sends one order at a time. */
export async function criticalFlood(
  critical: Sender,
  free: Sender,
  { seconds = 5, floodConnections = 40, settleMs = 1000 } = {},
): Promise<{ free: VictimFigures; critical: FloodFigures }> {
  const order = (): unknown => freshOrder(SLOW_STEPS);
  const end = until(settleMs + seconds * 1000);
  const flooding = flood(critical, floodConnections, settleMs + seconds * 1000, 'critical');
  await pause(settleMs);
  const trickle = await keepSending(free, 1, end, order);
  return { free: victimFigures(trickle), critical: await flooding };
}

/** Both clients on `connections` each, below capacity, for `seconds`: what each got. */
export async function lightLoad(
  a: Sender,
  b: Sender,
  { seconds = 2.5, connections = 2 } = {},
): Promise<{ a: VictimFigures; b: VictimFigures }> {
  const order = (): unknown => freshOrder(SLOW_STEPS);
  const end = until(seconds * 1000);
  const [first, second] = await Promise.all([
    keepSending(a, connections, end, order),
    keepSending(b, connections, end, order),
  ]);
  return { a: victimFigures(first), b: victimFigures(second) };
}
