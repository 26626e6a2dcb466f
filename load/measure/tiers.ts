/**
 * Who goes first when there is not enough: priority tiers?
 * Kept in: docs/decisions/shares-and-tiers.md
 * Each scenario of load/lib/tier-scenarios.ts on a fresh `npm start` server (MAX_INFLIGHT=20, 300 ms steps), with
 * CLIENT_TIERS=vip:critical,thrift:free and without (the baseline), alternating; then the tier checks' main-thread
 * cost per order, timed here over a million orders. `npm run measure -- tiers --rounds 3`
 */
import { isTier, loweredTier, type Tier } from '../../src/domain/tier.js';
import { DEFAULT_TIER_CEILINGS } from '../../src/fairness/tiers.js';
import { TierHeadroom } from '../../src/fairness/tier-headroom.js';
import type { Sender } from '../lib/client-scenarios.js';
import { parseCommandLine } from '../lib/command-line.js';
import { formatRatio, formatSpread, inRounds, pairRatios, progress, roundsOption, spreadOf } from '../lib/rounds.js';
import { startServerProcess } from '../lib/server-process.js';
import { criticalFlood, freeFlood, lightLoad } from '../lib/tier-scenarios.js';
import { serverLog } from './server-logs.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- tiers',
    summary: 'Priority tiers under a free flood, a critical flood and light load.',
  },
  { rounds: roundsOption(3), seconds: { type: 'integer', default: 4, help: 'seconds of each measured phase' } },
);
const TIERS = 'vip:critical,thrift:free';
const [VIP, THRIFT] = ['vip_key_0123456789abcdefghijklmnopqrstuvw', 'thrift-key-0123456789ABCDEFGHIJKLMNOPQR'];

async function withServer<T>(tiers: string, run: (vip: Sender, thrift: Sender) => Promise<T>): Promise<T> {
  const env = { API_KEYS: `vip:${VIP},thrift:${THRIFT}`, ADMIN_KEY: 'admin_key_ZYXWVUTSRQPONMLKJIHGFEDCBA0123' };
  const server = await startServerProcess(
    { ...env, THREADS: '2', MAX_INFLIGHT: '20', CLIENT_RATE_LIMIT: '0', LOG_LEVEL: 'warn', CLIENT_TIERS: tiers },
    { logFile: serverLog(`tiers-${tiers ? 'set' : 'unset'}`) },
  );
  try {
    return await run({ url: server.url, key: VIP }, { url: server.url, key: THRIFT });
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

const { seconds } = options;
const scenarios = async (tiers: string) => ({
  freeFlood: await withServer(tiers, (vip, thrift) => freeFlood(thrift, vip, { seconds })),
  criticalFlood: await withServer(tiers, (vip, thrift) => criticalFlood(vip, thrift, { seconds })),
  light: await withServer(tiers, (vip, thrift) => lightLoad(vip, thrift, { seconds })),
});
const rounds = await inRounds(options.rounds, async () => ({
  set: await scenarios(TIERS),
  unset: await scenarios(''),
}));

type Round = (typeof rounds)[number]['set'];
const rows: Array<[string, (round: Round) => number]> = [
  ['free flood: critical median alone, ms', (r) => r.freeFlood.alone.medianMs],
  ['free flood: critical median beside, ms', (r) => r.freeFlood.beside.medianMs],
  ['free flood: critical beside ÷ alone', (r) => r.freeFlood.beside.medianMs / r.freeFlood.alone.medianMs],
  ['free flood: critical answered 200, %', (r) => 100 * r.freeFlood.beside.ok],
  ['free flood: free answered 200 / 503 naming its tier', (r) => r.freeFlood.free.ok / r.freeFlood.free.shedNamingTier],
  ['critical flood: free answered 200, %', (r) => 100 * r.criticalFlood.free.ok],
  ['light load: medians (vip, thrift), ms', (r) => (r.light.a.medianMs + r.light.b.medianMs) / 2],
  ['light load: answered 200, %', (r) => 50 * (r.light.a.ok + r.light.b.ok)],
];
console.log(`\n| ${options.rounds} rounds: median (min–max) | CLIENT_TIERS set | unset | set ÷ unset |\n|-|-|-|-|`);
for (const [name, of] of rows) {
  const [set, unset] = [rounds.map((round) => of(round.set)), rounds.map((round) => of(round.unset))];
  const ratio = formatRatio(spreadOf(pairRatios(set, unset)));
  console.log(`| ${name} | ${formatSpread(spreadOf(set))} | ${formatSpread(spreadOf(unset))} | ${ratio} |`);
}

progress('timing the tier checks per order: the header read and lowered, the caller’s tier, the headroom’s look');
const headroom = new TierHeadroom({
  ...{ ceilings: DEFAULT_TIER_CEILINGS, maxInflight: 10_000, poolQueueLimit: 30_000, poolQueued: () => 12 },
  ...{ recordsMaxBytes: 2 ** 30, recordsBytes: () => 2 ** 20, loopLateMs: () => 1, configured: ['critical', 'free'] },
});
const configured = new Map<string, Tier>([['thrift', 'free']]);
const [headers, orders, timings] = [[undefined, 'free', 'critical', undefined], 1_000_000, [] as number[]];
for (let round = 0, shed = 0; round < 5; round++) {
  const started = performance.now();
  for (let n = 0; n < orders; n++) {
    const header = headers[n & 3] ?? '';
    const tier = loweredTier(
      configured.get(n & 1 ? 'thrift' : 'vip') ?? 'standard',
      isTier(header) ? header : undefined,
    );
    if (headroom.fullFor(tier, n % 9000)) shed++;
  }
  timings.push(((performance.now() - started) * 1000) / orders);
  if (shed === 0) throw new Error('nothing shed: the checks were not exercised');
}
const perOrder = formatSpread(spreadOf(timings), (us) => us.toFixed(3));
console.log(`\ntier checks: ${perOrder} µs per order (5 rounds of 1,000,000)`);
