/**
 * The wire format of POST /order and its strict decoding: exactly one JSON
 * object, no unknown field at any level, no field twice, no string that is
 * not well-formed Unicode, every value in range. Anything else is rejected
 * with a message naming the offending field.
 */
import { z } from 'zod';
import { FAULT_TARGETS, FAULTS, NO_FAULTS, type Faults } from '../../domain/faults.js';
import {
  ACTION_NAMES,
  DEFAULT_DELAY_MS,
  MAX_ORDER_ID_LENGTH,
  STEP_NAMES,
  type ActionName,
  type Order,
} from '../../domain/order.js';
import { describeIssues, parseJsonObject } from './json-body.js';
import { MAX_CPU_MS, MAX_DEADLINE_MS, MAX_DELAY_MS, plainOrderBody, type PlainOrderBody } from './plain-order-body.js';

export { MAX_CPU_MS, MAX_DELAY_MS } from './plain-order-body.js';

const millisFor = <Name extends string>(names: readonly Name[], max: number) =>
  z.strictObject(
    Object.fromEntries(names.map((name) => [name, z.int().min(0).max(max).optional()])) as Record<
      Name,
      z.ZodOptional<z.ZodInt>
    >,
  );

const faultsSchema = z
  .strictObject(
    Object.fromEntries(FAULT_TARGETS.map((name) => [name, z.enum(FAULTS).optional()])) as Record<
      ActionName,
      z.ZodOptional<z.ZodEnum<{ [F in (typeof FAULTS)[number]]: F }>>
    >,
  )
  .meta({
    description:
      'Only with FAULT_INJECTION=on (otherwise 400): the fault each step or the refund commits when its delay ends — ignore_cancel, hang, crash, reject (unhandled rejection), exit (process.exit), oom — to see a thread lost and its neighbours run again.',
  });

/** The body without `faults`: what the service accepts unless FAULT_INJECTION=on. */
const plainOrderSchema = z.strictObject({
  order_id: z.string().min(1).max(MAX_ORDER_ID_LENGTH),
  amount: z.int().positive().max(Number.MAX_SAFE_INTEGER),
  fail_step: z.enum(STEP_NAMES).optional(),
  fail_compensation: z.boolean().optional(),
  delay_ms: millisFor(ACTION_NAMES, MAX_DELAY_MS).optional(),
  cpu_ms: millisFor(STEP_NAMES, MAX_CPU_MS).optional(),
  deadline_ms: z.int().min(1).max(MAX_DEADLINE_MS).optional().meta({
    description:
      "The order's own deadline, in place of ORDER_TIMEOUT_MS: at most the server's ORDER_DEADLINE_MAX_MS (5 minutes by default; more is 400). For an order accepted now and answered later (Prefer: respond-async).",
  }),
});

/** The whole body, as documented. */
export const orderBodySchema = plainOrderSchema.extend({ faults: faultsSchema.optional() });

export type OrderBody = z.infer<typeof orderBodySchema>;

export type Decoded = { readonly ok: true; readonly order: Order } | { readonly ok: false; readonly message: string };

export interface DecodeOptions {
  /** Whether an order may carry `faults` (FAULT_INJECTION=on). */
  readonly faultInjection: boolean;
  /** Who sent it (the caller's client): an order is its client's. */
  readonly client: string;
  /** ORDER_DEADLINE_MAX_MS: the longest `deadline_ms` allowed. */
  readonly maxDeadlineMs: number;
}

/**
 * Decode a raw request body (the bytes as received) into an order: a plain body in one pass (plain-order-body.ts),
 * anything else by the schema.
 */
export function decodeOrder(raw: Buffer | undefined, options: DecodeOptions): Decoded {
  const plain = raw && plainOrderBody(raw, options.maxDeadlineMs);
  return plain ? { ok: true, order: toOrder(plain, options.client) } : decodeBySchema(raw, options);
}

/** The body decoded by the schema, and refused in its words: what a body that is not plain goes through. */
export function decodeBySchema(
  raw: Buffer | undefined,
  { faultInjection, client, maxDeadlineMs }: DecodeOptions,
): Decoded {
  const parsedJson = parseJsonObject(raw);
  if (!parsedJson.ok) return parsedJson;
  if (!faultInjection && 'faults' in parsedJson.value)
    return { ok: false, message: 'faults: fault injection is off (the server enables it with FAULT_INJECTION=on)' };
  const parsed = orderBodySchema.safeParse(parsedJson.value);
  if (!parsed.success) return { ok: false, message: describeIssues(parsed.error) };
  if (parsed.data.deadline_ms !== undefined && parsed.data.deadline_ms > maxDeadlineMs)
    return { ok: false, message: `deadline_ms: at most ${maxDeadlineMs} (ORDER_DEADLINE_MAX_MS)` };
  return { ok: true, order: toOrder(parsed.data, client) };
}

function withDefaults<Name extends ActionName>(
  names: readonly Name[],
  given: Partial<Record<Name, number>> | undefined,
  fallback: (name: Name) => number,
): Readonly<Record<Name, number>> {
  // Filled name by name, in the registry's order: every order's object of one shape, and no array of entries made.
  const filled = {} as Record<Name, number>;
  for (const name of names) filled[name] = given?.[name] ?? fallback(name);
  return filled;
}

function toOrder(body: OrderBody | PlainOrderBody, client: string): Order {
  return {
    client,
    orderId: body.order_id,
    amount: body.amount,
    failStep: body.fail_step,
    failCompensation: body.fail_compensation ?? false,
    delayMs: withDefaults(ACTION_NAMES, body.delay_ms, (name) => DEFAULT_DELAY_MS[name]),
    cpuMs: withDefaults(STEP_NAMES, body.cpu_ms, () => 0),
    faults: 'faults' in body ? faultsOf(body.faults) : NO_FAULTS,
    ...(body.deadline_ms === undefined ? {} : { deadlineMs: body.deadline_ms }),
  };
}

/** Only the faults given, in a fixed order (the fingerprint of an order reads them). */
function faultsOf(given: OrderBody['faults']): Faults {
  if (!given) return NO_FAULTS;
  const faults = Object.fromEntries(FAULT_TARGETS.flatMap((name) => (given[name] ? [[name, given[name]]] : [])));
  return Object.keys(faults).length === 0 ? NO_FAULTS : faults;
}
