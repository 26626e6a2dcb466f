/**
 * Priority tiers under load (issue 31), over real HTTP: a free flood beside a critical client, a critical flood beside
 * a free client, light load. Driven alike by test/integration/priority-tiers.test.ts and `npm run measure -- tiers`.
 * Each flood is sent from a process of its own (load/lib/flood-process.ts), as from another machine: its fetches and
 * the parsing of its thousands of 503s keep another process busy than the service's and the victim's.
 */
import { freshOrder, keepSending, victimFigures, type Sender } from './client-scenarios.js';
import { floodFrom, type FloodFigures } from './flood.js';

/** Orders whose steps each take 300 ms (the issue's). */
export const SLOW_STEPS = { delay_ms: { payment: 300, vendor: 300, courier: 300 } } as const;
const order = (): unknown => freshOrder(SLOW_STEPS);
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A flood's orders a second: some fifteen times what MAX_INFLIGHT=20 of 300 ms orders admits (about 65 a second),
 * the rate the tiers must hold against (a tier that holds at 400 a second and not at 1,000 holds by luck of timing).
 */
const FLOOD_PER_SECOND = 1000;

/** `connections` loops of SLOW_STEPS orders for `ms`, from a process of their own, as a client of `tier`, under way. */
async function flood(
  sender: Sender,
  connections: number,
  ms: number,
  tier: string,
): Promise<{ readonly figures: Promise<FloodFigures> }> {
  const { started, figures } = floodFrom(sender, {
    connections,
    ms,
    tier,
    perSecond: FLOOD_PER_SECOND,
    fields: SLOW_STEPS,
  });
  await started;
  return { figures };
}

/** The critical client alone on 2 connections; then beside the free one's flood on 40, after `settleMs`. */
export async function freeFlood(free: Sender, critical: Sender, { seconds = 3, settleMs = 1000 } = {}) {
  const alone = await keepSending(critical, 2, performance.now() + seconds * 1000, order);
  const flooding = await flood(free, 40, settleMs + seconds * 1000, 'free');
  await pause(settleMs);
  const beside = await keepSending(critical, 2, performance.now() + seconds * 1000, order);
  return { alone: victimFigures(alone), beside: victimFigures(beside), free: await flooding.figures };
}

/** The critical client floods on 40 connections; after `settleMs` the free one sends one order at a time. */
export async function criticalFlood(critical: Sender, free: Sender, { seconds = 5, settleMs = 1000 } = {}) {
  const flooding = await flood(critical, 40, settleMs + seconds * 1000, 'critical');
  await pause(settleMs);
  const trickle = await keepSending(free, 1, performance.now() + seconds * 1000, order);
  return { free: victimFigures(trickle), critical: await flooding.figures };
}

/**
 * Both clients on 1 connection each, below every tier's ceiling: at most 2 of MAX_INFLIGHT and 2 of 5 couriers, under
 * the free tier's 70%. On 2 connections each, 4 couriers, the free client's order that would take the fourth waited
 * for one to end (the headroom is the tiers' above, by design): 2 of its ~12 orders took 600 ms, and a busy machine's
 * 6 moved its median to 651 ms against 376 without tiers. What each got is counted after `warmUpMs` of the same — a
 * fresh service's first orders compile its code, and took 480–680 ms of 300 ms steps where the rest took 320.
 */
export async function lightLoad(a: Sender, b: Sender, { seconds = 4, warmUpMs = 1000 } = {}) {
  const warm = performance.now() + warmUpMs;
  await Promise.all([keepSending(a, 1, warm, order), keepSending(b, 1, warm, order)]);
  const end = performance.now() + seconds * 1000;
  const [first, second] = await Promise.all([keepSending(a, 1, end, order), keepSending(b, 1, end, order)]);
  return { a: victimFigures(first), b: victimFigures(second) };
}
