/**
 * A flood sent from a process of its own (load/lib/tier-scenarios.ts forks it), as from another machine: its
 * fetches, and the parsing of its thousands of 503s, keep another process busy than the one that measures the
 * victim (and, in the tests, than the service's). Its orders are told in argv as JSON; its figures go back on the
 * IPC channel.
 */
import { freshOrder, keepSending } from './client-scenarios.js';
import { floodFigures, SLOW_STEPS, type FloodOrders } from './tier-scenarios.js';

const flood = JSON.parse(process.argv[2]!) as FloodOrders;
const sender = { url: new URL(flood.url), ...(flood.key ? { key: flood.key } : {}) };
const order = (): unknown => freshOrder(SLOW_STEPS);
const answers = await keepSending(sender, flood.connections, performance.now() + flood.ms, order, flood.perSecond);
process.send!(floodFigures(answers, flood.tier), undefined, undefined, () => process.disconnect!());
