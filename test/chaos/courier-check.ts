/**
 * The courier samples against COURIERS: who lends what, and whether an
 * excess is the one overlap leases allow.
 *
 * A sum over COURIERS in one sample may be skew between the instances' reads
 * (courier-monitor.ts); in two samples running it is an excess. Each excess
 * is explained sample by sample, per instance, from its /healthz and
 * Postgres's rows:
 * - lent after its lease was given up: busy beyond the rows it believes it
 *   holds (it forgot them when it gave its identity up; its steps have not
 *   all let go yet);
 * - lent beyond its rows in Postgres: it believes it holds rows Postgres
 *   does not have under its identity — a bug of the allotment, never allowed.
 *
 * The overlap leases allow (docs/deploying.md, leases and self-fencing): a process frozen past
 * its lease holds its couriers through the freeze while Postgres lends its
 * rows again; it can give them back only once it runs. So an excess made
 * only of slots an instance still lends after giving up its lease, right
 * after it was resumed from a pause of the nemesis (SIGSTOP … SIGCONT) across
 * which its identity changed, and over within `boundMs` of the resumption, is
 * reported as a paused holder's overlap, with its duration — not as a
 * violation. Any other excess is `couriers_over_capacity`.
 */
import type { CourierSample, InstanceName, TimelineEntry } from './history.js';

/** One over-capacity stretch that is a paused holder's overlap. */
export interface PausedHolderOverlap {
  readonly instance: InstanceName;
  /** The first and last sample over COURIERS. */
  readonly fromMs: number;
  readonly toMs: number;
  /** From the holder's SIGCONT to the last sample over COURIERS. */
  readonly sinceResumeMs: number;
  /** How long it had been paused. */
  readonly pausedMs: number;
  readonly most: number;
}

export interface CourierFindings {
  /** Excesses that are no overlap leases allow, each said in words. */
  readonly overCapacity: ReadonlyArray<{ readonly atMs: number; readonly message: string }>;
  readonly pausedHolderOverlaps: readonly PausedHolderOverlap[];
}

interface Pause {
  readonly instance: InstanceName;
  readonly stoppedMs: number;
  readonly resumedMs: number;
}

const total = (sample: CourierSample): number => sample.busy.reduce<number>((sum, busy) => sum + (busy ?? 0), 0);
const seconds = (ms: number): string => `+${(ms / 1000).toFixed(1)} s`;

/** Postgres's live rows under an identity; undefined when the sample does not say. */
function rowsInPostgres(sample: CourierSample, identity: string | null | undefined): number | undefined {
  if (!sample.holders || identity === undefined) return undefined;
  if (identity === null) return 0;
  return sample.holders
    .filter((holder) => holder.holder === identity && holder.live)
    .reduce((sum, holder) => sum + holder.rows, 0);
}

/** Slots instance i lends after giving up its lease: busy beyond the rows it believes it holds. */
function lentAfterGivingUp(sample: CourierSample, i: number): number {
  const busy = sample.busy[i] ?? 0;
  const held = sample.held?.[i];
  return held === undefined || held === null ? 0 : Math.max(0, busy - held);
}

/** Who lends what in a sample, in words. */
export function whoLendsWhat(sample: CourierSample, names: readonly InstanceName[]): string {
  const instances = names.map((name, i) => {
    const busy = sample.busy[i];
    if (busy === null || busy === undefined) return `${name} —`;
    const held = sample.held?.[i];
    const identity = sample.identities?.[i];
    const rows = rowsInPostgres(sample, identity);
    const notes: string[] = [];
    if (lentAfterGivingUp(sample, i) > 0) notes.push('lends after giving up its lease');
    if (rows !== undefined && held !== undefined && held !== null && held > rows)
      notes.push('believes it holds rows Postgres does not have');
    const belief = held === undefined || held === null ? '' : `, believes ${held}`;
    const postgres = rows === undefined ? '' : `, Postgres ${rows} under ${identity ?? '(none)'}`;
    return `${name} busy ${busy}${belief}${postgres}${notes.length ? ` (${notes.join('; ')})` : ''}`;
  });
  const others = sample.rows
    ? `; rows live ${sample.rows.live}, dead ${sample.rows.dead}, free ${sample.rows.free}`
    : '';
  return `${instances.join(' / ')}${others}`;
}

