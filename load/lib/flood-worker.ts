/**
 * A flood sent from a worker thread (load/lib/tier-scenarios.ts): its
 * connections' fetches — and the parsing of its thousands of 503s — keep
 * another event loop busy than the service's, as a load generator on
 * another machine would, so that what a flood costs the service is the
 * service's own work.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { freshOrder, keepSending } from './client-scenarios.js';
import { floodFigures, SLOW_STEPS, type FloodOrders } from './tier-scenarios.js';

const { url, key, connections, ms, tier } = workerData as FloodOrders;
const answers = await keepSending(
  { url: new URL(url), ...(key ? { key } : {}) },
  connections,
  performance.now() + ms,
  () => freshOrder(SLOW_STEPS),
);
parentPort!.postMessage(floodFigures(answers, tier));
