import { randomBytes } from 'node:crypto';
/**
 * The pieces of a webhook delivery that need no service: which addresses a
 * webhook may not reach, the check at connection time (DNS rebinding), the
 * retry schedule's shape, the feed's cursor, and each client's share of
 * the sends.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FeedCursors } from '../../src/events/feed-cursor.js';
import { retryDelayMs, triedAgain } from '../../src/events/retry-schedule.js';
import { HeldShares } from '../../src/fairness/held-shares.js';
import { isForbiddenAddress } from '../../src/events/target-guard.js';
import { Webhook } from 'standardwebhooks';
import { signature, WebhookSender } from '../../src/events/webhook-sender.js';
import { eventually, pause } from '../support/wait.js';
import { startReceiver } from '../support/webhook-receiver.js';

describe('target guard', () => {
  it.each([
    '127.0.0.1',
    '10.0.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    'fe80::1',
    'fd00:ec2::254',
    '::ffff:10.0.0.1',
    '64:ff9b::a00:1',
    // IPv6 forms that carry a loopback or private IPv4 address, and site-local (issue 77: each was allowed).
    '::7f00:1',
    '::ffff:0:7f00:1',
    '2002:7f00:1::',
    '64:ff9b:1::a00:1',
    'fec0::1',
    '2001::1',
    '2001:db8::1',
    'not an address',
  ])('refuses %s', (address) => expect(isForbiddenAddress(address)).toBe(true));

  it.each(['93.184.215.14', '8.8.8.8', '2606:4700::1111', '::ffff:1.1.1.1'])('allows %s', (address) =>
    expect(isForbiddenAddress(address)).toBe(false),
  );

  it('checks again at connection time: a name resolving to loopback is refused, without any request arriving', async () => {
    const receiver = await startReceiver();
    const strict = new WebhookSender(false);
    const open = new WebhookSender(true);
    try {
      const port = new URL(receiver.url).port;
      for (const url of [`http://localhost:${port}/hook`, `https://localhost:${port}/hook`, receiver.url]) {
        const result = await strict.attempt({
          client: 'acme',
          url,
          secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
          eventId: 'evt_1',
          body: '{}',
          timeoutMs: 2000,
        });
        expect(result.outcome, url).toBe('failed');
      }
      expect(receiver.deliveries).toHaveLength(0);
      const allowed = await open.attempt({
        client: 'acme',
        url: receiver.url,
        secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        eventId: 'evt_1',
        body: '{}',
        timeoutMs: 2000,
      });
      expect(allowed).toEqual({ outcome: 'delivered', status: 204 });
    } finally {
      strict.close();
      open.close();
      await receiver.close();
    }
  });
});

describe('the sender', () => {
  const attempt = { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', eventId: 'evt_1', body: '{}' };

  it('reads an answer up to a small limit, then closes its connection: a receiver streaming forever costs a moment', async () => {
    let closedAt = 0;
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(200);
      const chunk = Buffer.alloc(1024, 'x');
      const streaming = setInterval(() => res.write(chunk), 5);
      res.once('close', () => {
        clearInterval(streaming);
        closedAt = performance.now();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const sender = new WebhookSender(true);
    try {
      const startedAt = performance.now();
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      expect(await sender.attempt({ ...attempt, url, client: 'acme', timeoutMs: 10_000 })).toEqual({
        outcome: 'delivered',
        status: 200,
      });
      await eventually(
        async () => closedAt,
        (at) => at > 0,
        { within: 12_000 },
      );
      // Before: read for the whole WEBHOOK_TIMEOUT_MS (here 10 s), and its CPU with it.
      expect(closedAt - startedAt).toBeLessThan(2000);
    } finally {
      sender.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  /** A receiver whose /hang paths answer only when released, and whose other paths answer at once. */
  async function hangingHost(): Promise<{ origin: string; hanging: Array<() => void>; close(): Promise<void> }> {
    const hanging: Array<() => void> = [];
    const server = createServer((req, res) => {
      req.resume();
      if (req.url?.startsWith('/hang')) hanging.push(() => res.writeHead(204).end());
      else res.writeHead(204).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      hanging,
      async close() {
        for (const release of hanging.splice(0)) release();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  }

  it("gives each client sockets of its own toward an origin: another tenant's hanging endpoints there delay nobody", async () => {
    const host = await hangingHost();
    const sender = new WebhookSender(true);
    try {
      // More hanging attempts than a client's sockets toward the origin: every one of them is taken.
      const held = Array.from({ length: 20 }, (_, i) =>
        sender.attempt({ ...attempt, url: `${host.origin}/hang/${i}`, client: 'acme', timeoutMs: 3000 }),
      );
      await eventually(
        async () => host.hanging.length,
        (n) => n >= 8,
      );
      const startedAt = performance.now();
      const victims = await Promise.all(
        Array.from({ length: 10 }, () =>
          sender.attempt({ ...attempt, url: `${host.origin}/ok`, client: 'globex', timeoutMs: 3000 }),
        ),
      );
      // Before: one pool of 8 sockets per origin; globex's waited behind acme's, and timed out with them.
      expect(victims.map((result) => result.outcome)).toEqual(Array(10).fill('delivered'));
      expect(performance.now() - startedAt).toBeLessThan(1000);
      await host.close();
      await Promise.all(held);
    } finally {
      sender.close();
      await host.close();
    }
  });

  it("times an attempt from its request's start, not while it waits for a socket", async () => {
    const host = await hangingHost();
    const sender = new WebhookSender(true);
    try {
      // 16 attempts, 8 sockets: the second 8 wait for the first to be answered, a second on.
      const attempts = Array.from({ length: 16 }, (_, i) =>
        sender.attempt({ ...attempt, url: `${host.origin}/hang/${i}`, client: 'acme', timeoutMs: 1500 }),
      );
      for (let wave = 0; wave < 2; wave++) {
        await eventually(
          async () => host.hanging.length,
          (n) => n >= 8,
        );
        await pause(1000);
        for (const release of host.hanging.splice(0)) release();
      }
      // Before: the second 8's time ran while they waited, and they timed out (1.5 s) before a socket came.
      expect((await Promise.all(attempts)).map((result) => result.outcome)).toEqual(Array(16).fill('delivered'));
    } finally {
      sender.close();
      await host.close();
    }
  });
});

describe('signature', () => {
  it('is what the standardwebhooks package signs, for any secret, id, time and body', () => {
    for (let i = 0; i < 50; i++) {
      const secret = `whsec_${Buffer.from(Array.from({ length: 24 + i }, (_, j) => (i * 31 + j * 7) % 256)).toString('base64')}`;
      const body = JSON.stringify({ n: i, text: 'é'.repeat(i), nested: { order_id: `o-${i}` } });
      const at = new Date(1_700_000_000_000 + i * 997_000);
      const seconds = Math.floor(at.getTime() / 1000);
      expect(signature(secret, `evt_${i}`, seconds, body)).toBe(new Webhook(secret).sign(`evt_${i}`, at, body));
    }
  });
});

describe('retry schedule', () => {
  it('first retry within WEBHOOK_RETRY_FIRST_MS, then about three days of attempts', () => {
    const first = 5000;
    const schedule = { retryFirstMs: first, retryMaxMs: 12 * 3_600_000 };
    expect(retryDelayMs(1, schedule, () => 1)).toBe(first);
    expect(retryDelayMs(1, schedule, () => 0)).toBe(first / 2);
    let elapsed = 0;
    let attempts = 1;
    while (elapsed < 3 * 24 * 3_600_000) elapsed += retryDelayMs(attempts++, schedule, () => 0.5);
    expect(attempts).toBeGreaterThan(8);
    expect(attempts).toBeLessThan(25);
  });

  it('tries a first failure again however long it took; later ones only while the retry falls within the window', () => {
    // A 1 s window whose first attempt took 1.2 s to fail (the delivery thread kept off the cores): one retry still.
    expect(triedAgain(1, 1200, 20, 1000)).toBe(true);
    expect(triedAgain(2, 1200, 80, 1000)).toBe(false);
    expect(triedAgain(2, 500, 80, 1000)).toBe(true);
    expect(triedAgain(3, 950, 80, 1000)).toBe(false);
  });

  it('never waits longer than WEBHOOK_RETRY_MAX_MS between attempts, however many failed', () => {
    // The chaos harness's cap: its deliveries failed six times under the faults, the next came after 100-200 s.
    const chaos = { retryFirstMs: 200, retryMaxMs: 5000 };
    expect(retryDelayMs(6, { ...chaos, retryMaxMs: 12 * 3_600_000 }, () => 1)).toBe(204_800);
    expect(retryDelayMs(6, chaos, () => 1)).toBe(5000);
    expect(retryDelayMs(30, chaos, () => 0)).toBe(2500);
    expect(retryDelayMs(1, chaos, () => 1)).toBe(200);
  });
});

describe('feed cursor', () => {
  const cursors = new FeedCursors(randomBytes(32));

  it('reads back only for its own client; garbage is refused', () => {
    const cursor = cursors.cursorOf('acme', [42]);
    expect(cursors.read(cursor, 'acme')).toEqual({ ok: true, after: [42] });
    expect(cursors.read(cursors.cursorOf('acme', [7, 42]), 'acme')).toEqual({ ok: true, after: [7, 42] });
    expect(cursors.read(cursors.cursorOf('acme', []), 'acme')).toEqual({ ok: true, after: [] });
    expect(cursors.read(cursor, 'globex')).toEqual({ ok: false, why: 'other_client' });
    for (const garbage of [
      '',
      'c2.',
      'c2.!!!',
      `c1.${Buffer.from('["acme",42]').toString('base64url')}`,
      `c2.${Buffer.from('["acme"]').toString('base64url')}.AAAA`,
      'x'.repeat(600),
    ])
      expect(cursors.read(garbage, 'acme')).toEqual({ ok: false, why: 'malformed' });
  });

  it('a cursor a client wrote itself, naming a position of its choosing, is refused: it is signed', () => {
    const [payload, mac] = cursors.cursorOf('acme', [42]).slice('c2.'.length).split('.');
    const [client, keyId] = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as [string, string];
    const forged = Buffer.from(JSON.stringify([client, keyId, 7])).toString('base64url');
    // Before: an unsigned cursor, whatever position a client wrote into it was read.
    expect(cursors.read(`c2.${forged}.${mac}`, 'acme')).toEqual({ ok: false, why: 'malformed' });
  });

  it('one made under another secret (before a restart, in memory) points into a history that is gone: expired', () => {
    const before = new FeedCursors(randomBytes(32)).cursorOf('acme', [42]);
    expect(cursors.read(before, 'acme')).toEqual({ ok: false, why: 'expired' });
  });
});

describe('send shares', () => {
  /** Take sends for `client` until its share says no; how many it got. */
  const takeAll = (shares: HeldShares, client: string): number => {
    let taken = 0;
    while (shares.tryTake(client)) taken++;
    return taken;
  };

  it('a client alone holds all but a newcomer’s floor; the newcomer finds it at once', () => {
    const shares = new HeldShares(64, new Map());
    expect(takeAll(shares, 'flood')).toBe(32);
    expect(shares.full()).toEqual(['flood']);
    expect(shares.tryTake('next')).toBe(true);
  });

  it('floors follow CLIENT_WEIGHTS among the active clients, and a send given back is free for the one below its floor', () => {
    let now = 0;
    const shares = new HeldShares(40, new Map([['heavy', 3]]), () => now);
    // heavy (3) and light (1), with the newcomer's 1: floors 24 and 8, 8 kept for a newcomer.
    expect(shares.tryTake('light')).toBe(true);
    expect(takeAll(shares, 'heavy')).toBe(24);
    expect(takeAll(shares, 'light')).toBe(7);
    expect(shares.full().sort()).toEqual(['heavy', 'light']);
    shares.give('heavy');
    expect(shares.tryTake('heavy')).toBe(true);
    // Long after light gave everything back, it is no longer active: heavy may take its floor's room.
    for (let i = 0; i < 8; i++) shares.give('light');
    now += 10_000;
    expect(takeAll(shares, 'heavy')).toBeGreaterThan(0);
    expect(shares.heldOf('heavy')).toBe(30);
  });

  it('the turn goes to the client holding fewest per unit of its weight', () => {
    const shares = new HeldShares(64, new Map([['heavy', 4]]));
    for (let i = 0; i < 4; i++) shares.tryTake('heavy');
    shares.tryTake('light');
    shares.tryTake('light');
    expect(shares.first(['light', 'heavy'])).toBe('heavy');
    expect(shares.first(['light', 'other'])).toBe('other');
  });
});
