/**
 * The life of an order as one state machine (src/domain/lifecycle.ts): every
 * move it lists goes where it says, every move it does not list does not
 * happen, the terminal states move on only by a redrive, and every outcome
 * the records can hold names a state of the machine reached by a move.
 */
import { describe, expect, it } from 'vitest';
import { ORDER_FAILURE_KINDS } from '../../src/domain/errors.js';
import {
  LIFECYCLE_STATES,
  lifecycleOf,
  MOVES,
  nextState,
  TERMINAL_STATES,
  type Lifecycle,
  type LifecycleEvent,
} from '../../src/domain/lifecycle.js';

const EVENTS: readonly LifecycleEvent[] = [
  'steps_started',
  'steps_succeeded',
  'steps_failed',
  'cancel',
  'instance_lost',
  'taken_over',
  'deadline_passed',
  'recoveries_exhausted',
  'redriven',
];

/** Every move of the machine, as the guide draws it (docs/design.md, the life of an order). */
const DRAWN: ReadonlyArray<readonly [Lifecycle, LifecycleEvent, Lifecycle]> = [
  ['accepted', 'steps_started', 'running'],
  ['accepted', 'cancel', 'canceled'],
  ['accepted', 'instance_lost', 'interrupted'],
  ['running', 'steps_succeeded', 'succeeded'],
  ['running', 'steps_failed', 'failed'],
  ['running', 'cancel', 'canceled'],
  ['running', 'instance_lost', 'interrupted'],
  ['interrupted', 'taken_over', 'resumed'],
  ['interrupted', 'deadline_passed', 'interrupted'],
  ['interrupted', 'recoveries_exhausted', 'dead_lettered'],
  ['interrupted', 'cancel', 'canceled'],
  ['interrupted', 'redriven', 'running'],
  ['resumed', 'steps_started', 'running'],
  ['resumed', 'cancel', 'canceled'],
  ['resumed', 'instance_lost', 'interrupted'],
  ['dead_lettered', 'redriven', 'running'],
  ['failed', 'redriven', 'running'],
];

describe('the life of an order', () => {
  it.each(DRAWN)('moves from %s on %s to %s', (from, event, to) => {
    expect(nextState(from, event)).toBe(to);
  });

  it('makes no move it does not list, from any state on any event', () => {
    const listed = new Set(DRAWN.map(([from, event]) => `${from} ${event}`));
    for (const from of LIFECYCLE_STATES)
      for (const event of EVENTS)
        if (!listed.has(`${from} ${event}`)) expect(nextState(from, event), `${from} on ${event}`).toBeUndefined();
    expect(Object.values(MOVES).reduce((sum, moves) => sum + Object.keys(moves).length, 0)).toBe(DRAWN.length);
  });

  it('reaches every state from accepted, and leaves a terminal state only by a redrive', () => {
    const reached = new Set<Lifecycle>(['accepted']);
    for (let grew = true; grew;) {
      grew = false;
      for (const [from, , to] of DRAWN) if (reached.has(from) && !reached.has(to)) grew = Boolean(reached.add(to));
    }
    expect([...reached].sort()).toEqual([...LIFECYCLE_STATES].sort());
    for (const [from, event, to] of DRAWN)
      if (TERMINAL_STATES.has(from) && from !== to) expect(event, `${from} → ${to}`).toBe('redriven');
    expect(TERMINAL_STATES.has('running')).toBe(false);
    expect(TERMINAL_STATES.has('accepted')).toBe(false);
  });

  it("names, for every outcome the records hold, the state its run's last move reached", () => {
    expect(lifecycleOf('running', undefined)).toBe('running');
    expect(lifecycleOf('done', 'ok')).toBe(nextState('running', 'steps_succeeded'));
    expect(lifecycleOf('done', 'canceled')).toBe(nextState('running', 'cancel'));
    expect(lifecycleOf('done', 'interrupted')).toBe(nextState('running', 'instance_lost'));
    expect(lifecycleOf('running', undefined, true)).toBe(nextState('interrupted', 'taken_over'));
    expect(lifecycleOf('done', 'dead_lettered')).toBe(nextState('interrupted', 'recoveries_exhausted'));
    const ownStates = new Set(['canceled', 'interrupted', 'dead_lettered']);
    for (const kind of ORDER_FAILURE_KINDS.filter((kind) => !ownStates.has(kind)))
      expect(lifecycleOf('done', kind), kind).toBe(nextState('running', 'steps_failed'));
  });
});
