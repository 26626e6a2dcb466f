/**
 * What Linux's /proc says about a server process: which process listens on a
 * port, its memory (resident now, and its high-water mark), and the CPU time
 * of the whole process, of its main thread and of each kind of thread, and how
 * often its threads went to sleep.
 * Readers return null when the process is gone or /proc is not there (not
 * Linux): a figure the load suite then leaves out, never a failure.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const readOrNull = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

/**
 * Inodes of the sockets listening on `port` in a /proc/net/tcp or tcp6 table.
 * A row: `sl local_address rem_address st … inode`, addresses as hex IP:PORT,
 * st 0A = LISTEN.
 */
export function listeningInodes(table: string, port: number): string[] {
  const wanted = port.toString(16).toUpperCase().padStart(4, '0');
  return table
    .split('\n')
    .slice(1)
    .map((row) => row.trim().split(/\s+/))
    .filter((fields) => fields.length > 9 && fields[1]!.endsWith(`:${wanted}`) && fields[3] === '0A')
    .map((fields) => fields[9]!);
}

/**
 * The process that listens on `port` on this machine, found through the
 * socket's inode: /proc/net/tcp{,6} name it, /proc/<pid>/fd link to it. Null
 * if nothing listens there (or the process is not ours to look into).
 */
export function pidListeningOn(port: number): number | null {
  const inodes = new Set(
    ['tcp', 'tcp6'].flatMap((table) => listeningInodes(readOrNull(`/proc/net/${table}`) ?? '', port)),
  );
  if (inodes.size === 0) return null;
  const sockets = new Set([...inodes].map((inode) => `socket:[${inode}]`));
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      try {
        if (sockets.has(readlinkSync(`/proc/${entry}/fd/${fd}`))) return Number(entry);
      } catch {
        // closed meanwhile
      }
    }
  }
  return null;
}

/** The process serving `url`, if it listens on a loopback address of this machine. */
export function pidServing(url: URL): number | null {
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) return null;
  return pidListeningOn(Number(url.port || (url.protocol === 'https:' ? 443 : 80)));
}

export interface Memory {
  /** Resident now (VmRSS). */
  readonly rssMb: number;
  /** The most it was ever resident (VmHWM): for the process's whole life. */
  readonly peakMb: number;
}

export function memoryOf(pid: number): Memory | null {
  const status = readOrNull(`/proc/${pid}/status`);
  if (status === null) return null;
  const kb = (field: string): number | null => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    return match ? Number(match[1]) : null;
  };
  const rss = kb('VmRSS');
  const hwm = kb('VmHWM');
  return rss === null || hwm === null ? null : { rssMb: rss / 1024, peakMb: hwm / 1024 };
}

/** utime + stime of a /proc stat line, in seconds (clock ticks of 1/100 s on Linux). */
function cpuSecondsOf(stat: string | null): number | null {
  if (stat === null) return null;
  // The command name, in parentheses, may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export interface CpuTime {
  /** Every thread of the process. */
  readonly processSec: number;
  /** Its main thread alone (the task whose id is the process's). */
  readonly mainThreadSec: number;
}

export function cpuTimeOf(pid: number): CpuTime | null {
  const processSec = cpuSecondsOf(readOrNull(`/proc/${pid}/stat`));
  const mainThreadSec = cpuSecondsOf(readOrNull(`/proc/${pid}/task/${pid}/stat`));
  return processSec === null || mainThreadSec === null ? null : { processSec, mainThreadSec };
}

