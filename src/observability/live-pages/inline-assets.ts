/**
 * What a self-contained HTML page inlines: uPlot's browser build (read from
 * the installed package, so a page carries the uPlot that is installed) and
 * a guard that keeps inlined text from ending its own element. Used by the
 * thread view and by the load suite's reports.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Where uPlot's browser build lives; resolved from this module so it works from src/ and dist/src/ alike. */
function uplotDistPath(file: string): string {
  const require = createRequire(import.meta.url);
  try {
    return require.resolve(`uplot/dist/${file}`);
  } catch {
    // A package whose "exports" map does not list dist/ refuses deep paths; its package.json still anchors the folder.
    return join(dirname(require.resolve('uplot/package.json')), 'dist', file);
  }
}

/** uPlot's script (an IIFE defining `uPlot`) or its stylesheet, as text. */
export function uplotAsset(file: 'uPlot.iife.min.js' | 'uPlot.min.css'): string {
  return readFileSync(uplotDistPath(file), 'utf8');
}

/** Keeps inlined text from ending its own element early; "<\\/" means the same in JS strings, regexes and CSS. */
export const guardClosingTag = (text: string, tag: 'script' | 'style'): string =>
  text.replace(new RegExp(`</${tag}`, 'gi'), `<\\/${tag}`);
