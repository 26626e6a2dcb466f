/**
 * autocannon, in the suite's own process: every order built here (any
 * scenario, its orders may differ one from the next), every response timed
 * and checked against the status its order must get as it comes. What it
 * costs: it runs on the cores the server runs on, and a JavaScript client
 * takes a good share of them (issue 19: Go 3,311 against this service 2,094
 * orders/s with it, 3,713 against 4,153 with wrk).
 */
import autocannon from 'autocannon';
import { summarize, type Sample } from '../../lib/stats.js';
import { tally, type Generated, type Load, type LoadGenerator, type Running } from './generator.js';

type Instance = PromiseLike<autocannon.Result> & {
  on(event: 'start', listener: () => void): void;
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, latency: number) => void): void;
  on(event: 'reqError', listener: (error: Error & { code?: string }) => void): void;
};

function start({ url, scenario, connections, durationSec, warmUpSec, tag }: Load, measuring: () => void): Running {
  const samples: Sample[] = [];
  const statuses = new Map<number, number>();
  const unexpected = new Map<number, number>();
  const noResponse = new Map<string, number>();
  /** Orders built so far (one a request sent), and before the measured load began (the warm-up's). */
  let next = 0;
  let sentBefore = 0;
  let started = performance.now();
  const instance = autocannon({
    // Known to autocannon, missing from its type declarations.
    ...(warmUpSec > 0 ? ({ warmup: { connections, duration: warmUpSec } } as object) : {}),
    url: url.href,
    connections,
    duration: durationSec,
    // A steady rate across every connection, whatever the answers: an order is sent on time or late, never skipped.
    ...(scenario.rate === undefined ? {} : { overallRate: scenario.rate }),
    timeout: 30,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request, context) => {
          const n = next++;
          (context as { n?: number }).n = n;
          const order = scenario.order(n);
          return { ...request, body: JSON.stringify({ ...order, order_id: `${tag}-${String(order['order_id'])}` }) };
        },
        // Warm-up's responses too: an order answered wrongly is wrong whenever it came.
        onResponse: (status, _body, context) => {
          const n = (context as { n?: number }).n ?? -1;
          if (status !== scenario.expectedStatus(n)) tally(unexpected, status);
        },
      },
    ],
  }) as unknown as Instance;
  // Why requests got no response, by error code: a refused or reset connection is not a slow server.
  instance.on('reqError', (error) =>
    tally(noResponse, error.code ?? (error.message === 'request timed out' ? 'timeout' : error.message)),
  );
  // With a warm-up, autocannon says 'start' as the measured load begins.
  instance.on('start', () => {
    started = performance.now();
    sentBefore = next;
    measuring();
  });
  instance.on('response', (_client, status, _bytes, latency) => {
    samples.push({ at: performance.now() - started, latency });
    tally(statuses, status);
  });
  const finished = (async (): Promise<Generated> => {
    await instance;
    const latencies = samples.map((sample) => sample.latency);
    return {
      responses: samples.length,
      sent: next - sentBefore,
      elapsedMs: performance.now() - started,
      statuses,
      unexpected,
      noResponse,
      latency: summarize(latencies),
      latencies,
      samples,
    };
  })();
  return {
    recentRate: (windowMs) => {
      const since = performance.now() - started - windowMs;
      let count = 0;
      for (let i = samples.length - 1; i >= 0 && samples[i]!.at > since; i--) count++;
      return (count * 1000) / windowMs;
    },
    finished,
  };
}

export const AUTOCANNON: LoadGenerator = { name: 'autocannon', check: () => {}, start };
