/**
 * The webhook backlog's hostile client (issue 77), for the memory and the
 * durable mode alike: an attacker registers endpoints that all answer 500
 * and sends orders that fail at its rate limit, so every one of its events
 * is owed to every endpoint and retried for the whole retry window; its
 * victim, beside it, has one healthy endpoint. What the victim's endpoint
 * got, and how long after each order was answered.
 */
import { freshOrder, VICTIM_PREFIX, type Sender } from '../../load/lib/client-scenarios.js';
import { floodFrom } from '../../load/lib/flood.js';
import { rawRequestFollowingRetryAfter } from './http.js';
import { pause } from './wait.js';
import {
  startFailingReceiver,
  startReceiverOnThread,
  startWorkingReceiver,
  type ThreadReceiver,
} from './webhook-receiver.js';

const INSTANT = { payment: 0, vendor: 0, courier: 0 };
/**
 * The attacker's loops: enough that its rate, not its answers' round trips, bounds it. 80 at 100 a second send each
 * every 800 ms: its answers took some 250 ms in a full run (10 loops sent 267 orders in 7 s), and about 1 s with three
 * files at once beside two busy loops, where 40 sent 247–296.
 */
const ATTACK_CONNECTIONS = 80;

export interface FloodFigures {
  /** The victim's orders answered 200, by order_id, with when each was answered (performance.now()). */
  readonly answered: ReadonlyMap<string, number>;
  /** Per victim order delivered: how long after its answer its event arrived, in ms. */
  readonly delays: ReadonlyMap<string, number>;
  /** Orders the attacker had answered. */
  readonly attackOrders: number;
  /** The victim's orders answered otherwise, by status: what the victim met instead, when it met anything else. */
  readonly victimRefused: ReadonlyMap<number, number>;
}

export interface FloodOptions {
  /** The attacker's endpoints, all failing — or, for a control, all working. */
  readonly endpoints?: number;
  readonly failing?: boolean;
  /** Its orders a second: its rate limit. */
  readonly rate?: number;
  /** The attack alone first, to fill what it can fill. */
  readonly fillMs?: number;
  /** Then the victim's orders, one each `everyMs`, for `victimMs`, the attack going on. */
  readonly victimMs?: number;
  readonly everyMs?: number;
  /** How long the victim's last deliveries are waited for once the attack has stopped. */
  readonly settleMs?: number;
}

/**
 * The webhook registered as a client following Retry-After does: right after a flood of its orders, the client's
 * requests are shed while the loop runs late (src/http/guards/client-load.ts), and an endpoint left registered
 * counts against the next flood's WEBHOOKS_PER_CLIENT.
 */
export async function registerWebhook(url: URL, key: string, target: string): Promise<{ id: string; secret: string }> {
  const response = await rawRequestFollowingRetryAfter(url, {
    method: 'POST',
    path: '/webhooks',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: target }),
  });
  if (response.status !== 201) throw new Error(`registering ${target}: ${response.status} ${response.text}`);
  return response.json() as { id: string; secret: string };
}

/** Every endpoint `key`'s client has, deleted, each asked as registerWebhook asks: how many. */
export async function removeWebhooks(url: URL, key: string): Promise<number> {
  const headers = { authorization: `Bearer ${key}` };
  const listed = await rawRequestFollowingRetryAfter(url, { method: 'GET', path: '/webhooks', headers });
  if (listed.status !== 200) throw new Error(`listing the webhooks: ${listed.status} ${listed.text}`);
  const { webhooks } = listed.json() as { webhooks: Array<{ id: string }> };
  for (const { id } of webhooks) {
    const path = `/webhooks/${id}`;
    const deleted = await rawRequestFollowingRetryAfter(url, { method: 'DELETE', path, headers });
    if (deleted.status !== 204) throw new Error(`deleting ${path}: ${deleted.status} ${deleted.text}`);
  }
  return webhooks.length;
}

export async function failingEndpointsFlood(
  attacker: Sender,
  victim: Sender,
  {
    endpoints = 10,
    failing = true,
    rate = 100,
    fillMs = 3000,
    victimMs = 4000,
    everyMs = 200,
    settleMs = 6000,
  }: FloodOptions = {},
): Promise<FloodFigures> {
  const receivers: ThreadReceiver[] = [];
  try {
    const attackers = await (failing ? startFailingReceiver() : startWorkingReceiver());
    receivers.push(attackers);
    for (let i = 0; i < endpoints; i++) await registerWebhook(attacker.url, attacker.key!, `${attackers.url}/${i}`);
    const healthy = await startReceiverOnThread();
    receivers.push(healthy);
    await registerWebhook(victim.url, victim.key!, healthy.url);
    // From a process of its own, as from another machine: not from the event loop of the services under test.
    const attack = floodFrom(attacker, {
      connections: ATTACK_CONNECTIONS,
      ms: fillMs + victimMs,
      tier: '',
      perSecond: rate,
      fields: { fail_step: 'payment', delay_ms: INSTANT },
    });
    await attack.started;
    await pause(fillMs);
    const answered = new Map<string, number>();
    const victimRefused = new Map<number, number>();
    const sent: Array<Promise<void>> = [];
    // On a schedule, one each `everyMs`, not a pause after each: this process hosts the service in memory, and its loop,
    // late under the attack, stretched each pause of 200 ms to 440 on a CI run (9 orders in the 4 s, none refused).
    const start = performance.now();
    for (let i = 0; i < Math.round(victimMs / everyMs); i++) {
      await pause(Math.max(0, start + i * everyMs - performance.now()));
      const body = freshOrder({ delay_ms: INSTANT }, VICTIM_PREFIX);
      sent.push(
        fetch(new URL('/order', victim.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${victim.key}` },
          body: JSON.stringify(body),
        }).then(async (response) => {
          await response.arrayBuffer();
          if (response.status === 200) answered.set(body['order_id'] as string, performance.now());
          else victimRefused.set(response.status, (victimRefused.get(response.status) ?? 0) + 1);
        }),
      );
    }
    await Promise.all(sent);
    const attackOrders = (await attack.figures).orders;
    // Until every answered order's event has come, counted by order: deliveries are at least once, and a second
    // delivery of one event must not stand in for another's first.
    const delays = new Map<string, number>();
    let read = 0;
    const settled = performance.now() + settleMs;
    for (;;) {
      for (const delivery of healthy.deliveries.slice(read)) {
        const orderId = (JSON.parse(delivery.body) as { data: { order_id: string } }).data.order_id;
        const at = answered.get(orderId);
        if (at !== undefined && !delays.has(orderId)) delays.set(orderId, delivery.at - at);
      }
      read = healthy.deliveries.length;
      if (delays.size >= answered.size || performance.now() >= settled) break;
      await pause(50);
    }
    return { answered, delays, attackOrders, victimRefused };
  } finally {
    await Promise.all(receivers.map((receiver) => receiver.close()));
  }
}