function pausesOf(timeline: readonly TimelineEntry[], names: readonly InstanceName[]): Pause[] {
  const pauses: Pause[] = [];
  const stopped = new Map<InstanceName, number>();
  for (const entry of timeline) {
    if (entry.actor !== 'nemesis') continue;
    const [signal, name] = entry.what.split(' ');
    if (name === undefined || !names.includes(name)) continue;
    if (signal === 'SIGSTOP') stopped.set(name, entry.atMs);
    if (signal === 'SIGCONT' && stopped.has(name)) {
      pauses.push({ instance: name, stoppedMs: stopped.get(name)!, resumedMs: entry.atMs });
      stopped.delete(name);
    }
  }
  return pauses;
}

/**
 * The paused holder that explains a run of samples over `couriers`, if one
 * does: in every sample the excess is no more than what that one instance
 * lends after giving up its lease; it was resumed before the run and within
 * `boundMs` of its last sample; and its identity after the pause is not the
 * one it had before.
 */
function pausedHolderOf(
  run: readonly CourierSample[],
  before: readonly CourierSample[],
  couriers: number,
  names: readonly InstanceName[],
  pauses: readonly Pause[],
  boundMs: number,
): (PausedHolderOverlap & { readonly index: number }) | undefined {
  const first = run[0]!;
  const last = run[run.length - 1]!;
  for (const [index, name] of names.entries()) {
    if (!run.every((sample) => total(sample) - couriers <= lentAfterGivingUp(sample, index))) continue;
    const pause = pauses.findLast((p) => p.instance === name && p.resumedMs <= first.atMs);
    if (!pause || last.atMs - pause.resumedMs > boundMs) continue;
    const identityBefore = before.findLast((sample) => sample.atMs < pause.stoppedMs && sample.identities?.[index])
      ?.identities?.[index];
    const identityAfter = first.identities?.[index];
    if (identityBefore === undefined || identityBefore === identityAfter) continue;
    return {
      index,
      instance: name,
      fromMs: first.atMs,
      toMs: last.atMs,
      sinceResumeMs: Math.round(last.atMs - pause.resumedMs),
      pausedMs: Math.round(pause.resumedMs - pause.stoppedMs),
      most: Math.max(...run.map(total)),
    };
  }
  return undefined;
}

/** Runs of consecutive samples with more couriers busy than `couriers`, each explained. */
export function checkCourierSamples(
  samples: readonly CourierSample[],
  couriers: number,
  names: readonly InstanceName[],
  timeline: readonly TimelineEntry[],
  boundMs: number,
): CourierFindings {
  const sorted = [...samples].sort((a, b) => a.atMs - b.atMs);
  const pauses = pausesOf(timeline, names);
  const overCapacity: Array<{ atMs: number; message: string }> = [];
  const pausedHolderOverlaps: PausedHolderOverlap[] = [];
  for (let i = 0; i < sorted.length;) {
    if (total(sorted[i]!) <= couriers) {
      i++;
      continue;
    }
    let j = i;
    while (j + 1 < sorted.length && total(sorted[j + 1]!) > couriers) j++;
    if (j > i) {
      const run = sorted.slice(i, j + 1);
      const paused = pausedHolderOf(run, sorted.slice(0, i), couriers, names, pauses, boundMs);
      if (paused) {
        const { index: _, ...overlap } = paused;
        pausedHolderOverlaps.push(overlap);
      } else {
        const worst = run.reduce((a, b) => (total(b) > total(a) ? b : a));
        overCapacity.push({
          atMs: sorted[i]!.atMs,
          message: `up to ${total(worst)} couriers busy with COURIERS=${couriers}, in ${run.length} samples from ${seconds(sorted[i]!.atMs)} to ${seconds(sorted[j]!.atMs)}; at worst (${seconds(worst.atMs)}): ${whoLendsWhat(worst, names)}`,
        });
      }
    }
    i = j + 1;
  }
  return { overCapacity, pausedHolderOverlaps };
}

/** A paused holder's overlap, in a line. */
export function describeOverlap(overlap: PausedHolderOverlap): string {
  return `${overlap.instance} at ${seconds(overlap.fromMs)}: up to ${overlap.most} busy until ${Math.round(overlap.sinceResumeMs)} ms after its SIGCONT (paused ${(overlap.pausedMs / 1000).toFixed(1)} s)`;
}
