/**
 * The console's words for the kinds (web/console/console.ts, MEANING) are the service's kinds: one sentence for every
 * kind an answer or an order's outcome can carry (the kind → status table, src/http/wire/error-status.ts), and none for
 * a kind that does not exist — a page that explained "client_closed_request" and said "because internal" for a step
 * that brought its thread down explained nothing. Read from the page's source as its parser reads it: the page runs in
 * a browser, not here.
 */
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ORDER_FAILURE_KINDS } from '../../src/domain/errors.js';
import { STATUS_BY_KIND } from '../../src/http/wire/error-status.js';
import { projectFile } from '../../src/paths.js';

/** The page's table of meanings: each kind it names, and its sentence. */
function pageMeanings(): Map<string, string> {
  const path = projectFile('web/console/console.ts');
  const source = ts.createSourceFile('console.ts', readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const meanings = new Map<string, string>();
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && node.name.getText(source) === 'MEANING' && node.initializer) {
      if (!ts.isObjectLiteralExpression(node.initializer)) throw new Error('MEANING is not an object literal');
      for (const property of node.initializer.properties) {
        if (!ts.isPropertyAssignment(property)) throw new Error(`MEANING holds ${property.getText(source)}`);
        const sentence = property.initializer;
        meanings.set(
          property.name.getText(source).replace(/^['"]|['"]$/g, ''),
          ts.isStringLiteralLike(sentence) ? sentence.text : sentence.getText(source),
        );
      }
    }
    node.forEachChild(visit);
  };
  visit(source);
  return meanings;
}

describe("the console's words for the kinds", () => {
  const meanings = pageMeanings();

  it('say every kind the service answers, and no other', () => {
    expect([...meanings.keys()].sort()).toEqual(Object.keys(STATUS_BY_KIND).sort());
  });

  it('say each in a clause of its own, to follow "because"', () => {
    for (const [kind, sentence] of meanings) {
      expect(sentence.length, kind).toBeGreaterThan(10);
      expect(sentence, kind).not.toMatch(/^[A-Z]|\.$/);
      // A kind explained by its own name explains nothing.
      expect(sentence, kind).not.toBe(kind);
    }
  });

  it('say every outcome an order can end with', () => {
    expect(ORDER_FAILURE_KINDS.filter((kind) => !meanings.has(kind))).toEqual([]);
  });
});
