/**
 * An order's fingerprint (`fingerprintOf`), and what a done record in memory keeps of it: 64 bits
 * (two hashes of it, src/orders/string-hash.ts), not the 43 characters of
 * its SHA-256 — 8 bytes where the string took about 64. Two orders under one
 * id are told apart by those 64 bits but once in 2^64. A record read back
 * shows them as 16 hex digits, which `isFingerprintOf` matches with the
 * fingerprint they were taken from.
 */
import { hash } from 'node:crypto';
import { ACTION_NAMES, STEP_NAMES, type Order } from '../domain/order.js';
import { hashOf } from './string-hash.js';

export interface Fingerprint64 {
  readonly low: number;
  readonly high: number;
}

const SEEDS = [0x66707231, 0x66707232] as const;

export const fingerprint64Of = (fingerprint: string): Fingerprint64 => ({
  low: hashOf(fingerprint, SEEDS[0]),
  high: hashOf(fingerprint, SEEDS[1]),
});

export const sameFingerprint64 = (a: Fingerprint64, b: Fingerprint64): boolean => a.low === b.low && a.high === b.high;

/** The 64 bits as 16 hex digits: a done record's `fingerprint`. */
export const fingerprintText = ({ low, high }: Fingerprint64): string =>
  high.toString(16).padStart(8, '0') + low.toString(16).padStart(8, '0');

/** Whether a record's fingerprint, as its store kept it — whole, or its 64 bits — is `fingerprint`'s. */
export const isFingerprintOf = (kept: string, fingerprint: string): boolean =>
  kept === fingerprint || kept === fingerprintText(fingerprint64Of(fingerprint));

/** Two bodies that decode to the same order — defaults spelled out or not, keys in any order — match. */
export function fingerprintOf(order: Order): string {
  const canonical = JSON.stringify([
    order.orderId,
    order.amount,
    order.failStep ?? null,
    order.failCompensation,
    ACTION_NAMES.map((name) => order.delayMs[name]),
    STEP_NAMES.map((name) => order.cpuMs[name]),
    ACTION_NAMES.map((name) => order.faults?.[name] ?? null),
    // Only when given: the fingerprints of orders without one, kept in the durable store, stay what they were.
    ...(order.deadlineMs === undefined ? [] : [order.deadlineMs]),
  ]);
  // One call, no Hash object: 0.4–0.7 µs here against 1.5–2.3 for createHash().update().digest().
  return hash('sha256', canonical, 'base64url');
}
