/**
 * What a done order's record keeps besides its key, in bytes: its runs, its
 * tier, its own deadline if it sent one, the provider's books of it (folded in: see src/ledger/memory-ledger.ts)
 * and its outcome — the final answer a retry is given again, every step of
 * it, or a passing outcome's answer, kept only to be shown (a timeout's
 * steps); and, for a canceled one, who canceled it and when. Names, statuses, kinds, fates, effects and verdicts are
 * each a few bits,
 * their codes their places in the lists below (the step registry's, the
 * failure kinds', the tiers'); durations, thread ids, attempts, retries and
 * amounts are numbers written exactly (src/orders/byte-cursor.ts). So what
 * is read back is what was written: a replay answers as the first answer did,
 * field for field.
 *
 * An action (a step or a compensation) takes two bytes of codes, then its
 * numbers: four or five bytes for a step that succeeded in a few
 * milliseconds.
 */
import type { DependencyVerdict } from '../domain/dependencies.js';
import { ORDER_FAILURE_KINDS, type OrderFailureKind } from '../domain/errors.js';
import { ACTION_NAMES, MAX_CLIENT_NAME_LENGTH } from '../domain/order.js';
import { TIERS, type Tier } from '../domain/tier.js';
import type { FoldedBooks } from '../ledger/memory-ledger.js';
import type { OrderResult } from '../pipeline/order-pipeline.js';
import type { StepEffect, StepOutcome, StepStatus, ThreadFate } from '../pipeline/steps.js';
import type { ByteReader, ByteWriter } from './byte-cursor.js';
import type { CancelRequest, OutcomeKind, RecordedOutcome } from './order-records.js';

/** Every value of `T`, listed: the compiler refuses a list that leaves one out. A value's code is its place. */
const everyValueOf =
  <T extends string>() =>
  <const L extends readonly T[]>(list: L & ([Exclude<T, L[number]>] extends [never] ? unknown : never)): L =>
    list;

const STATUSES = everyValueOf<StepStatus>()(['ok', 'error', 'canceled']);
/** Code 0 is "none" in each of these. */
const FATES = [undefined, ...everyValueOf<ThreadFate>()(['terminated', 'died'])] as const;
const EFFECTS = [undefined, ...everyValueOf<StepEffect>()(['applied', 'refused'])] as const;
const VERDICTS = [undefined, ...everyValueOf<DependencyVerdict>()(['answered', 'failed'])] as const;
const TIER_CODES = [undefined, ...TIERS] as const;
/** 'ok', then every failure kind: an outcome's kind is one byte. */
export const OUTCOME_KINDS: readonly OutcomeKind[] = ['ok', ...ORDER_FAILURE_KINDS];

if (ACTION_NAMES.length > 8 || OUTCOME_KINDS.length > 255)
  throw new Error('a done record codes an action in 3 bits and a kind in a byte: widen them in outcome-codec.ts');

export interface DoneBody {
  readonly runs: number;
  readonly tier: Tier | undefined;
  /** The deadline its order sent (deadline_ms); undefined when it ran on the service's. */
  readonly ownDeadlineMs: number | undefined;
  readonly outcome: RecordedOutcome;
  /** The provider's books of the order, folded in; undefined if it has none. */
  readonly books: FoldedBooks | undefined;
  /** Who canceled it, and when: kept with a canceled outcome only. */
  readonly canceled?: CancelRequest | undefined;
}

// The body's first byte: its tier (bits 0–1), what of its answer it keeps (bits 2–3: ANSWER), then these.
const BY_DEPENDENCY = 1 << 4;
const HAS_BOOKS = 1 << 5;
const HAS_EARLIER_BOOKS = 1 << 6;
const HAS_OWN_DEADLINE = 1 << 7;
/**
 * Its answer: none; replayed, its failure its kind; replayed with a failure of its own (a byte says it); or kept only
 * to be shown, never replayed (a passing outcome's, its failure its kind).
 */
const ANSWER = 3 << 2;
const REPLAYED = 1 << 2;
const SHOWN_ONLY = 2 << 2;
const REPLAYED_FAILURE_DIFFERS = 3 << 2;
// The books' byte.
const VOIDED = 1;
const DECLINED = 2;
// A canceled outcome's byte: whether who canceled it is known, and whether an admin key's fingerprint follows.
const CANCELED_BY = 1;
const ACTOR_KEY_FOLLOWS = 2;
/** An admin key's fingerprint is 19 characters (src/auth/key-ring.ts): room to spare. */
const MAX_ACTOR_KEY_LENGTH = 32;
/** Its byte, its actor and key a byte a character (a client's name is ASCII: src/auth/caller.ts), and its time. */
const MAX_CANCELED_BYTES = 1 + (1 + MAX_CLIENT_NAME_LENGTH) + (1 + MAX_ACTOR_KEY_LENGTH) + 9;
// An action's second byte: effect (2 bits), verdict (2 bits), then these.
const HAS_KIND = 1 << 4;
const HAS_CAUSE = 1 << 5;
const HAS_RETRIES = 1 << 6;
const ATTEMPTS_FOLLOW = 1 << 7;

