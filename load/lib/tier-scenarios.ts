/**
 * Priority tiers under load (issue 31), over real HTTP: a free flood beside a critical client, a critical flood beside
 * a free client, light load. Driven alike by test/integration/priority-tiers.test.ts and `npm run measure -- tiers`.
 * Each flood is sent from a process of its own (load/lib/flood-process.ts), as from another machine: its fetches and
 * the parsing of its thousands of 503s keep another process busy than the service's and the victim's.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { compiledModule, pathOf } from '../../src/paths.js';
import { freshOrder, keepSending, victimFigures, type Answer, type Sender } from './client-scenarios.js';

/** Orders whose steps each take 300 ms (the issue's). */
export const SLOW_STEPS = { delay_ms: { payment: 300, vendor: 300, courier: 300 } } as const;
const order = (): unknown => freshOrder(SLOW_STEPS);
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What a flooding client got: answers, 200s, and 503 overloaded with Retry-After naming its tier (one message). */
export function floodFigures(answers: readonly Answer[], tier: string) {
  const shed = answers.filter(
    (a) => a.status === 503 && a.body.error?.kind === 'overloaded' && a.headers.has('retry-after'),
  );
  return {
    orders: answers.length,
    ok: answers.filter((answer) => answer.status === 200).length,
    shedNamingTier: shed.filter((answer) => answer.body.error?.message.includes(`tier ${tier}`)).length,
    shedMessage: shed[0]?.body.error?.message,
  };
}
export type FloodFigures = ReturnType<typeof floodFigures>;

/**
 * A flood's orders a second: some fifteen times what MAX_INFLIGHT=20 of 300 ms orders admits (about 65 a second),
 * the rate the tiers must hold against (a tier that holds at 400 a second and not at 1,000 holds by luck of timing).
 */
const FLOOD_PER_SECOND = 1000;

/** What the flood's process is told. */
export interface FloodOrders {
  readonly url: string;
  readonly key?: string;
  readonly connections: number;
  readonly ms: number;
  readonly tier: string;
  readonly perSecond: number;
}

/** `connections` loops of SLOW_STEPS orders for `ms`, from a process of its own, as a client of `tier`: what it got. */
async function flood({ url, key }: Sender, connections: number, ms: number, tier: string): Promise<FloodFigures> {
  const orders: FloodOrders = {
    url: url.href,
    ...(key ? { key } : {}),
    connections,
    ms,
    tier,
    perSecond: FLOOD_PER_SECOND,
  };
  const child = fork(pathOf(compiledModule('load/lib/flood-process')), [JSON.stringify(orders)], {
    stdio: 'inherit',
    execArgv: [],
  });
  // Listened for at once: the process may be gone before the message's handler has run.
  const exited = once(child, 'exit');
  const [figures] = (await once(child, 'message')) as [FloodFigures];
  const [code] = (await exited) as [number | null];
  if (code !== 0) throw new Error(`the ${tier} flood's process exited ${code}`);
  return figures;
}

/** The critical client alone on 2 connections; then beside the free one's flood on 40, after `settleMs`. */
export async function freeFlood(free: Sender, critical: Sender, { seconds = 3, settleMs = 1000 } = {}) {
  const alone = await keepSending(critical, 2, performance.now() + seconds * 1000, order);
  const flooding = flood(free, 40, settleMs + seconds * 1000, 'free');
  await pause(settleMs);
  const beside = await keepSending(critical, 2, performance.now() + seconds * 1000, order);
  return { alone: victimFigures(alone), beside: victimFigures(beside), free: await flooding };
}

/** The critical client floods on 40 connections; after `settleMs` the free one sends one order at a time. */
export async function criticalFlood(critical: Sender, free: Sender, { seconds = 5, settleMs = 1000 } = {}) {
  const flooding = flood(critical, 40, settleMs + seconds * 1000, 'critical');
  await pause(settleMs);
  const trickle = await keepSending(free, 1, performance.now() + seconds * 1000, order);
  return { free: victimFigures(trickle), critical: await flooding };
}

/** Both clients on 2 connections each, well below capacity: what each got. */
export async function lightLoad(a: Sender, b: Sender, { seconds = 2.5 } = {}) {
  const end = performance.now() + seconds * 1000;
  const [first, second] = await Promise.all([keepSending(a, 2, end, order), keepSending(b, 2, end, order)]);
  return { a: victimFigures(first), b: victimFigures(second) };
}
