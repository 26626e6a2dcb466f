/**
 * What a done order leaves in the in-memory store, all in: its record (key,
 * index, outcome, fingerprint) and the provider's books of it. Orders are
 * run through the store as the service runs them — begun, charged, finished
 * with three steps that succeeded — with ids of 20 to 36 characters, and the
 * memory they leave is read after full collections: the V8 heap and the
 * array buffers outside it (typed arrays keep their bytes there), so that
 * neither kind of memory hides the other. Beside it, what the store charges
 * them against ORDER_RECORDS_MAX_MB (`estimatedBytes`): the two must agree.
 *
 * Needs `gc`: run with --expose-gc, or let `collector()` expose it.
 */
import { hash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { orderKey } from '../../src/domain/order.js';
import type { OrderResult } from '../../src/pipeline/order-pipeline.js';
import { MemoryStore } from '../../src/store/memory-store.js';

export interface RecordBytes {
  readonly orders: number;
  /** Heap and array buffers after the orders, less before, per order. */
  readonly measuredPerOrder: number;
  /** Of which in the V8 heap, per order. */
  readonly heapPerOrder: number;
  /** What the store charges them in its bound, per order. */
  readonly chargedPerOrder: number;
  /** Orders kept at the end (all of them, or the bound was too small). */
  readonly kept: number;
}

/** A full collection, exposed if the process was not started with --expose-gc. */
export function collector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const ID_CHARACTERS = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** An id of 20 to 36 characters, as clients make them (a UUID is 36). */
function randomId(): string {
  const length = 20 + Math.floor(Math.random() * 17);
  let id = '';
  for (let i = 0; i < length; i++) id += ID_CHARACTERS[Math.floor(Math.random() * ID_CHARACTERS.length)];
  return id;
}

/** What three 1 ms steps on two threads answer. */
function succeeded(orderId: string, n: number): OrderResult {
  const step = (name: 'payment' | 'vendor' | 'courier', effect?: 'applied') => ({
    name,
    status: 'ok' as const,
    durationMs: 1 + (n % 4),
    threadId: 1 + (n % 2),
    attempts: 1,
    dependency: 'answered' as const,
    ...(effect ? { effect } : {}),
  });
  return {
    orderId,
    steps: [step('payment', 'applied'), step('vendor'), step('courier')],
    compensations: [],
    failure: undefined,
  };
}

const inUse = (): { all: number; heap: number } => {
  const usage = process.memoryUsage();
  return { all: usage.heapUsed + usage.arrayBuffers, heap: usage.heapUsed };
};

const newStore = (maxBytes: number): MemoryStore =>
  new MemoryStore({
    ttlMs: 3_600_000,
    maxBytes,
    couriers: 5,
    atRiskBytes: 270,
    eventsMax: 1,
    clientWeights: new Map(),
  });

/**
 * `orders` done orders of one client in a store bounded by `maxBytes`, kept for an hour. A few thousand go through a
 * store of their own first, so that the code they run is compiled before memory is read: compiled code is heap too.
 */
export async function measureRecordBytes(orders: number, maxBytes = 2 ** 31): Promise<RecordBytes> {
  const gc = collector();
  await fill(newStore(maxBytes), 5000);
  const store = newStore(maxBytes);
  const settle = (): void => {
    for (let i = 0; i < 4; i++) gc();
  };
  settle();
  const before = inUse();
  await fill(store, orders);
  settle();
  const after = inUse();
  const kept = store.records.size();
  return {
    orders,
    measuredPerOrder: (after.all - before.all) / kept,
    heapPerOrder: (after.heap - before.heap) / kept,
    chargedPerOrder: store.records.estimatedBytes() / kept,
    kept,
  };
}

/** Runs `orders` through `store` as the service would: each begun, charged, and done with three steps that succeeded. */
async function fill(store: MemoryStore, orders: number): Promise<void> {
  for (let n = 0; n < orders; n++) {
    const orderId = randomId();
    const key = orderKey('shop-a', orderId);
    const begun = await store.records.begin(key, hash('sha256', orderId, 'base64url'), 'standard');
    if (begun.kind !== 'started') break;
    await store.ledger.charge({ order: key, run: begun.run }, 1200, false);
    const result = succeeded(orderId, n);
    await store.records.finish(key, begun.run, { kind: 'ok', replay: result });
  }
}
