/**
 * What the primary makes of an instance's exit. Before every instance has listened once, an instance that exits
 * without having listened could not start, and neither can the others, for the same reason: everything stops with its
 * code. One that had listened and then died — killed, crashed — is a death like any later one, whoever else is still
 * starting: it is replaced, and the order it ran is recovered once its lease expires. Treating it as a failure to
 * start ended a cluster whose second instance was merely slow to listen when the first was killed.
 */
import { EXIT_BAD_CONFIG } from '../exit-codes.js';

export type InstanceExit =
  /** The primary is stopping: count it, and exit once none is left. */
  | 'stopping'
  /** It never listened, and the cluster has not started: stop everything with its code. */
  | 'could_not_start'
  /** It refuses the configuration and none serves: nothing is left to keep running. */
  | 'refuses_configuration'
  /** Start another in its place, after the backoff. */
  | 'replace';

export interface ExitCircumstances {
  readonly stopping: boolean;
  /** Whether every instance has listened once. */
  readonly started: boolean;
  /** Whether this instance had listened. */
  readonly listened: boolean;
  readonly code: number | null;
  /** Instances listening now, this one no longer counted. */
  readonly listening: number;
}

export function instanceExit({ stopping, started, listened, code, listening }: ExitCircumstances): InstanceExit {
  if (stopping) return 'stopping';
  if (!started && !listened) return 'could_not_start';
  if (code === EXIT_BAD_CONFIG && listening === 0) return 'refuses_configuration';
  return 'replace';
}