/** The ids of a process's live threads (its tasks); null when the process is gone. */
function tasksOf(pid: number): string[] | null {
  try {
    return readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
}

/**
 * A process's CPU time by kind of thread, in seconds: what the threads cost beside what they buy. Threads are told
 * apart by the name Node and V8 give them (`/proc/<pid>/task/<tid>/comm`); the main thread is the task whose id is the
 * process's. `other` is the process's time less the rest, so the four add up to the process: it holds libuv's pool,
 * any thread of another name, and every thread that has exited (its time stays in the process's).
 */
export interface CpuByThread {
  readonly mainThread: number;
  /** Node's worker_threads ("WorkerThread"): this service's step threads, and any other worker it runs. */
  readonly workerThreads: number;
  /** V8's platform threads ("node-V8Worker"): collection and compilation beside the isolates. */
  readonly v8Helpers: number;
  readonly other: number;
}

const WORKER_THREAD = 'WorkerThread';
const V8_HELPER = 'node-V8Worker';

export function cpuByThreadOf(pid: number): CpuByThread | null {
  const processSec = cpuSecondsOf(readOrNull(`/proc/${pid}/stat`));
  const tasks = tasksOf(pid);
  if (processSec === null || tasks === null) return null;
  let mainThread = 0;
  let workerThreads = 0;
  let v8Helpers = 0;
  for (const tid of tasks) {
    const stat = readOrNull(`/proc/${pid}/task/${tid}/stat`);
    const seconds = cpuSecondsOf(stat);
    // A thread that exited between the listing and the read: its time is the process's, counted in `other`.
    if (stat === null || seconds === null) continue;
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (tid === String(pid)) mainThread += seconds;
    else if (name === WORKER_THREAD) workerThreads += seconds;
    else if (name === V8_HELPER) v8Helpers += seconds;
  }
  const other = Math.max(0, processSec - mainThread - workerThreads - v8Helpers);
  return { mainThread, workerThreads, v8Helpers, other };
}

/**
 * µs per order by kind of thread over a window, from its first and last readings, the process's CPU seconds over it
 * and the orders answered in it. The rest is the process's less the three, taken over the window: each thread's time
 * and the process's are rounded to ticks apart, so the rest of one reading less that of another can fall below 0.
 */
export function cpuPerOrderByThread(
  from: CpuByThread,
  to: CpuByThread,
  processSeconds: number,
  orders: number,
): Record<keyof CpuByThread, number> {
  const perOrder = (seconds: number): number => Math.round((seconds * 1e6) / orders);
  const mainThread = to.mainThread - from.mainThread;
  const workerThreads = to.workerThreads - from.workerThreads;
  const v8Helpers = to.v8Helpers - from.v8Helpers;
  return {
    mainThread: perOrder(mainThread),
    workerThreads: perOrder(workerThreads),
    v8Helpers: perOrder(v8Helpers),
    other: perOrder(Math.max(0, processSeconds - mainThread - workerThreads - v8Helpers)),
  };
}

/**
 * How many times the process's threads have gone to sleep: the voluntary context switches of each of its live threads
 * (`/proc/<pid>/task/<tid>/status`), summed. A thread switches voluntarily each time it blocks — in `epoll_wait`, on a
 * futex, in `Atomics.wait` — and is woken again. On the machines this project measures on, one such sleep costs as
 * much CPU as a small function's whole work (`npm run measure -- wake-cost`; docs/decisions/cancellation.md).
 * A thread that has exited takes its count along (unlike its CPU time, which stays in the process's).
 */
export function sleepsOf(pid: number): number | null {
  const tasks = tasksOf(pid);
  if (tasks === null) return null;
  let sleeps = 0;
  for (const tid of tasks) {
    const status = readOrNull(`/proc/${pid}/task/${tid}/status`);
    // A thread that exited between the listing and the read: its count is gone with it.
    const count = status?.match(/^voluntary_ctxt_switches:\s*(\d+)$/m)?.[1];
    if (count !== undefined) sleeps += Number(count);
  }
  return sleeps;
}

/**
 * The threads' sleeps per order over the window, to two decimals. Null where they could not be read, or where fewer
 * were counted at the end than at the start: a thread that exited in between took its count along, and the figure
 * would say less than happened.
 */
export function sleepsPerOrder(atStart: number | null, atEnd: number | null, orders: number): number | null {
  if (atStart === null || atEnd === null || orders === 0 || atEnd < atStart) return null;
  return Math.round(((atEnd - atStart) / orders) * 100) / 100;
}
