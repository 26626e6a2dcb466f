/**
 * The circuit breakers' rules, on a clock the test moves: when a breaker
 * opens, how long it refuses, the one probe of half-open, what counts as a
 * failure of a dependency and what says nothing, and outcomes from before it
 * last opened, which say nothing of the service now.
 */
import { describe, expect, it } from 'vitest';
import { DEPENDENCY_NAMES } from '../../src/domain/dependencies.js';
import type { OrderResult } from '../../src/pipeline/order-pipeline.js';
import type { StepOutcome } from '../../src/pipeline/steps.js';
import {
  CircuitBreaker,
  type BreakerPass,
  type BreakerState,
  type BreakerVerdict,
} from '../../src/resilience/circuit-breaker.js';
import {
  DependencyBreakers,
  verdictOf,
  type LetThrough,
  type TurnedAway,
} from '../../src/resilience/dependency-breakers.js';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const passOf = (verdict: BreakerVerdict): BreakerPass => {
  if (!('pass' in verdict)) throw new Error(`refused for ${verdict.refusedForMs} ms`);
  return verdict.pass;
};

describe('CircuitBreaker', () => {
  function breaker(failures = 3, openMs = 500) {
    const time = clock();
    const transitions: Array<[BreakerState, BreakerState]> = [];
    const b = new CircuitBreaker({
      failures,
      openMs,
      now: time.now,
      onTransition: (from, to) => transitions.push([from, to]),
    });
    return { b, time, transitions };
  }

  it('opens after `failures` consecutive failures; a success in between starts the count again', () => {
    const { b, transitions } = breaker(3);
    b.settle(passOf(b.admit('a')), 'failure');
    b.settle(passOf(b.admit('a')), 'failure');
    b.settle(passOf(b.admit('a')), 'success');
    expect(b.reading()).toEqual({ state: 'closed', consecutiveFailures: 0, openForMs: 0 });
    for (let i = 0; i < 3; i++) b.settle(passOf(b.admit('a')), 'failure');
    expect(b.reading()).toEqual({ state: 'open', consecutiveFailures: 3, openForMs: 500 });
    expect(transitions).toEqual([['closed', 'open']]);
  });

  it("lets a client's calls through while closed on one pass, made once an epoch: none per call, a new one once it has opened", () => {
    const { b, time } = breaker(1, 500);
    const first = b.admit('a');
    expect(b.admit('a')).toBe(first);
    b.settle(passOf(first), 'failure');
    expect(b.reading().state).toBe('open');
    time.advance(500);
    b.settle(passOf(b.admit('a')), 'success');
    expect(b.reading().state).toBe('closed');
    const again = b.admit('a');
    expect(again).not.toBe(first);
    // A pass from before it opened says nothing now: settled, it leaves the breaker closed.
    b.settle(passOf(first), 'failure');
    expect(b.reading().state).toBe('closed');
    b.settle(passOf(again), 'failure');
    expect(b.reading().state).toBe('open');
    // Each client has its own: a failure names whose call it was.
    time.advance(500);
    b.settle(passOf(b.admit('b')), 'success');
    expect(passOf(b.admit('b'))).toMatchObject({ client: 'b', probe: false });
    expect(passOf(b.admit('a'))).toMatchObject({ client: 'a', probe: false });
  });

  it("does not open on one client's failures while another client calls the dependency; opens once a second client's fail too", () => {
    const { b } = breaker(3);
    b.settle(passOf(b.admit('victim')), 'success');
    for (let i = 0; i < 10; i++) b.settle(passOf(b.admit('attacker')), 'failure');
    expect(b.reading()).toMatchObject({ state: 'closed', consecutiveFailures: 10 });
    b.settle(passOf(b.admit('victim')), 'failure');
    expect(b.reading().state).toBe('open');
    // A lone client, once the others have not called for 10 s, opens it by itself: nobody else to protect.
    const lone = breaker(3);
    lone.b.settle(passOf(lone.b.admit('victim')), 'success');
    lone.time.advance(10_001);
    for (let i = 0; i < 3; i++) lone.b.settle(passOf(lone.b.admit('attacker')), 'failure');
    expect(lone.b.reading().state).toBe('open');
  });

  it("gives each client a probe of its own when half-open: one client's probes that end with nothing to say never keep another's from closing it", () => {
    const { b, time } = breaker(1, 500);
    b.settle(passOf(b.admit('a')), 'failure');
    time.advance(500);
    const held = passOf(b.admit('attacker'));
    expect(held.probe).toBe(true);
    expect(b.admit('attacker')).toEqual({ refusedForMs: 0 });
    const victims = passOf(b.admit('victim'));
    expect(victims.probe).toBe(true);
    b.settle(held, 'none');
    b.settle(victims, 'success');
    expect(b.reading().state).toBe('closed');
  });

  it("never counts what says nothing of the dependency ('none')", () => {
    const { b } = breaker(2);
    b.settle(passOf(b.admit('a')), 'failure');
    for (let i = 0; i < 10; i++) b.settle(passOf(b.admit('a')), 'none');
    expect(b.reading()).toMatchObject({ state: 'closed', consecutiveFailures: 1 });
  });

  it('refuses while open, saying for how long, and turns half-open by the clock alone', () => {
    const { b, time, transitions } = breaker(1, 500);
    b.settle(passOf(b.admit('a')), 'failure');
    time.advance(200);
    expect(b.admit('a')).toEqual({ refusedForMs: 300 });
    expect(b.reading()).toMatchObject({ state: 'open', openForMs: 300 });
    time.advance(300);
    // Read, not called: the state is true when it is looked at.
    expect(b.reading()).toEqual({ state: 'half_open', consecutiveFailures: 1, openForMs: 0 });
    expect(transitions).toEqual([
      ['closed', 'open'],
      ['open', 'half_open'],
    ]);
  });

  it('lets exactly one probe through in half-open, refuses the others at once; its success closes', () => {
    const { b, time, transitions } = breaker(1, 500);
    b.settle(passOf(b.admit('a')), 'failure');
    time.advance(500);
    const probe = passOf(b.admit('a'));
    expect(probe.probe).toBe(true);
    expect(b.admit('a')).toEqual({ refusedForMs: 0 });
    expect(b.admit('a')).toEqual({ refusedForMs: 0 });
    b.settle(probe, 'success');
    expect(b.reading()).toEqual({ state: 'closed', consecutiveFailures: 0, openForMs: 0 });
    expect(passOf(b.admit('a')).probe).toBe(false);
    expect(transitions.at(-1)).toEqual(['half_open', 'closed']);
  });

  it('reopens for another full period when the probe fails; a probe with nothing to say hands the probe on', () => {
    const { b, time } = breaker(1, 500);
    b.settle(passOf(b.admit('a')), 'failure');
    time.advance(500);
    b.settle(passOf(b.admit('a')), 'none');
    const probe = passOf(b.admit('a'));
    expect(probe.probe).toBe(true);
    b.settle(probe, 'failure');
    expect(b.reading()).toMatchObject({ state: 'open', openForMs: 500 });
    expect(b.admit('a')).toEqual({ refusedForMs: 500 });
  });

  it('ignores the outcomes of calls let through before it last opened', () => {
    const { b, time } = breaker(2, 500);
    const early = [passOf(b.admit('a')), passOf(b.admit('a')), passOf(b.admit('a'))];
    b.settle(early[0]!, 'failure');
    b.settle(early[1]!, 'failure');
    expect(b.reading().state).toBe('open');
    // Under way when it opened: its success does not close it, its failure does not reopen it later.
    b.settle(early[2]!, 'success');
    expect(b.reading().state).toBe('open');
    time.advance(500);
    const probe = passOf(b.admit('a'));
    b.settle(probe, 'success');
    b.settle(early[2]!, 'failure');
    expect(b.reading()).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
  });
});

