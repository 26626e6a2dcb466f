/**
 * The configured keys read again when their files change (API_KEYS_FILE,
 * ADMIN_KEY_FILE), without a restart: a key added works, a key removed is
 * refused, within a moment. Each file's folder is watched rather than the
 * file: a Kubernetes Secret volume swaps a symlink (`..data`) and never
 * writes the file itself, and an editor may replace it. SIGHUP reloads too
 * (src/server-process.ts), where a watch hears nothing (some network file
 * systems). A file that does not hold fit keys is refused with an error and
 * the keys in use are kept. The audit line names clients, and admin keys by
 * fingerprint, never a key.
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

export function reloadKeysOnChange(
  access: Extract<AccessConfig, { mode: 'keys' }> & { files: KeyFiles },
  host: string,
  ring: KeyRing,
  log: Logger,
): KeyReload {
  let current = access;
  let pending: NodeJS.Timeout | undefined;
  const reload = (cause: string): void => {
    let next: Extract<AccessConfig, { mode: 'keys' }>;
    try {
      next = accessFromFiles(current, host);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      audit(
        log,
        'error',
        { audit: 'keys_reload_refused', actor: KEY_FILES_ACTOR, cause, reason: error.message },
        'key files not reloaded: the keys in use are kept',
      );
      return;
    }
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
