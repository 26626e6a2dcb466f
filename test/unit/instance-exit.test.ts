/**
 * What the cluster's primary makes of an instance's exit: only one that never listened, before the cluster has
 * started, stops everything; one that had listened and died is replaced, whoever else is still starting.
 */
import { describe, expect, it } from 'vitest';
import { instanceExit } from '../../src/cluster/instance-exit.js';
import { EXIT_BAD_CONFIG, EXIT_DATABASE_UNAVAILABLE } from '../../src/exit-codes.js';

const starting = { stopping: false, started: false, listened: false, code: 1, listening: 0 };

describe("an instance's exit", () => {
  it('before the cluster has started, of one that never listened: nothing can start', () => {
    expect(instanceExit(starting)).toBe('could_not_start');
    expect(instanceExit({ ...starting, code: EXIT_DATABASE_UNAVAILABLE, listening: 1 })).toBe('could_not_start');
  });

  it('before the cluster has started, of one that had listened and was killed: replaced, the others still starting', () => {
    // docs/deploying.md's failover recipe kills the instance running its order as soon as /readyz answers: on a busy
    // machine the other had not listened yet, and the primary stopped the cluster as if none could start.
    expect(instanceExit({ ...starting, listened: true, code: null })).toBe('replace');
  });

  it('once started: replaced, unless it refuses the configuration and none serves', () => {
    const started = { ...starting, started: true, listened: true };
    expect(instanceExit(started)).toBe('replace');
    expect(instanceExit({ ...started, code: EXIT_BAD_CONFIG, listening: 1 })).toBe('replace');
    expect(instanceExit({ ...started, code: EXIT_BAD_CONFIG, listening: 0 })).toBe('refuses_configuration');
  });

  it('while stopping: counted, never replaced', () => {
    expect(instanceExit({ ...starting, stopping: true, started: true, listened: true })).toBe('stopping');
  });
});