const outcome = (name: StepOutcome['name'], fields: Partial<StepOutcome>): StepOutcome => ({
  name,
  status: 'ok',
  durationMs: 1,
  threadId: 1,
  attempts: 1,
  ...fields,
});
const resultOf = (...steps: StepOutcome[]): OrderResult => ({
  orderId: 'o',
  steps,
  compensations: [],
  failure: undefined,
});
const answered = (name: StepOutcome['name']) => outcome(name, { dependency: 'answered' });

describe('verdictOf', () => {
  it.each([
    ['an unavailable answer', { status: 'error', kind: 'vendor_unavailable', dependency: 'failed' }, 'failure'],
    [
      'a step cut by the deadline while waiting out the added latency',
      { status: 'canceled', cause: 'timeout', dependency: 'failed' },
      'failure',
    ],
    ['an answer', { status: 'ok', dependency: 'answered' }, 'success'],
    [
      'a business no (a declined payment)',
      { status: 'error', kind: 'payment_declined', dependency: 'answered' },
      'success',
    ],
    [
      'a failure the order asked for, after the answer',
      { status: 'error', kind: 'vendor_unavailable', dependency: 'answered' },
      'success',
    ],
    ['a step canceled because another failed', { status: 'canceled', cause: 'payment_declined' }, 'none'],
    ['a crash', { status: 'error', kind: 'internal' }, 'none'],
    ['a lost thread', { status: 'error', kind: 'thread_lost' }, 'none'],
  ] as const)('%s: %s', (_case, fields, verdict) => {
    expect(verdictOf(outcome('vendor', fields))).toBe(verdict);
  });

  it('no outcome says nothing', () => {
    expect(verdictOf(undefined)).toBe('none');
  });
});

