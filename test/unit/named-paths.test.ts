/**
 * Every path of the project that a comment or a guide names is there: a file moved or renamed fails here, not in
 * a newcomer's search for it, as docs-links.test.ts does for the guides' links. A path is one under src/,
 * workers/, web/, scripts/, load/ or test/, named in a comment of the code (TypeScript's own comments, as its
 * parser finds them; CSS's, SQL's and HTML's) or anywhere in README.md, CONTRIBUTING.md and the guides under
 * docs/. A module named without its extension (as an import names it) counts as its .ts file. A comment's path
 * beginning with ./ is its own folder's, and checked there; one beginning with ../ is not (the comments that write
 * one mean a checkout beside the project's).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { pathOf, PROJECT_ROOT as ROOT_URL } from '../../src/paths.js';

const PROJECT_ROOT = pathOf(ROOT_URL);
const CODE_ROOTS = ['src', 'workers', 'web', 'scripts', 'load', 'test'];

/** Named without being there, on purpose: what a recipe has a contributor add. */
const EXAMPLES: Readonly<Record<string, string>> = {
  'workers/steps/inventory.ts': "CONTRIBUTING.md's new step",
  'src/redis/': "CONTRIBUTING.md's new store",
};

/** A path under a folder .gitignore names is made by a command (a report, a run's results), not kept. */
const IGNORED = readFileSync(join(PROJECT_ROOT, '.gitignore'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line.endsWith('/') && !line.startsWith('#'));

/** A path of the project in running text: not part of a longer path or a URL, its last character no punctuation. */
const NAMED_PATH = new RegExp(`(?<![\\w./@:-])((?:${CODE_ROOTS.join('|')})/[\\w./-]*[\\w/])`, 'g');

function filesUnder(dir: string): string[] {
  return readdirSync(join(PROJECT_ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : filesUnder(path);
    return [path];
  });
}

/** The comments of a TypeScript file, as its parser sees them (a `//` in a string or a URL is no comment). */
function typeScriptComments(path: string, text: string): string[] {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, false);
  const seen = new Set<number>();
  const comments: string[] = [];
  const take = (ranges: readonly ts.CommentRange[] | undefined): void => {
    for (const range of ranges ?? []) {
      if (seen.has(range.pos)) continue;
      seen.add(range.pos);
      comments.push(text.slice(range.pos, range.end));
    }
  };
  const visit = (node: ts.Node): void => {
    take(ts.getLeadingCommentRanges(text, node.getFullStart()));
    take(ts.getTrailingCommentRanges(text, node.getEnd()));
    node.forEachChild(visit);
  };
  visit(source);
  take(ts.getLeadingCommentRanges(text, source.endOfFileToken.getFullStart()));
  return comments;
}

/** The comments of a stylesheet, a page or a migration. */
const OTHER_COMMENTS: Readonly<Record<string, RegExp>> = {
  '.css': /\/\*[\s\S]*?\*\//g,
  '.html': /<!--[\s\S]*?-->/g,
  '.sql': /--[^\n]*/g,
};

function commentsOf(path: string): string[] {
  const text = readFileSync(join(PROJECT_ROOT, path), 'utf8');
  if (/\.[cm]?ts$/.test(path)) return typeScriptComments(path, text);
  const pattern = OTHER_COMMENTS[/\.\w+$/.exec(path)?.[0] ?? ''];
  return pattern ? [...text.matchAll(pattern)].map((match) => match[0]) : [];
}

function isThere(path: string): boolean {
  const trimmed = path.replace(/\.+$/, '');
  if (trimmed in EXAMPLES || IGNORED.some((folder) => trimmed.startsWith(folder))) return true;
  const absolute = join(PROJECT_ROOT, trimmed);
  return existsSync(absolute) || existsSync(`${absolute}.ts`);
}

/** A comment's path in its own folder. */
const RELATIVE_PATH = /(?<![\w./@:-])(\.\/[\w./-]*\w)/g;

function relativeNamed(file: string, comments: readonly string[]): string[] {
  return comments.flatMap((text) => [...text.matchAll(RELATIVE_PATH)].map((match) => join(dirname(file), match[1]!)));
}

const missingIn = (texts: readonly string[]): string[] => [
  ...new Set(
    texts.flatMap((text) => [...text.matchAll(NAMED_PATH)].map((match) => match[1]!)).filter((path) => !isThere(path)),
  ),
];

const GUIDES = [
  'README.md',
  'CONTRIBUTING.md',
  ...filesUnder('docs')
    .filter((path) => path.endsWith('.md'))
    .map((path) => relative(PROJECT_ROOT, join(PROJECT_ROOT, path))),
];

describe('paths named in the code and the guides', () => {
  it('every path a comment names is there', () => {
    const code = CODE_ROOTS.flatMap(filesUnder).filter((path) => /\.([cm]?ts|css|html|sql)$/.test(path));
    expect(code.length).toBeGreaterThan(300);
    const missing = code.flatMap((path) => {
      const comments = commentsOf(path);
      const relatives = relativeNamed(path, comments).filter((named) => !isThere(named));
      return [...missingIn(comments), ...relatives].map((named) => `${path}: ${named}`);
    });
    expect(missing).toEqual([]);
  });

  it.each(GUIDES)('every path %s names is there', (guide) => {
    expect(missingIn([readFileSync(join(PROJECT_ROOT, guide), 'utf8')])).toEqual([]);
  });
});
