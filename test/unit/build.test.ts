/**
 * The build writes nothing when the code has type errors: `npm run dev`
 * restarts the server on every build it sees, and the tests run the build,
 * so a build with errors must never reach dist/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { pathOf, projectFile, TYPESCRIPT_COMPILER } from '../../src/paths.js';

const scratch = projectFile('.scratch/build-test/');
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

it('emits nothing from code with a type error, with the settings of tsconfig.build.json', () => {
  mkdirSync(scratch, { recursive: true });
  writeFileSync(new URL('broken.ts', scratch), "export const n: number = 'not a number';\n");
  // The build's own settings, over one file of its own, into a folder of its own.
  writeFileSync(
    new URL('tsconfig.json', scratch),
    JSON.stringify({
      extends: '../../tsconfig.build.json',
      compilerOptions: { rootDir: '.', outDir: 'out', tsBuildInfoFile: 'out/.tsbuildinfo' },
      include: ['broken.ts'],
      references: [],
    }),
  );
  const tsc = spawnSync(
    process.execPath,
    [pathOf(TYPESCRIPT_COMPILER), '-p', pathOf(new URL('tsconfig.json', scratch))],
    { encoding: 'utf8' },
  );
  expect(tsc.status).not.toBe(0);
  expect(tsc.stdout).toContain("Type 'string' is not assignable to type 'number'");
  expect(existsSync(new URL('out/broken.js', scratch))).toBe(false);
});
