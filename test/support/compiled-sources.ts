/**
 * The integration files load the project's own modules compiled (dist/, which the global setup has just built), by
 * Node's own loader, not through Vitest's transform: each file runs in a process of its own, and transforming and
 * evaluating the sources it imports through Vitest's module runner cost every file about half a second of CPU more.
 * Every import of src/, workers/, load/, scripts/ and the compiled parts of test/ is sent to its compiled twin, so a
 * module is loaded once, from one place — a class imported by a test is the class the service built its objects from.
 *
 * What it costs: a stack through the project's code names the compiled file and line (dist/src/…/x.js), whose source map
 * beside it gives the source's; Vitest maps only what it transformed.
 *
 * The unit files stay on the sources: they share a process per worker (their imports are paid once), and a few mock a
 * module, which only the module runner can do.
 */
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'vitest/config';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** What tsconfig.build.json compiles into dist/, as paths from the root. */
const COMPILED = /^(?:src|workers|load|scripts|test\/fixtures|test\/chaos)\/.+\.ts$/;
/** What Vitest leaves to Node's loader: the build. */
export const BUILD = new RegExp(`^${ROOT.replaceAll('/', '\\/')}dist\\/`);

export const compiledSources: Plugin = {
  name: 'compiled-sources',
  enforce: 'pre',
  async resolveId(source, importer, options) {
    if (importer === undefined || !source.startsWith('.')) return null;
    const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
    if (!resolved?.id.startsWith(ROOT)) return null;
    const fromRoot = resolved.id.slice(ROOT.length);
    if (!COMPILED.test(fromRoot)) return null;
    return { id: `${ROOT}dist/${fromRoot.replace(/\.ts$/, '.js')}`, external: true };
  },
};
