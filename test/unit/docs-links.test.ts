/**
 * Every relative link in the project's Markdown resolves: the file exists
 * and, when the link names a heading, the heading does — anchors made the way
 * GitHub makes them. A page moved or a heading renamed fails here, not in a
 * newcomer's browser. And docs/testing.md names every test file, with a row
 * saying what it proves in its table (the quick suite's) or docs/long-suite.md's
 * (the long suite's); docs/api.md's table of kinds, every kind;
 * docs/events.md's table of event types and the README, every type the service emits; docs/operating.md, every page
 * the service serves and how to open it. And no guide under docs/ is over 4,000 words, nor the README over 2,500;
 * docs/design.md's path of one order is a round trip of at most 25 files that exist.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../src/events/order-event.js';
import { STATUS_BY_KIND } from '../../src/http/wire/error-status.js';
import { pathOf, PROJECT_ROOT as ROOT_URL } from '../../src/paths.js';
import { LONG_SUITE } from '../../vitest.config.js';

const PROJECT_ROOT = pathOf(ROOT_URL);

const PAGES = ['README.md', 'CONTRIBUTING.md', 'load/README.md', ...markdownUnder('docs')];

function markdownUnder(dir: string): string[] {
  return readdirSync(join(PROJECT_ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(dir, name));
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function withoutCode(markdown: string): string {
  return markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
}

function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of markdown.replace(/```[\s\S]*?```/g, '').split('\n')) {
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (!heading?.[1]) continue;
    const anchor = anchorOf(heading[1]);
    const count = seen.get(anchor) ?? 0;
    seen.set(anchor, count + 1);
    anchors.add(count === 0 ? anchor : `${anchor}-${count}`);
  }
  return anchors;
}

function linksOf(markdown: string): string[] {
  return [...withoutCode(markdown).matchAll(/\]\(([^)\s]+)\)/g)]
    .map((match) => match[1] ?? '')
    .filter((target) => !/^[a-z]+:/.test(target));
}

describe('links between the project’s pages', () => {
  it.each(PAGES)('every relative link in %s resolves', (page) => {
    const markdown = readFileSync(join(PROJECT_ROOT, page), 'utf8');
    const broken: string[] = [];
    for (const link of linksOf(markdown)) {
      const [path = '', anchor] = link.split('#');
      const target =
        path === '' ? join(PROJECT_ROOT, page) : resolve(PROJECT_ROOT, dirname(page), decodeURIComponent(path));
      if (!existsSync(target)) {
        broken.push(`${link}: no ${relative(PROJECT_ROOT, target)}`);
        continue;
      }
      if (anchor === undefined || !target.endsWith('.md') || statSync(target).isDirectory()) continue;
      if (!anchorsOf(readFileSync(target, 'utf8')).has(anchor)) broken.push(`${link}: no heading #${anchor}`);
    }
    expect(broken).toEqual([]);
  });
});

describe('docs/testing.md', () => {
  const files = ['unit', 'integration'].flatMap((dir) =>
    readdirSync(join(PROJECT_ROOT, 'test', dir))
      .filter((name) => name.endsWith('.test.ts'))
      .map((name) => `${dir}/${name}`),
  );
  const long = new Set(Object.keys(LONG_SUITE).map((name) => `integration/${name}.test.ts`));
  /** The files named in the first cell of the rows of a page's table of what each file proves. */
  const filesInRowsOf = (page: string): Set<string> =>
    new Set(
      readFileSync(join(PROJECT_ROOT, page), 'utf8')
        .split('## What each file proves')[1]!
        .split('\n## ')[0]!
        .split('\n')
        .filter((line) => line.startsWith('| `'))
        .flatMap((line) =>
          [...line.split('|')[1]!.matchAll(/`((?:unit|integration)\/[^`]+)`/g)].map((match) => match[1]!),
        ),
    );

  it('names every test file', () => {
    const testing = readFileSync(join(PROJECT_ROOT, 'docs/testing.md'), 'utf8');
    expect(files.filter((file) => !testing.includes(`\`${file}\``))).toEqual([]);
  });

  it("says what each file proves: a row of its table for each of the quick suite's, of docs/long-suite.md's for each of the long suite's", () => {
    const quickRows = filesInRowsOf('docs/testing.md');
    const longRows = filesInRowsOf('docs/long-suite.md');
    expect(files.filter((file) => !long.has(file) && !quickRows.has(file))).toEqual([]);
    expect([...long].filter((file) => !longRows.has(file))).toEqual([]);
  });
});

