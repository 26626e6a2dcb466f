/**
 * Where the log's lines are written: a file descriptor (stdout) that may stop
 * being read at any time — a log shipper that dies, `npm start | head -1`, a
 * reader that stops reading and lets the pipe fill. A log line is never worth
 * the process: a write here never throws and never waits on the reader.
 *
 * - A pipe is put in non-blocking mode (through a net.Socket opened on it, the
 *   documented way), so a full pipe answers EAGAIN at once instead of holding
 *   the main thread inside write(2) — where no signal handler, timer or drain
 *   could ever run again.
 * - A write the reader cannot take now (EAGAIN) is dropped, whole lines at a
 *   time; a reader that is gone (EPIPE, or any other error) ends the output:
 *   every later line is dropped without a system call.
 * - Every dropped line is counted, for the metrics (log_lines_dropped_total).
 *
 * Why not sonic-boom, which pino uses: in synchronous mode it retries EAGAIN
 * in a busy loop (the full pipe then freezes the process), it throws EPIPE
 * out of the logging call (from a SIGTERM handler, the drain never starts),
 * and it keeps what it could not write, to try again, without bound.
 */
import { fstatSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';

/** Gathered lines are written once they reach this many characters. */
const BUFFERED_WRITE_CHARS = 4096;

export interface LogSink {
  /** One or more whole lines, each ending in a newline. */
  write(lines: string): void;
  /** Writes what is gathered now. */
  flush(): void;
  /** Lines that could not be written, since the start. */
  readonly droppedLines: number;
}

export interface LogSinkOptions {
  /** Gather lines into writes of about 4 KiB, or write each at once. */
  readonly buffered: boolean;
}

/** Keeps the sockets that hold pipes in non-blocking mode, one per descriptor. */
const nonBlockingPipes = new Map<number, Socket>();

export function logSink(fd: number, { buffered }: LogSinkOptions): LogSink {
  makeNonBlockingIfPipe(fd);
  let gathered = '';
  let broken = false;
  let droppedLines = 0;

  const drop = (text: string): void => {
    for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) droppedLines++;
  };

  const writeOut = (text: string): void => {
    if (broken) return drop(text);
    let bytes = Buffer.from(text);
    try {
      while (bytes.length > 0) bytes = bytes.subarray(writeSync(fd, bytes));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') broken = true;
      // What was not written of a line that was partly written is lost with it: counted as dropped.
      drop(bytes.toString());
    }
  };

  return {
    write(lines) {
      if (!buffered) return writeOut(lines);
      gathered += lines;
      if (gathered.length >= BUFFERED_WRITE_CHARS) this.flush();
    },
    flush() {
      if (gathered.length === 0) return;
      const text = gathered;
      gathered = '';
      writeOut(text);
    },
    get droppedLines() {
      return droppedLines;
    },
  };
}

function makeNonBlockingIfPipe(fd: number): void {
  if (nonBlockingPipes.has(fd)) return;
  let isPipe: boolean;
  try {
    isPipe = fstatSync(fd).isFIFO();
  } catch {
    return;
  }
  if (!isPipe) return;
  // libuv puts the descriptor in O_NONBLOCK mode when it opens a pipe on it.
  const socket = new Socket({ fd, readable: false, writable: true });
  // The socket writes nothing itself; an error it sees is the reader gone, which the writes find out too.
  socket.on('error', () => {});
  socket.unref();
  nonBlockingPipes.set(fd, socket);
}
