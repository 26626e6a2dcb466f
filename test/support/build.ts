/**
 * Vitest global setup: worker threads run the compiled code in dist/ (see
 * src/paths.ts), and the pages inline their compiled scripts, so
 * bring the build up to date before any test. Incremental: a no-op when
 * nothing changed.
 */
import { execFileSync } from 'node:child_process';
import { pathOf, PROJECT_ROOT, TYPESCRIPT_COMPILER } from '../../src/paths.js';

export default function setup(): void {
  execFileSync(process.execPath, [pathOf(TYPESCRIPT_COMPILER), '-b', 'tsconfig.build.json'], {
    cwd: pathOf(PROJECT_ROOT),
    stdio: 'inherit',
  });
}
