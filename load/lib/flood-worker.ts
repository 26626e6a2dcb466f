/** A flood sent from a worker thread (load/lib/tier-scenarios.ts), its figures posted back. */
import { parentPort, workerData } from 'node:worker_threads';
import { freshOrder, keepSending } from './client-scenarios.js';
import { floodFigures, SLOW_STEPS } from './tier-scenarios.js';

const flood = workerData as {
  url: string;
  key?: string;
  connections: number;
  ms: number;
  tier: string;
  perSecond: number;
};
const sender = { url: new URL(flood.url), ...(flood.key ? { key: flood.key } : {}) };
const order = (): unknown => freshOrder(SLOW_STEPS);
const answers = await keepSending(sender, flood.connections, performance.now() + flood.ms, order, flood.perSecond);
parentPort!.postMessage(floodFigures(answers, flood.tier));
