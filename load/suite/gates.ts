/**
 * The gates every scenario is held to: every order got the status it must and
 * every request a response; no figure past what the scenario can physically
 * do, and a steady rate held (load/lib/physical-bounds.ts) — and, for this
 * service, once the load has stopped nothing is in flight or running and no
 * worker thread was replaced (its /healthz says). Another server (the Go
 * service) is held to all but the last: it has no /healthz.
 */
import { boundsPassed, rateNotHeld, runShapeOf } from '../lib/physical-bounds.js';
import type { Generated } from './generators/generator.js';
import type { Scenario } from './scenarios.js';

export interface Health {
  readonly running_steps: number;
  readonly orders_in_flight: number;
  readonly threads_replaced: number;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const counts = (tally: ReadonlyMap<string | number, number>): string =>
  [...tally].map(([key, count]) => `${key}×${count}`).join(' ');

export async function health(base: URL): Promise<Health> {
  const response = await fetch(new URL('/healthz', base));
  return (await response.json()) as Health;
}

/**
 * The load generator hangs up on orders still running when it stops; this service must cancel them and come back to
 * rest.
 */
export async function gatesAfterLoad(base: URL, before: Health): Promise<{ after: Health; problems: string[] }> {
  const problems: string[] = [];
  let after = await health(base);
  const drainBy = performance.now() + 15_000;
  while (after.orders_in_flight > 0 && performance.now() < drainBy) {
    await pause(50);
    after = await health(base);
  }
  if (after.orders_in_flight > 0)
    problems.push(`${after.orders_in_flight} orders still in flight 15 s after the load stopped`);
  if (after.running_steps !== 0) problems.push(`tracker at ${after.running_steps} after the load, not 0`);
  const replaced = after.threads_replaced - before.threads_replaced;
  if (replaced !== 0) problems.push(`${replaced} worker thread(s) replaced`);
  return { after: { ...after, threads_replaced: replaced }, problems };
}

/**
 * What went wrong in the answers themselves. `serverEnv`: the settings the suite started the server with (null: one
 * it did not start), for the bounds that depend on them. `rateJudged`: whether a steady rate must be held — not in a
 * smoke run, whose few seconds judge no target, and a steady rate held is the sustained scenario's target; a figure
 * past a physical bound is a defect however long the run.
 */
export function answerProblems(
  generated: Generated,
  scenario: Scenario,
  connections: number,
  serverEnv: Readonly<Record<string, string>> | null,
  rateJudged: boolean,
): string[] {
  const problems: string[] = [
    ...boundsPassed(scenario.bounds(runShapeOf(connections, serverEnv)), generated, connections),
    ...(rateJudged ? rateNotHeld(scenario.rate, generated) : []),
  ];
  if (generated.unexpected.size > 0) problems.push(`unexpected status: ${counts(generated.unexpected)}`);
  const noResponse = [...generated.noResponse.values()].reduce((sum, count) => sum + count, 0);
  if (noResponse > 0) problems.push(`${noResponse} requests without a response (${counts(generated.noResponse)})`);
  return problems;
}

/** The warnings and errors among a server's log lines (pino's levels 40, 50, 60). */
export const warningsIn = (lines: readonly string[]): string[] =>
  lines.filter((line) => /"level":(40|50|60)\b/.test(line));
