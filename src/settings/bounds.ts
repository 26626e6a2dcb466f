/**
 * The bounds and defaults that are derived rather than chosen: from other
 * settings (a shutdown must leave a canceled order time to void its payment),
 * or from the machine (the open-file limit, the heap).
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from './setting.js';

/** Kept at shutdown beyond what a canceled order needs, for the answers to be written. */
export const SHUTDOWN_MARGIN_MS = 250;

/**
 * How long a canceled order can take to end: its steps stop, or their thread
 * is killed, within a grace period; then its payment is voided, under the
 * refund's deadline — and a refund that ignores that has a grace period too.
 * A refund that must first wait for a killed thread's replacement to start
 * (with THREADS=1 none is up meanwhile) waits beyond this, by a thread's
 * start: not counted, since a start's length is the machine's, not a setting.
 */
export function windDownMs(config: { readonly cancelGraceMs: number; readonly refundTimeoutMs: number }): number {
  return 2 * config.cancelGraceMs + config.refundTimeoutMs;
}

/**
 * What revoking a courier slot takes beyond CANCEL_GRACE_MS: a stuck
 * thread, terminated once its grace has passed, must still exit (the chaos
 * harness checks that no courier is lent twice meanwhile).
 */
export const THREAD_EXIT_MS = 50;

/**
 * How long before Postgres would let its lease go an instance gives it up
 * itself (docs/deploying.md, leases and self-fencing): a fifth of the lease, and never less
 * than a revocation takes — once the lease is given up, every courier slot
 * lent under it must be back before Postgres lets another instance take
 * its row, and a stuck thread lets go only when terminated, CANCEL_GRACE_MS
 * after the cancellation, plus its exit.
 */
export function leaseMarginMs({
  leaseMs,
  cancelGraceMs,
}: {
  readonly leaseMs: number;
  readonly cancelGraceMs: number;
}): number {
  return Math.max(leaseMs / 5, cancelGraceMs + THREAD_EXIT_MS);
}

/**
 * The shortest LEASE_MS: one whose margin is at most half of it. After each
 * renewal leaves, an instance counts on its lease for LEASE_MS less the
 * margin, and renews every third of LEASE_MS: with half left, the next
 * renewal is due a third in and has a sixth of the lease (100 ms at the
 * shortest lease the default CANCEL_GRACE_MS allows) to come back. With
 * less, a round trip slowed by a busy machine gives the lease up with
 * nothing wrong; past two thirds, no renewal can ever come back in time and
 * the instance would give its lease up every period.
 */
export function shortestLeaseMs(cancelGraceMs: number): number {
  return Math.max(500, 2 * (cancelGraceMs + THREAD_EXIT_MS));
}

/** The order records may take at most this share of the main thread's heap. */
export const RECORDS_HEAP_SHARE = 0.25;

/**
 * This process's open-file limit (the soft one, which is what accept() runs into), or undefined if unknown or
 * unlimited.
 */
export function openFileLimit(): number | undefined {
  try {
    const match = /^Max open files\s+(\d+)\s/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Descriptors kept for everything but client connections: stdio, the event
 * loops of the main and worker threads (about 4 per thread, measured), the
 * listening socket, a replacement thread starting, /proc reads for metrics.
 */
export function descriptorReserve(threads: number): number {
  return 128 + 8 * threads;
}

/** Where the open-file limit is unknown, connections served by default. */
export const FALLBACK_MAX_CONNECTIONS = 16_384;

/**
 * Connections open at once, at most: every descriptor but the reserve may
 * hold one. Undefined when the open-file limit is unknown.
 */
export function connectionHardLimit(fdLimit: number | undefined, threads: number): number | undefined {
  if (fdLimit === undefined) return undefined;
  const hardLimit = fdLimit - descriptorReserve(threads);
  if (hardLimit < 1)
    throw new ConfigError(
      `the open-file limit (${fdLimit}) leaves no descriptor for connections with THREADS=${threads}; raise it (ulimit -n)`,
    );
  return hardLimit;
}

/**
 * DRAIN_DELAY_MS's default in a pod: endpoints, kube-proxy and ingress
 * controllers hear of a terminating pod a few seconds after it got SIGTERM,
 * and keep routing new connections to it until then.
 */
export const KUBERNETES_DRAIN_DELAY_MS = 5000;

/** The Standard Webhooks retry window: about three days of retries before an endpoint is given up. */
export const THREE_DAYS_MS = 3 * 24 * 3_600_000;
