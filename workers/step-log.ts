/**
 * The log of a worker thread and of each step task on it. Every line a step writes carries its thread id, its request,
 * order and step, and `duration_ms`: how long the step has run on this thread so far — on the line that ends it, its
 * duration. The figure is computed only for a line actually written (pino calls its mixin after the level check), and
 * so is the step's child logger: at a level that writes no step lines, a step's log costs a level check per line it
 * would have written.
 */
import { pino, type Logger } from 'pino';
import type { LogLevelName, StepLog } from './step-api.js';

/** When the step of a task's logger started on this thread (performance.now()). */
const STARTED = Symbol('step started');
type StepLogger = Logger & { [STARTED]?: number };

/** Lines go straight to file descriptor 1, synchronously: no hop through the main thread. */
export function threadLogger(level: string, threadId: number): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, thread_id: threadId },
      // pino merges the line's fields into the object returned: it must be a new one each time.
      mixin: (_fields, _level, logger) => {
        const start = (logger as StepLogger)[STARTED];
        return start === undefined ? {} : { duration_ms: Math.round(performance.now() - start) };
      },
    },
    pino.destination({ dest: 1, sync: true }),
  );
}

/**
 * The log of one step task, bound to who it is, whose step started at `start`. Its child logger is made for the first
 * line actually written: a step's debug line at the default level costs a level check, not a child logger.
 */
export class TaskLog implements StepLog {
  private child: StepLogger | undefined;

  constructor(
    private readonly thread: Logger,
    private readonly bindings: () => Record<string, string>,
    private readonly start: number,
  ) {}

  isLevelEnabled(level: string): boolean {
    return this.thread.isLevelEnabled(level);
  }

  trace(...line: unknown[]): void {
    this.write('trace', line);
  }

  debug(...line: unknown[]): void {
    this.write('debug', line);
  }

  info(...line: unknown[]): void {
    this.write('info', line);
  }

  warn(...line: unknown[]): void {
    this.write('warn', line);
  }

  error(...line: unknown[]): void {
    this.write('error', line);
  }

  fatal(...line: unknown[]): void {
    this.write('fatal', line);
  }

  private write(level: LogLevelName, line: unknown[]): void {
    if (!this.thread.isLevelEnabled(level)) return;
    if (!this.child) {
      this.child = this.thread.child(this.bindings());
      this.child[STARTED] = this.start;
    }
    Reflect.apply(this.child[level], this.child, line);
  }
}
