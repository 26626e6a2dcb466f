/**
 * What a scenario cannot do faster than, whatever the service: each
 * scenario's physical bounds on orders answered a second, from what its
 * orders ask and what its server has. Five couriers each held 1 ms by an
 * order's courier step finish at most 5,000 orders a second; 50 connections
 * whose every order waits 150 ms get at most 333 answers a second; a
 * generator sending 1,000 a second gets no more back. A run reporting more is
 * not a win but a defect — of the service (a step that did not wait, a
 * courier shared twice) or of the harness (responses counted twice, a window
 * measured short) — and fails its gates (load/suite/gates.ts). So does a
 * steady rate that did not come back: nothing was sustained.
 */
import { loadConfig } from '../../src/config.js';

/** What bounds a run's figures besides its scenario: its connections, and its server's settings when known. */
export interface RunShape {
  readonly connections: number;
  /** Courier slots (COURIERS); undefined for a server the suite did not start. */
  readonly couriers: number | undefined;
  /** Worker threads (THREADS); undefined for a server the suite did not start. */
  readonly threads: number | undefined;
}

export interface PhysicalBound {
  /** Answers a second at most, over the measured load. */
  readonly perSec: number;
  /** The status of the answers it bounds; undefined: every answer. */
  readonly status?: number;
  /** Why, as a reader checks it: "5 couriers held 1 ms by each order". */
  readonly why: string;
}

/** A scenario's bounds for a run: whichever it can say (a bound on settings the run does not know is left out). */
export type Bounds = (run: RunShape) => readonly PhysicalBound[];

/** Every answer waits at least `ms`: each connection has one order at a time. */
export const waiting =
  (ms: number, what: string): Bounds =>
  ({ connections }) => [
    { perSec: (connections * 1000) / ms, why: `${connections} connections, each order waiting ${what} (${ms} ms)` },
  ];

/** Every order answered 200 held a courier for its courier step's `ms`. */
export const couriersHeld =
  (ms: number): Bounds =>
  ({ couriers }) =>
    couriers === undefined
      ? []
      : [{ perSec: (couriers * 1000) / ms, status: 200, why: `${couriers} couriers, each held ${ms} ms by an order` }];

/** Every order answered 200 kept a thread busy computing for `ms` in all. */
export const threadsBusy =
  (ms: number): Bounds =>
  ({ threads }) =>
    threads === undefined
      ? []
      : [{ perSec: (threads * 1000) / ms, status: 200, why: `${threads} threads, each order computing ${ms} ms` }];

/** The generator sends `rate` orders a second: no more come back. */
export const offered =
  (rate: number): Bounds =>
  () => [{ perSec: rate, why: `${rate.toLocaleString('en-US')} orders/s sent` }];

/** Every bound of each. */
export const allOf =
  (...each: readonly Bounds[]): Bounds =>
  (run) =>
    each.flatMap((bounds) => bounds(run));

/**
 * The run's shape from the settings the suite started its server with, read as the service reads them, defaults and
 * all (null: a server it did not start, whose settings it does not know).
 */
export function runShapeOf(connections: number, serverEnv: Readonly<Record<string, string>> | null): RunShape {
  if (serverEnv === null) return { connections, couriers: undefined, threads: undefined };
  const { couriers, threads } = loadConfig(serverEnv);
  return { connections, couriers, threads };
}

/** What came back of a measured load: answers by status, in all, over how long. */
export interface Answered {
  readonly statuses: ReadonlyMap<number, number>;
  readonly responses: number;
  readonly elapsedMs: number;
}

const perSecond = (value: number): string => Math.round(value).toLocaleString('en-US');

/**
 * The figures past a bound: each a defect of the service or the harness. The answers to orders sent before the
 * measured load began may land in it, one a connection at most: that much over a bound is the window's edge.
 */
export function boundsPassed(bounds: readonly PhysicalBound[], answered: Answered, connections: number): string[] {
  const seconds = answered.elapsedMs / 1000;
  const edge = connections / seconds;
  return bounds.flatMap(({ perSec, status, why }) => {
    const answers = status === undefined ? answered.responses : (answered.statuses.get(status) ?? 0);
    const measured = answers / seconds;
    if (measured <= perSec + edge) return [];
    const which = status === undefined ? 'answers' : `answers ${status}`;
    return [
      `${perSecond(measured)} ${which}/s, over the physical bound of ${perSecond(perSec)}/s (${why}): a defect of the service or of the harness, not a win`,
    ];
  });
}

/** The share of a steady rate that must come back answered for the rate to count as held. */
const RATE_HELD = 0.95;

/** A steady rate not held: nothing was sustained (the service fell behind, or the generator could not send it). */
export function rateNotHeld(rate: number | undefined, answered: Answered): string[] {
  if (rate === undefined) return [];
  const measured = answered.responses / (answered.elapsedMs / 1000);
  return measured >= rate * RATE_HELD
    ? []
    : [`${perSecond(measured)} answers/s of the ${perSecond(rate)} sent a second: the rate was not held`];
}
