/**
 * The two suites: `npm test` runs the projects `unit`, `unit-alone` and `integration`, `npm run test:all` adds `long`.
 * Every file the long suite names exists and says why it is long; every other test file is in the quick suite, so no
 * test is in neither and none in both.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import config, { HEAP_COUNTING, LONG_SUITE } from '../../vitest.config.js';

const integrationFiles = readdirSync(new URL('../integration/', import.meta.url)).filter((name) =>
  name.endsWith('.test.ts'),
);

describe('the long suite', () => {
  it.each(Object.entries(LONG_SUITE))('names an existing file, with its reason: %s', (name, reason) => {
    expect(integrationFiles).toContain(`${name}.test.ts`);
    expect(reason.trim().length).toBeGreaterThan(0);
  });

  it('is the project `long`, which `integration` leaves out', () => {
    const projects = (config.test?.projects ?? []) as Array<{
      test: { name: string; include: string[]; exclude?: string[] };
    }>;
    const byName = new Map(projects.map((project) => [project.test.name, project.test]));
    const long = Object.keys(LONG_SUITE).map((name) => `test/integration/${name}.test.ts`);
    expect(byName.get('long')?.include).toEqual(long);
    expect(byName.get('integration')?.exclude).toEqual(expect.arrayContaining(long));
  });

  it('leaves most integration files in the quick suite', () => {
    // The quick suite must still prove each capability: if the long suite took most files, that would no longer hold.
    expect(Object.keys(LONG_SUITE).length).toBeLessThan(integrationFiles.length);
  });
});

describe('the unit files', () => {
  const unitFiles = readdirSync(new URL('./', import.meta.url)).filter((name) => name.endsWith('.test.ts'));

  it('that count objects on the heap run each in a process of its own (HEAP_COUNTING), and the rest share one', () => {
    const counting = unitFiles.filter((name) =>
      /\bqueryObjects\(/.test(readFileSync(new URL(name, import.meta.url), 'utf8')),
    );
    expect(counting.map((name) => `test/unit/${name}`).sort()).toEqual([...HEAP_COUNTING].sort());
  });

  it("are all in `npm test`'s projects", () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      scripts: Record<string, string>;
    };
    for (const project of ['unit', 'unit-alone', 'integration'])
      expect(pkg.scripts['test']).toContain(`--project ${project} `);
  });
});
