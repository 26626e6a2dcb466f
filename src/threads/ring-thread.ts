/**
 * One live thread as the pool's main-thread side knows it: its pair of rings and the reader of its reports, what it
 * runs, and whether it keeps up. Each turn's writes are noted with their time and dropped once its reader has passed
 * them; one left unread for STALLED_AFTER_MS means the thread is not reading (hung in a step's code, or in a turn that
 * long): it gets no new work, and past TAKEN_BACK_AFTER_MS what it left unread is taken back (`withdraw`) for a thread
 * that keeps up. Taken back, the words stay unread until its reader passes them, so it counts as stalled until it
 * reads again.
 */
import { RingReader } from '../shared-memory/word-ring.js';
import { STALLED_AFTER_MS, TAKEN_BACK_AFTER_MS, type RingCandidate } from './ring-placement.js';
import { batchCells, type RingPair } from './step-rings.js';

/** A turn's writes to the ring: up to where, and when. */
interface Written {
  readonly end: number;
  readonly writtenAt: number;
}

export class RingThread implements RingCandidate {
  /** Ring tasks running on it: what one turn wrote to it, until every step of it has its answer. */
  ringTasks = 0;
  /** Steps of those tasks without an answer yet: what placement packs. */
  ringSteps = 0;
  /** CPU work (ms) of the computing steps placed on it and not settled. */
  owedCpuMs = 0;
  private readonly reader: RingReader;
  /** The turns' writes not read yet, oldest first. */
  private unread: Written[] = [];
  /** What it left unread has been taken back: nothing is owed a look until it is written to again. */
  private takenBack = false;

  constructor(
    readonly threadId: number,
    readonly pair: RingPair,
    /** A report or ledger request at `at` of the report ring. */
    onReport: (at: number) => void,
  ) {
    this.reader = new RingReader(pair.reports, onReport);
    this.reader.look();
  }

  get awake(): boolean {
    return this.pair.tasks.readerAwake();
  }

  /** The turn's batches are written: published, the thread woken if it waits, and the write noted. */
  wrote(now: number): void {
    const ring = this.pair.tasks;
    ring.publish();
    ring.wake();
    this.unread.push({ end: ring.written, writtenAt: now });
    this.takenBack = false;
  }

  /** Whether it has left a write unread for STALLED_AFTER_MS by `now`: it gets no new work. */
  stalled(now: number): boolean {
    return this.unreadFor(now) >= STALLED_AFTER_MS;
  }

  /** Whether what it left unread is due to be taken back by `now` (TAKEN_BACK_AFTER_MS, and not taken back yet). */
  owesTakeBack(now: number): boolean {
    return !this.takenBack && this.unreadFor(now) >= TAKEN_BACK_AFTER_MS;
  }

  /** When what it leaves unread is due to be taken back; undefined if nothing is. */
  takeBackAt(): number | undefined {
    return this.unread.length > 0 && !this.takenBack ? this.unread[0]!.writtenAt + TAKEN_BACK_AFTER_MS : undefined;
  }

  /** How long its oldest write not read yet has waited, by `now` (0 if it has read everything written). */
  private unreadFor(now: number): number {
    const ring = this.pair.tasks;
    while (this.unread.length > 0 && ring.readPast(this.unread[0]!.end)) this.unread.shift();
    return this.unread.length > 0 ? now - this.unread[0]!.writtenAt : 0;
  }

  /** Take back every batch it has not read: `withdrawn(cells)` is told the cells of each, in order. */
  withdraw(withdrawn: (cells: number[]) => void): void {
    const ring = this.pair.tasks;
    ring.withdraw((at) => withdrawn(batchCells(ring, at)));
    this.takenBack = true;
  }

  /** Its reports are read at the end of the main thread's turn: it need not wake it meanwhile. */
  stayAwake(): void {
    this.reader.stayAwake();
  }

  /** Read every report it has written. */
  look(): void {
    this.reader.look();
  }

  /** It has exited: its last reports are read, and it is read no more. */
  stop(): void {
    this.reader.look();
    this.reader.stop();
  }
}
