/**
 * Where the project's files are, computed once: this module runs from the
 * sources (src/paths.ts, under Vitest) or compiled (dist/src/paths.js), and
 * every path the code needs is relative to the project's root or to the
 * build in dist/. Nothing else works out where it lives.
 */
import { fileURLToPath } from 'node:url';

/** The project's root (where package.json is). */
export const PROJECT_ROOT: URL = new URL(import.meta.url.endsWith('.ts') ? '../' : '../../', import.meta.url);

/**
 * The build: the compiled code. Worker threads always run it, also when the
 * main thread runs from the sources (the test suite, through Vitest's
 * transform, which does not reach worker threads). Node's own type stripping
 * cannot load these sources: they import each other as `.js`, as the
 * compiled output is named, and use parameter properties, which need a
 * transform, not only erasure.
 */
export const BUILD_ROOT: URL = new URL('dist/', PROJECT_ROOT);

/** A file of the project, by its path from the root. */
export function projectFile(path: string): URL {
  return new URL(path, PROJECT_ROOT);
}

/** The compiled form of a project module, given from the root without extension (`workers/steps/payment`). */
export function compiledModule(path: string): URL {
  return new URL(`${path}.js`, BUILD_ROOT);
}

/** As a file-system path. */
export const pathOf = (url: URL): string => fileURLToPath(url);

/**
 * The compiler that builds dist/ and type-checks: TypeScript 7's native one (package.json's `typescript-native`),
 * a quarter of TypeScript 6's CPU for the same output. `typescript` stays 6.0 for what needs its JavaScript API, which
 * 7 no longer has: typescript-eslint, and editors.
 */
export const TYPESCRIPT_COMPILER: URL = projectFile('node_modules/typescript-native/bin/tsc');