describe('DependencyBreakers', () => {
  const admitted = (verdict: LetThrough | TurnedAway): LetThrough => {
    if (!('admitted' in verdict)) throw new Error(`turned away: ${verdict.unavailable}`);
    return verdict;
  };

  function breakers(failures = 2, openMs = 1000) {
    const time = clock();
    const moves: string[] = [];
    const set = new DependencyBreakers({
      failures,
      openMs,
      now: time.now,
      onTransition: (dependency, from, to) => moves.push(`${dependency}:${from}>${to}`),
    });
    const vendorDown = () =>
      admitted(set.admit('a')).ended(
        resultOf(
          answered('payment'),
          outcome('vendor', { status: 'error', kind: 'vendor_unavailable', dependency: 'failed' }),
          answered('courier'),
        ),
      );
    return { set, time, moves, vendorDown };
  }

  /**
   * Two orders let through at once: the first fails at the vendor, the second, `laterMs` on, at the courier service.
   */
  function vendorThenCourierDown({ set, time }: ReturnType<typeof breakers>, laterMs: number): void {
    const [first, second] = [admitted(set.admit('a')), admitted(set.admit('a'))];
    first.ended(
      resultOf(
        answered('payment'),
        outcome('vendor', { status: 'error', kind: 'vendor_unavailable', dependency: 'failed' }),
        answered('courier'),
      ),
    );
    time.advance(laterMs);
    second.ended(
      resultOf(
        answered('payment'),
        answered('vendor'),
        outcome('courier', { status: 'error', kind: 'no_courier', dependency: 'failed' }),
      ),
    );
  }

  it("turns an order away with the first open breaker's kind and the longest wait of them all", () => {
    const b = breakers(1, 1000);
    vendorThenCourierDown(b, 400);
    expect(b.set.admit('a')).toEqual({
      unavailable: 'vendor_unavailable',
      dependency: 'the vendor',
      retryAfterMs: 1000,
    });
    b.time.advance(700);
    expect(b.set.admit('a')).toEqual({
      unavailable: 'no_courier',
      dependency: 'the courier service',
      retryAfterMs: 300,
    });
  });

  it('counts each dependency by its own step only', () => {
    const { set, vendorDown } = breakers(2);
    vendorDown();
    vendorDown();
    expect(
      set.readings().map(({ dependency, state, consecutiveFailures }) => [dependency, state, consecutiveFailures]),
    ).toEqual(DEPENDENCY_NAMES.map((name) => (name === 'vendor' ? [name, 'open', 2] : [name, 'closed', 0])));
  });

  it('gives a probe back when another breaker turns the order away', () => {
    const b = breakers(1, 1000);
    const { set, time } = b;
    vendorThenCourierDown(b, 500);
    time.advance(500);
    // The vendor's breaker is half-open, the courier's still open: the vendor's probe this order took goes back.
    expect(set.admit('a')).toEqual({ unavailable: 'no_courier', dependency: 'the courier service', retryAfterMs: 500 });
    time.advance(500);
    const probes = admitted(set.admit('a'));
    expect(set.admit('a')).toEqual({ unavailable: 'vendor_unavailable', dependency: 'the vendor', retryAfterMs: 0 });
    probes.ended(resultOf(answered('payment'), answered('vendor'), answered('courier')));
    expect(set.readings().every(({ state }) => state === 'closed')).toBe(true);
  });

  it('an order that ran nothing here hands its probe on', () => {
    const { set, time, vendorDown, moves } = breakers(1, 1000);
    vendorDown();
    time.advance(1000);
    admitted(set.admit('a')).ended(undefined);
    admitted(set.admit('a')).ended(resultOf(answered('payment'), answered('vendor'), answered('courier')));
    expect(moves).toEqual(['vendor:closed>open', 'vendor:open>half_open', 'vendor:half_open>closed']);
  });
});
