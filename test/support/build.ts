/**
 * Vitest global setup: worker threads run the compiled code in dist/ (see
 * src/composition-root.ts), so bring the build up to date before any test.
 * Incremental: a no-op when nothing changed.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  execFileSync(process.execPath, [fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url)), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
}
