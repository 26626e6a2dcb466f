/**
 * The log level every thread writes at, in one shared word: the admin changes
 * it at run time (POST /admin/log-level), the main thread's logger at once,
 * and each worker thread's at its next task — one Atomics.load per task, no
 * message to every thread, and a replacement thread starts at the level in
 * force, not the one the process started with.
 */

/** The levels a log may be at; the shared word holds an index into them. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export class SharedLogLevel {
  readonly buffer: SharedArrayBuffer;
  private readonly word: Int32Array;

  /** A new word at `initial`, or the word of `buffer` (a worker thread's view of the main thread's). */
  constructor(initial: LogLevel | SharedArrayBuffer) {
    this.buffer = typeof initial === 'string' ? new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT) : initial;
    this.word = new Int32Array(this.buffer);
    if (typeof initial === 'string') this.level = initial;
  }

  get level(): LogLevel {
    return LOG_LEVELS[Atomics.load(this.word, 0)] ?? 'info';
  }

  set level(level: LogLevel) {
    Atomics.store(this.word, 0, LOG_LEVELS.indexOf(level));
  }
}