/**
 * A body's bytes at most: its two flag bytes, nine a number (runs, the books' five, the own deadline), who canceled
 * it, a failure's byte, the two counts, and every action at its longest (two bytes of codes, a kind, a cause and four
 * numbers).
 */
export const MAX_BODY_BYTES = 2 + 7 * 9 + MAX_CANCELED_BYTES + 1 + 2 + ACTION_NAMES.length * (2 + 2 + 4 * 9);

export const kindCode = (kind: OutcomeKind): number => OUTCOME_KINDS.indexOf(kind);
const failureCode = (kind: OrderFailureKind): number => ORDER_FAILURE_KINDS.indexOf(kind);

/**
 * The body of a done record; its kind is kept apart (`kindCode`), and its replay's order_id is its key's (a run's
 * result is its own order's).
 */
export function writeBody(out: ByteWriter, { runs, tier, ownDeadlineMs, outcome, books, canceled }: DoneBody): void {
  const expected = outcome.kind === 'ok' ? undefined : outcome.kind;
  const { replay } = outcome;
  // A shown answer is read back with its kind as its failure: one that says another is not kept, rather than changed.
  const shown = replay === undefined && outcome.answered?.failure === expected ? outcome.answered : undefined;
  const answer = replay ?? shown;
  const answerCode = replay
    ? replay.failure === expected
      ? REPLAYED
      : REPLAYED_FAILURE_DIFFERS
    : shown
      ? SHOWN_ONLY
      : 0;
  const earlier = books && (!Object.is(books.earlier.charged, 0) || !Object.is(books.earlier.refunded, 0));
  out.byte(
    TIER_CODES.indexOf(tier) |
      answerCode |
      (answer?.failedByDependency ? BY_DEPENDENCY : 0) |
      (books ? HAS_BOOKS : 0) |
      (earlier ? HAS_EARLIER_BOOKS : 0) |
      (ownDeadlineMs === undefined ? 0 : HAS_OWN_DEADLINE),
  );
  out.number(runs);
  if (ownDeadlineMs !== undefined) out.number(ownDeadlineMs);
  if (books) {
    const { latest } = books;
    out.byte((latest.voided ? VOIDED : 0) | (latest.declined ? DECLINED : 0));
    out.number(runs - latest.run);
    out.number(latest.charged);
    out.number(latest.refunded);
    if (earlier) {
      out.number(books.earlier.charged);
      out.number(books.earlier.refunded);
    }
  }
  if (outcome.kind === 'canceled') writeCanceled(out, canceled);
  if (!answer) return;
  if (answerCode === REPLAYED_FAILURE_DIFFERS)
    out.byte(answer.failure === undefined ? 0 : 1 + failureCode(answer.failure));
  out.varint(answer.steps.length);
  out.varint(answer.compensations.length);
  for (const step of answer.steps) writeAction(out, step);
  for (const step of answer.compensations) writeAction(out, step);
}

/** Fits its bytes: within its lengths, a byte a character. */
const fitsBytes = (text: string, most: number): boolean =>
  text.length <= most && [...text].every((unit) => unit.charCodeAt(0) <= 0xff);

/** Who canceled it, if it fits (else it is not kept, rather than kept changed), and when. */
function writeCanceled(out: ByteWriter, canceled: CancelRequest | undefined): void {
  const { actor = '', actorKey, at = 0 } = canceled ?? {};
  const kept =
    canceled !== undefined &&
    fitsBytes(actor, MAX_CLIENT_NAME_LENGTH) &&
    (actorKey === undefined || fitsBytes(actorKey, MAX_ACTOR_KEY_LENGTH));
  out.byte(kept ? CANCELED_BY | (actorKey === undefined ? 0 : ACTOR_KEY_FOLLOWS) : 0);
  if (!kept) return;
  out.text(actor);
  if (actorKey !== undefined) out.text(actorKey);
  out.number(at);
}

function readCanceled(from: ByteReader): CancelRequest | undefined {
  const flags = from.byte();
  if (!(flags & CANCELED_BY)) return undefined;
  const actor = from.text();
  const actorKey = flags & ACTOR_KEY_FOLLOWS ? from.text() : undefined;
  return { actor, ...(actorKey === undefined ? {} : { actorKey }), at: from.number() };
}

