/**
 * A flood, sent from a process of its own (./flood.ts forks it): its orders are told in argv as JSON, its figures go
 * back on the IPC channel.
 */
import { freshOrder, keepSending, type Answer } from './client-scenarios.js';
import type { FloodFigures, FloodOrders } from './flood.js';

const flood = JSON.parse(process.argv[2]!) as FloodOrders;
const sender = { url: new URL(flood.url), ...(flood.key ? { key: flood.key } : {}) };
process.send!('started');
const answers = await keepSending(
  sender,
  flood.connections,
  performance.now() + flood.ms,
  () => freshOrder(flood.fields),
  flood.perSecond || Number.POSITIVE_INFINITY,
);
process.send!(figuresOf(answers, flood.tier), undefined, undefined, () => process.disconnect!());

function figuresOf(answers: readonly Answer[], tier: string): FloodFigures {
  const shed = answers.filter(
    (a) => a.status === 503 && a.body.error?.kind === 'overloaded' && a.headers.has('retry-after'),
  );
  return {
    orders: answers.length,
    ok: answers.filter((answer) => answer.status === 200).length,
    shedNamingTier: tier ? shed.filter((answer) => answer.body.error?.message.includes(`tier ${tier}`)).length : 0,
    shedMessage: shed[0]?.body.error?.message,
  };
}