describe("CONTRIBUTING.md's layer table", () => {
  it("is eslint.config.js's LAYERS, a row per folder with what it may import", () => {
    const config = readFileSync(join(PROJECT_ROOT, 'eslint.config.js'), 'utf8');
    const declared = /const LAYERS = \{([^}]*)\}/.exec(config)?.[1] ?? '';
    const layers = [...declared.matchAll(/^\s+'?([a-z-]+)'?: \[([^\]]*)\],/gm)].map(([, name = '', imports = '']) => ({
      name,
      imports: [...imports.matchAll(/'([a-z-]+)'/g)].map(([, layer]) => layer),
    }));
    expect(layers.length).toBeGreaterThan(10);
    const contributing = readFileSync(join(PROJECT_ROOT, 'CONTRIBUTING.md'), 'utf8');
    const rows = [...contributing.matchAll(/^\| `src\/([a-z-]+)\/` \| ([^|]*) \|$/gm)].map(
      ([, name = '', imports = '']) => ({
        name,
        imports: [...imports.matchAll(/`([a-z-]+)\/`/g)].map(([, layer]) => layer),
      }),
    );
    expect(rows).toEqual(layers);
  });
});

describe('the guides', () => {
  const guides = ['CONTRIBUTING.md', 'load/README.md', ...PAGES.filter((page) => /^docs\/[^/]+\.md$/.test(page))];
  const read = (page: string): string => readFileSync(join(PROJECT_ROOT, page), 'utf8');

  it.each(guides)('%s names its reader first, in a line of its own under its title', (page) => {
    const [title, ...rest] = read(page).split('\n');
    expect(title).toMatch(/^# /);
    const first = rest.find((line) => line.trim() !== '');
    expect(first).toMatch(/^\*For [^*]+\.\*$/);
  });

  it.each(guides)('%s has topics (##) and, within a topic, one level more at most (###)', (page) => {
    const headings = [...read(page).matchAll(/^(#{2,}) /gm)].map(([, marks = '']) => marks.length);
    expect(headings.filter((level) => level > 3)).toEqual([]);
    // A ### before any ## would be a topic of its own written one level down.
    const firstSub = headings.indexOf(3);
    if (firstSub >= 0) expect(headings.slice(0, firstSub)).toContain(2);
  });
});

describe('how long the guides are (issue 97)', () => {
  /**
   * Words as `wc -w` counts them: runs of characters between white space, on the Markdown as written — code, tables,
   * links and their punctuation included, so `wc -w docs/*.md` says the same.
   */
  const wordsIn = (page: string): number =>
    readFileSync(join(PROJECT_ROOT, page), 'utf8')
      .split(/\s+/)
      .filter((word) => word !== '').length;
  /** A guide says one subject to one reader; past this, it holds two, or says again what another guide says. */
  const GUIDE_WORDS = 4_000;
  /** The README is a front door, not the house: the rest is the guides'. */
  const README_WORDS = 2_500;
  /** Being rewritten for the road on its own branch (issue 97); held with the others once that lands. */
  const guides = PAGES.filter((page) => /^docs\/[^/]+\.md$/.test(page));

  it.each(guides)(`%s is at most ${GUIDE_WORDS} words`, (page) => {
    expect(wordsIn(page)).toBeLessThanOrEqual(GUIDE_WORDS);
  });

  it(`README.md is at most ${README_WORDS} words`, () => {
    expect(wordsIn('README.md')).toBeLessThanOrEqual(README_WORDS);
  });
});

describe('docs/operating.md', () => {
  it('says what each page the service serves is, and how to open it', () => {
    const operating = readFileSync(join(PROJECT_ROOT, 'docs/operating.md'), 'utf8');
    // A page is a module of live-pages/ named after its path (threads-page.ts serves /threads).
    const pages = readdirSync(join(PROJECT_ROOT, 'src/observability/live-pages'))
      .filter((file) => file.endsWith('-page.ts'))
      .map((file) => `/${file.replace(/-page\.ts$/, '')}`);
    expect(pages.length).toBeGreaterThan(1);
    const headings = [...operating.matchAll(/^##+ (.*)$/gm)].map(([, heading = '']) => heading.toLowerCase());
    for (const page of pages) {
      expect(operating, page).toContain(`| \`GET ${page}\` |`);
      expect(operating, page).toContain(`http://127.0.0.1:8080${page}`);
      expect(
        headings.some((heading) => heading.includes(page.slice(1))),
        page,
      ).toBe(true);
    }
  });
});

describe("docs/api.md's table of kinds", () => {
  it('has a row for every kind an answer or a step can carry', () => {
    const table = readFileSync(join(PROJECT_ROOT, 'docs/api.md'), 'utf8')
      .split('## Errors and their statuses')[1]!
      .split('\n## ')[0]!;
    const named = new Set(
      table
        .split('\n')
        .filter((line) => line.startsWith('| `'))
        .flatMap((line) => [...line.split('|')[1]!.matchAll(/`([a-z_]+)`/g)].map((match) => match[1])),
    );
    expect(Object.keys(STATUS_BY_KIND).filter((kind) => !named.has(kind))).toEqual([]);
  });
});

describe('the event types the guides name', () => {
  /** The event types a text names, each in backticks. */
  const typesIn = (text: string): Set<string> =>
    new Set([...text.matchAll(/`((?:order|payment)\.[a-z_]+)`/g)].map((match) => match[1]!));

  it("are the ones the service emits: docs/events.md's table of types has a row for each, and no other", () => {
    const table = readFileSync(join(PROJECT_ROOT, 'docs/events.md'), 'utf8')
      .split('## The types')[1]!
      .split('\n## ')[0]!
      .split('\n')
      .filter((line) => /^\| `(order|payment)\./.test(line))
      .join('\n');
    expect([...typesIn(table)].sort()).toEqual([...EVENT_TYPES].sort());
  });

  it('the README names each of them, and no other', () => {
    expect([...typesIn(readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8'))].sort()).toEqual([...EVENT_TYPES].sort());
  });

  it('no guide names a type the service does not emit', () => {
    for (const page of PAGES) {
      const named = typesIn(readFileSync(join(PROJECT_ROOT, page), 'utf8'));
      expect(
        [...named].filter((type) => !(EVENT_TYPES as readonly string[]).includes(type)),
        page,
      ).toEqual([]);
    }
  });
});

describe('docs/decisions/', () => {
  const records = readdirSync(join(PROJECT_ROOT, 'docs', 'decisions')).filter((name) => name.endsWith('.md'));
  /** Words as `wc -w` counts them, on the Markdown as written. */
  const wordsOf = (text: string): number => text.split(/\s+/).filter((word) => word.length > 0).length;

  it('keeps at most 12 standing records: one replaced is deleted, git keeps it', () => {
    expect(records.length).toBeLessThanOrEqual(12);
  });

  it.each(records)('%s is at most 800 words, and says how to measure its figures again', (name) => {
    const text = readFileSync(join(PROJECT_ROOT, 'docs', 'decisions', name), 'utf8');
    expect(wordsOf(text)).toBeLessThanOrEqual(800);
    expect(text).toMatch(/^## Measure it again$/m);
  });
});

describe("docs/design.md's path of one order", () => {
  const design = readFileSync(join(PROJECT_ROOT, 'docs', 'design.md'), 'utf8');
  const section = /^## One order's path$([\s\S]*?)^## /m.exec(design)?.[1] ?? '';
  /** Each numbered stop's file: the first path it names. */
  const stops = [...section.matchAll(/^\d+\. `([^`]+)`/gm)].map(([, path]) => path ?? '');

  it('is a round trip, out to a thread and back, in at most 25 files, each named once', () => {
    expect(section).toMatch(/^Out, on the main thread:$/m);
    expect(section).toMatch(/^On a worker thread:$/m);
    expect(section).toMatch(/^Back on the main thread:$/m);
    expect(stops.length).toBeGreaterThan(0);
    expect(stops.length).toBeLessThanOrEqual(25);
    expect(new Set(stops).size).toBe(stops.length);
  });

  it.each(stops)('%s exists', (path) => {
    expect(existsSync(join(PROJECT_ROOT, path)), path).toBe(true);
  });
});