function writeAction(out: ByteWriter, step: StepOutcome): void {
  out.byte(
    ACTION_NAMES.indexOf(step.name) |
      (STATUSES.indexOf(step.status) << 3) |
      (FATES.indexOf(step.threadFate) << 5) |
      (step.threadId === undefined ? 0 : 0x80),
  );
  out.byte(
    EFFECTS.indexOf(step.effect) |
      (VERDICTS.indexOf(step.dependency) << 2) |
      (step.kind === undefined ? 0 : HAS_KIND) |
      (step.cause === undefined ? 0 : HAS_CAUSE) |
      (step.retries === undefined ? 0 : HAS_RETRIES) |
      (step.attempts === 1 ? 0 : ATTEMPTS_FOLLOW),
  );
  if (step.kind !== undefined) out.byte(failureCode(step.kind));
  if (step.cause !== undefined) out.byte(failureCode(step.cause));
  out.number(step.durationMs);
  if (step.threadId !== undefined) out.number(step.threadId);
  if (step.attempts !== 1) out.number(step.attempts);
  if (step.retries !== undefined) out.number(step.retries);
}

/** The body `writeBody` wrote, read back whole: the record of order `orderId`, whose outcome is of `kind`. */
export function readBody(from: ByteReader, orderId: string, kind: OutcomeKind): DoneBody {
  const flags = from.byte();
  const runs = from.number();
  const ownDeadlineMs = flags & HAS_OWN_DEADLINE ? from.number() : undefined;
  const books = flags & HAS_BOOKS ? readBooks(from, runs, (flags & HAS_EARLIER_BOOKS) !== 0) : undefined;
  const tier = TIER_CODES[flags & 3];
  const canceled = kind === 'canceled' ? readCanceled(from) : undefined;
  const answerCode = flags & ANSWER;
  if (answerCode === 0) return { runs, tier, ownDeadlineMs, books, canceled, outcome: { kind, replay: undefined } };
  let failure = kind === 'ok' ? undefined : kind;
  if (answerCode === REPLAYED_FAILURE_DIFFERS) {
    const code = from.byte();
    failure = code === 0 ? undefined : ORDER_FAILURE_KINDS[code - 1];
  }
  const stepCount = from.varint();
  const compensationCount = from.varint();
  const steps = Array.from({ length: stepCount }, () => readAction(from));
  const compensations = Array.from({ length: compensationCount }, () => readAction(from));
  const answer: OrderResult = {
    orderId,
    steps,
    compensations,
    failure,
    ...(flags & BY_DEPENDENCY ? { failedByDependency: true as const } : {}),
    // The answer replayed names the tier its run ran at, which is the record's.
    ...(tier ? { tier } : {}),
  };
  const outcome: RecordedOutcome =
    answerCode === SHOWN_ONLY ? { kind, replay: undefined, answered: answer } : { kind, replay: answer };
  return { runs, tier, ownDeadlineMs, books, canceled, outcome };
}

/** Just the books, past the body's first bytes: what the provider asks of a done order. */
export function readBooksOnly(from: ByteReader): FoldedBooks | undefined {
  const flags = from.byte();
  const runs = from.number();
  if (flags & HAS_OWN_DEADLINE) from.number();
  return flags & HAS_BOOKS ? readBooks(from, runs, (flags & HAS_EARLIER_BOOKS) !== 0) : undefined;
}

function readBooks(from: ByteReader, runs: number, earlier: boolean): FoldedBooks {
  const flags = from.byte();
  const run = runs - from.number();
  const charged = from.number();
  const refunded = from.number();
  return {
    latest: { run, charged, refunded, voided: (flags & VOIDED) !== 0, declined: (flags & DECLINED) !== 0 },
    earlier: earlier ? { charged: from.number(), refunded: from.number() } : { charged: 0, refunded: 0 },
  };
}

function readAction(from: ByteReader): StepOutcome {
  const first = from.byte();
  const second = from.byte();
  const kind = second & HAS_KIND ? ORDER_FAILURE_KINDS[from.byte()] : undefined;
  const cause = second & HAS_CAUSE ? ORDER_FAILURE_KINDS[from.byte()] : undefined;
  const durationMs = from.number();
  const threadId = first & 0x80 ? from.number() : undefined;
  const attempts = second & ATTEMPTS_FOLLOW ? from.number() : 1;
  const retries = second & HAS_RETRIES ? from.number() : undefined;
  // Every field, undefined where it has none: the shape the step runner makes.
  return {
    name: ACTION_NAMES[first & 7]!,
    status: STATUSES[(first >> 3) & 3]!,
    durationMs,
    threadId,
    kind,
    cause,
    threadFate: FATES[(first >> 5) & 3],
    attempts,
    // A done record keeps how many tries a step took, not each: the timeline reads them from a durable store.
    earlierTries: undefined,
    effect: EFFECTS[second & 3],
    dependency: VERDICTS[(second >> 2) & 3],
    retries,
  };
}
