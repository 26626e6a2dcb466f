/**
 * A self-contained HTML page of the service's own (the thread view, the
 * console), put together once, at start, from its files under web/: its
 * stylesheets and scripts inlined, each allowed by its hash in the page's
 * Content-Security-Policy, nothing else allowed to run, nothing fetched but
 * from this origin.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { compiledModule, projectFile } from '../../paths.js';
import { guardClosingTag } from './inline-assets.js';

export interface AssembledPage {
  readonly html: string;
  /** Allows exactly the page's own inline styles and scripts, requests to this origin, and no framing. */
  readonly contentSecurityPolicy: string;
}

export interface PageParts {
  /** The page's HTML under web/, with {{styles}} and {{scripts}} where they go. */
  readonly template: string;
  /** Stylesheets' text, in order. */
  readonly styles: readonly string[];
  /** Classic scripts' text, run before the module. */
  readonly classicScripts?: readonly string[];
  /** The page's own module, compiled (web/…, without .ts). */
  readonly module: string;
  /** Other {{names}} in the template, and what they become. */
  readonly fill?: Readonly<Record<string, string>>;
}

/** A page's own stylesheet (under web/), after what every page shares (web/page-base.css). */
export const ownStyles = (stylesheet: string): string[] =>
  ['web/page-base.css', stylesheet].map((path) => readFileSync(projectFile(path), 'utf8'));

const hashOf = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

export function assemblePage({ template, styles, classicScripts = [], module, fill = {} }: PageParts): AssembledPage {
  const css = styles.map((text) => guardClosingTag(text, 'style'));
  const classic = classicScripts.map((text) => guardClosingTag(text, 'script'));
  const script = guardClosingTag(readFileSync(compiledModule(module), 'utf8'), 'script');
  let html = readFileSync(projectFile(template), 'utf8');
  for (const [name, value] of Object.entries(fill)) html = html.replace(`{{${name}}}`, () => value);
  html = html
    .replace('{{styles}}', () => css.map((text) => `<style>${text}</style>`).join('\n'))
    .replace('{{scripts}}', () =>
      [...classic.map((text) => `<script>${text}</script>`), `<script type="module">${script}</script>`].join('\n'),
    );
  const contentSecurityPolicy = [
    "default-src 'none'",
    `script-src ${[...classic, script].map(hashOf).join(' ')}`,
    `style-src ${css.map(hashOf).join(' ')}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, contentSecurityPolicy };
}
