/**
 * The order body's two ways agree: a body decoded in one pass (src/http/wire/plain-order-body.ts) is the order the
 * schema gives of it, and a body that is not plain goes the schema's way, refused in its words — for randomized bodies,
 * plain ones and ones near them (a field repeated, an escape, a byte past ASCII, a number spelled otherwise, a value
 * out of range, an unknown field, trailing text). Seeded: the seed is printed, and ORDER_BODY_SEED=… replays it.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { ACTION_NAMES, STEP_NAMES } from '../../src/domain/order.js';
import { decodeBySchema, decodeOrder, type DecodeOptions } from '../../src/http/wire/order-body.js';
import { plainOrderBody } from '../../src/http/wire/plain-order-body.js';

const OPTIONS: DecodeOptions = { faultInjection: false, client: 'acme', maxDeadlineMs: 300_000 };
const SEED = Number(process.env['ORDER_BODY_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
console.info(`plain-order-body: fast-check seed ${SEED} (ORDER_BODY_SEED=${SEED} replays it)`);

/** A value's JSON text, as clients write it, or spelled in one of the ways JSON allows and a plain body does not. */
const spelled = (value: unknown): fc.Arbitrary<string> =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0
    ? fc.constantFrom(
        JSON.stringify(value),
        JSON.stringify(value),
        `${value}.0`,
        `${value}e0`,
        `0${value}`,
        `-${value}`,
      )
    : typeof value === 'string'
      ? fc.constantFrom(
          JSON.stringify(value),
          JSON.stringify(value),
          JSON.stringify(value).replace(/[a-z]/, (c) => `\\u00${c.charCodeAt(0).toString(16)}`),
        )
      : fc.constant(JSON.stringify(value));

const millis = (names: readonly string[], max: number) =>
  fc.dictionary(
    fc.constantFrom(...names, 'other'),
    fc.oneof(fc.integer({ min: 0, max }), fc.integer({ min: -5, max: max * 2 })),
    {
      maxKeys: names.length,
    },
  );

/** A field of an order body, as a key and its value. */
const member: fc.Arbitrary<[string, unknown]> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(
      fc.constant('order_id'),
      fc.oneof(fc.stringMatching(/^[ -~]{1,140}$/), fc.string({ maxLength: 10 }), fc.constant('')),
    ),
  },
  {
    weight: 4,
    arbitrary: fc.tuple(
      fc.constant('amount'),
      fc.oneof(
        fc.integer({ min: 1, max: 1e6 }),
        fc.constantFrom(0, -1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER, '12', null),
      ),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constant('fail_step'), fc.constantFrom(...STEP_NAMES, 'refund', 'Payment', null)),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constant('fail_compensation'), fc.constantFrom(true, false, 'true', 0)) },
  { weight: 3, arbitrary: fc.tuple(fc.constant('delay_ms'), fc.oneof(millis(ACTION_NAMES, 60_000), fc.constant([1]))) },
  { weight: 2, arbitrary: fc.tuple(fc.constant('cpu_ms'), millis(STEP_NAMES, 10_000)) },
  { weight: 1, arbitrary: fc.tuple(fc.constant('deadline_ms'), fc.integer({ min: 0, max: 4_000_000 })) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('faults', 'extra', 'orderId', ''), fc.jsonValue()) },
);

const space = fc.constantFrom('', '', ' ', '\n  ', '\t', '\r\n', '\u00a0');

/** A body: its members in any order (some twice), written with white space, sometimes with text around it. */
const body: fc.Arbitrary<string> = fc
  .tuple(
    fc.array(fc.tuple(member, space, space), { minLength: 0, maxLength: 9 }),
    fc.constantFrom('', '', '', ' ', '\n', 'x', '{}', ','),
    fc.constantFrom('', '', '', ' ', '\ufeff'),
  )
  .chain(([members, after, before]) =>
    fc
      .tuple(
        ...members.map(([[key, value], a, b]) =>
          spelled(value).map((text) => `${a}${JSON.stringify(key)}${b}:${a}${text}${b}`),
        ),
      )
      .map((texts) => `${before}{${texts.join(',')}}${after}`),
  );

/** A body the order's fields make, valid and plain: what clients send. */
const plainBody: fc.Arbitrary<string> = fc
  .record(
    {
      order_id: fc.stringMatching(/^[ -~]{1,128}$/).filter((id) => !/["\\]/.test(id)),
      amount: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      fail_step: fc.constantFrom(...STEP_NAMES),
      fail_compensation: fc.boolean(),
      delay_ms: fc.dictionary(fc.constantFrom(...ACTION_NAMES), fc.integer({ min: 0, max: 60_000 })),
      cpu_ms: fc.dictionary(fc.constantFrom(...STEP_NAMES), fc.integer({ min: 0, max: 10_000 })),
      deadline_ms: fc.integer({ min: 1, max: 300_000 }),
    },
    { requiredKeys: ['order_id', 'amount'] },
  )
  .map((order) => JSON.stringify(order));

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

describe('the plain way and the schema agree', () => {
  test.prop([fc.oneof(body, plainBody, fc.json().map(String))], { numRuns: 3000, seed: SEED })(
    'on every body: the same order, or the same refusal in the same words',
    (text) => {
      expect(decodeOrder(bytes(text), OPTIONS)).toStrictEqual(decodeBySchema(bytes(text), OPTIONS));
    },
  );

  test.prop([plainBody], { numRuns: 1000, seed: SEED })('a plain body takes the one pass', (text) => {
    expect(plainOrderBody(bytes(text), OPTIONS.maxDeadlineMs)).toBeDefined();
  });

  it("takes the load suite's and the Go service's bodies in one pass", () => {
    for (const text of [
      '{"order_id":"overhead-1","amount":1200,"delay_ms":{"payment":1,"vendor":1,"courier":1,"refund":1}}',
      '{"order_id":"fail-fast-1","amount":1200,"fail_step":"payment","delay_ms":{"payment":150,"vendor":800,"courier":800}}',
      '{"order_id":"light-1","amount":1200}',
      '{ "order_id": "o-1", "amount": 500, "delay_ms": { "payment": 600 } }\n',
    ])
      expect(plainOrderBody(bytes(text), OPTIONS.maxDeadlineMs), text).toBeDefined();
  });

  it.each([
    ['a field twice', '{"order_id":"a","amount":1,"amount":2}'],
    ['an escape', '{"order_id":"\\u0061","amount":1}'],
    ['a byte past ASCII', '{"order_id":"é","amount":1}'],
    ['a number spelled with a fraction', '{"order_id":"a","amount":1.0}'],
    ['faults', '{"order_id":"a","amount":1,"faults":{}}'],
    ["deadline_ms past the server's bound", '{"order_id":"a","amount":1,"deadline_ms":300001}'],
    ['trailing text', '{"order_id":"a","amount":1} x'],
  ])('leaves %s to the schema', (_case, text) => {
    expect(plainOrderBody(bytes(text), OPTIONS.maxDeadlineMs)).toBeUndefined();
  });
});
