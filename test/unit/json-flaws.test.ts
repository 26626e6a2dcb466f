import { fc, test as propertyTest } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { firstJsonFlaw } from '../../src/http/wire/json-flaws.js';

describe('firstJsonFlaw', () => {
  it.each([
    ['{"a":1,"b":2}', undefined],
    ['{"a":1,"a":2}', { kind: 'duplicate_key', path: 'a' }],
    ['{"a":{"x":1},"b":{"x":1}}', undefined],
    ['{"a":{"x":1,"y":{"z":1},"x":2}}', { kind: 'duplicate_key', path: 'a.x' }],
    ['{"a":[{"k":1},{"k":1,"k":2}]}', { kind: 'duplicate_key', path: 'a.1.k' }],
    ['{"a":1,"\\u0061":2}', { kind: 'duplicate_key', path: 'a' }],
    ['{"a\\"b":1,"a\\u0022b":2}', { kind: 'duplicate_key', path: 'a"b' }],
    ['{ "a" : 1 ,\n\t"a"\r\n: 2 }', { kind: 'duplicate_key', path: 'a' }],
    ['{"s":"a:b","t":"a:b"}', undefined],
    ['{"s":"\\"a\\":1,\\"a\\":2"}', undefined],
    ['["a","a"]', undefined],
    ['{"id":"\\ud800"}', { kind: 'lone_surrogate', path: 'id' }],
    ['{"id":"\\udfff"}', { kind: 'lone_surrogate', path: 'id' }],
    ['{"id":"\\ud83d\\ude00"}', undefined],
    ['{"id":"😀"}', undefined],
    ['{"list":["ok","\\ud800"]}', { kind: 'lone_surrogate', path: 'list.1' }],
    ['{"\\ud800":1}', { kind: 'lone_surrogate', path: '\\ud800' }],
  ])('%s → %j', (text, flaw) => {
    JSON.parse(text);
    expect(firstJsonFlaw(text)).toEqual(flaw);
  });

  it('follows 30,000 levels of nesting without recursion', () => {
    const deep = '['.repeat(30_000) + ']'.repeat(30_000);
    expect(firstJsonFlaw(`{"x":${deep},"x":1}`)).toEqual({ kind: 'duplicate_key', path: 'x' });
  });

  /** Any UTF-16 code units, lone surrogates among them (fast-check's own units are all well-formed). */
  const anyString = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)) });
  /** JSON values whose strings and keys may hold lone surrogates. */
  const values = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      anyString,
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(anyString, tie('value'), { maxKeys: 4 }),
    ),
  })).value;

  const strings = (value: unknown): string[] =>
    typeof value === 'string'
      ? [value]
      : Array.isArray(value)
        ? value.flatMap(strings)
        : value && typeof value === 'object'
          ? Object.entries(value).flatMap(([key, inner]) => [key, ...strings(inner)])
          : [];

  propertyTest.prop([values])(
    'finds a lone surrogate exactly when the value holds one, and no duplicate in what JSON.stringify writes',
    (value) => {
      const flaw = firstJsonFlaw(JSON.stringify(value));
      expect(flaw?.kind).toBe(strings(value).every((text) => text.isWellFormed()) ? undefined : 'lone_surrogate');
    },
  );

  propertyTest.prop([fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 5 }), fc.nat()])(
    'finds any key written twice',
    (object, pick) => {
      const keys = Object.keys(object);
      const key = keys[pick % keys.length]!;
      const text = `{${JSON.stringify(key)}:0,${JSON.stringify(object).slice(1)}`;
      expect(firstJsonFlaw(text)).toEqual({ kind: 'duplicate_key', path: key });
    },
  );
});
