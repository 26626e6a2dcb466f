/**
 * Whether a program the suite would start is there, checked before anything
 * runs: a generator (wrk) or the command that starts the other server. A run
 * that fails on it halfway has wasted its first rounds and says less.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

const executable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** The program's path on PATH, or null. */
export function onPath(name: string): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return null;
}

/**
 * The program a shell command starts — its first word — if that is plain
 * enough to tell (no variable, no quote, no assignment before it), with
 * whether it is there: a path (relative to `cwd`) that can be run, or a
 * name on PATH. Undefined when the shell alone can tell.
 */
export function programOf(
  command: string,
  cwd: string,
): { readonly program: string; readonly path: string; readonly found: boolean } | undefined {
  const first = command.trim().split(/\s+/)[0] ?? '';
  if (first === '' || /[$`'"\\=(){};&|<>*?~]/.test(first)) return undefined;
  if (first.includes('/')) {
    const path = isAbsolute(first) ? first : resolve(cwd, first);
    return { program: first, path, found: executable(path) };
  }
  const path = onPath(first);
  return { program: first, path: path ?? first, found: path !== null };
}
