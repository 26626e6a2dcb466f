/**
 * The configured keys read again when their files change (API_KEYS_FILE,
 * ADMIN_KEY_FILE), without a restart: a key added works, a key removed is
 * refused, within a moment. Each file's folder is watched rather than the
 * file: a Kubernetes Secret volume swaps a symlink (`..data`) and never
 * writes the file itself, and an editor may replace it. SIGHUP reloads too
 * (src/server-process.ts), where a watch hears nothing (some network file
 * systems). A file that does not hold fit keys is refused with an error and
 * the keys in use are kept; so is a reload that would leave no client key, or
 * no admin key, where there were some — a file emptied, or left with
 * comments only, which a writer that does not replace the file whole leaves
 * for a moment, and which would revoke every client — unless
 * KEY_FILES_ALLOW_EMPTY=on says an empty file is meant. The audit line names
 * clients, and admin keys by fingerprint, never a key.
 */
import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { KeyRing } from '../auth/key-ring.js';
import { accessFromFiles, ConfigError, type AccessConfig, type KeyFiles } from '../config.js';
import { audit } from '../observability/logging.js';

/** Who changes keys, as the audit line says: whoever may write the files (or the Secret they are mounted from). */
const KEY_FILES_ACTOR = 'key files';

/** Changes in a burst (a Secret's symlink swap is several events) are read once. */
const SETTLE_MS = 50;

export interface KeyReload {
  /** Read the key files now. */
  reload(cause: string): void;
  close(): void;
}

/** `allowEmpty`: KEY_FILES_ALLOW_EMPTY. */
export function reloadKeysOnChange(
  access: Extract<AccessConfig, { mode: 'keys' }> & { files: KeyFiles },
  host: string,
  ring: KeyRing,
  log: Logger,
  { allowEmpty }: { readonly allowEmpty: boolean },
): KeyReload {
  let current = access;
  let pending: NodeJS.Timeout | undefined;
  const refused = (cause: string, reason: string): void =>
    audit(
      log,
      'error',
      { audit: 'keys_reload_refused', actor: KEY_FILES_ACTOR, cause, reason },
      'key files not reloaded: the keys in use are kept',
    );
  const reload = (cause: string): void => {
    let next: Extract<AccessConfig, { mode: 'keys' }>;
    try {
      next = accessFromFiles(current, host);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return refused(cause, error.message);
    }
    const emptied = [
      ...(current.clients.length > 0 && next.clients.length === 0 ? ['API_KEYS_FILE'] : []),
      ...(current.adminKeys.length > 0 && next.adminKeys.length === 0 ? ['ADMIN_KEY_FILE'] : []),
    ];
    if (emptied.length > 0 && !allowEmpty)
      return refused(
        cause,
        `${emptied.join(' and ')} held keys and holds none now (emptied, or comments only): taken for a file caught halfway through a write; KEY_FILES_ALLOW_EMPTY=on makes an empty file revoke its keys`,
      );
    const changes = ring.replace(next);
    current = { ...next, files: access.files };
    const changed =
      changes.added.length + changes.removed.length + changes.rekeyed.length > 0 || changes.adminKeysChanged;
    if (changed)
      audit(log, 'info', { audit: 'keys_reloaded', actor: KEY_FILES_ACTOR, cause, ...changes }, 'keys reloaded');
  };
  const paths = [access.files.apiKeys, access.files.adminKeys].filter((path): path is string => path !== undefined);
  const watchers: FSWatcher[] = [...new Set(paths.map((path) => dirname(path)))].map((folder) =>
    watch(folder, { persistent: false }, () => {
      clearTimeout(pending);
      pending = setTimeout(() => reload('file changed'), SETTLE_MS);
    }),
  );
  return {
    reload,
    close: () => {
      clearTimeout(pending);
      for (const watcher of watchers) watcher.close();
    },
  };
}
