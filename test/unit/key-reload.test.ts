/**
 * Key files read again (src/composition/key-reload.ts), with real files and
 * the real key ring: a reload that would leave no client key, or no admin
 * key — a file emptied, or left with comments only, as a non-atomic writer
 * leaves it for a moment — is refused with the keys kept and an audit line
 * (issue 77: it revoked every client), unless KEY_FILES_ALLOW_EMPTY=on says
 * an empty file is meant.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyRing } from '../../src/auth/key-ring.js';
import { reloadKeysOnChange, type KeyReload } from '../../src/composition/key-reload.js';
import { loadConfig } from '../../src/config.js';
import { captureLog } from '../support/log-capture.js';

const ACME = 'file_acme_0123456789abcdefghijklmnopqrs';
const ADMIN = 'file_admin_0123456789abcdefghijklmnopqr';

let dir: string;
let reload: KeyReload | undefined;
afterEach(() => {
  reload?.close();
  rmSync(dir, { recursive: true, force: true });
});

function keyFiles(env: Record<string, string> = {}) {
  dir = mkdtempSync(join(tmpdir(), 'key-reload-'));
  const files = { api: join(dir, 'api-keys'), admin: join(dir, 'admin-keys') };
  writeFileSync(files.api, `acme:${ACME}\n`);
  writeFileSync(files.admin, `${ADMIN}\n`);
  const config = loadConfig(
    { API_KEYS_FILE: files.api, ADMIN_KEY_FILE: files.admin, ...env },
    { openFileLimit: undefined },
  );
  if (config.access.mode !== 'keys' || !config.access.files) throw new Error('keys from files expected');
  const ring = new KeyRing(config.access);
  const log = captureLog();
  reload = reloadKeysOnChange({ ...config.access, files: config.access.files }, '127.0.0.1', ring, log.logger, {
    allowEmpty: config.keyFilesAllowEmpty,
  });
  return { files, ring, log, reload };
}

describe('a key file read again', () => {
  it.each([
    ['emptied', ''],
    ['left with comments only', '# nobody for now\n\n'],
  ])('API_KEYS_FILE %s: refused, the client keys kept, an audit line', (_name, text) => {
    const { files, ring, log, reload } = keyFiles();
    writeFileSync(files.api, text);
    reload.reload('SIGHUP');
    // Before: every client revoked, 401 for all.
    expect(ring.callerOf(ACME)).toMatchObject({ client: 'acme' });
    expect(log.lines.find((line) => line['audit'] === 'keys_reload_refused')).toMatchObject({
      level: 50,
      reason: expect.stringContaining('API_KEYS_FILE'),
    });
    // Written again whole: read as ever.
    writeFileSync(files.api, `globex:${ACME.replace('acme', 'glob')}\n`);
    reload.reload('SIGHUP');
    expect(ring.callerOf(ACME)).toBeUndefined();
  });

  it('ADMIN_KEY_FILE emptied: refused, the admin key kept', () => {
    const { files, ring, log, reload } = keyFiles();
    writeFileSync(files.admin, '');
    reload.reload('file changed');
    // Before: the admin locked out.
    expect(ring.callerOf(ADMIN)).toMatchObject({ admin: true });
    expect(ring.callerOf(ACME)).toMatchObject({ client: 'acme' });
    expect(log.lines.find((line) => line['audit'] === 'keys_reload_refused')).toMatchObject({
      reason: expect.stringContaining('ADMIN_KEY_FILE'),
    });
  });

  it('with KEY_FILES_ALLOW_EMPTY=on, an emptied file is meant: its keys are revoked', () => {
    const { files, ring, log, reload } = keyFiles({ KEY_FILES_ALLOW_EMPTY: 'on' });
    writeFileSync(files.api, '');
    reload.reload('SIGHUP');
    expect(ring.callerOf(ACME)).toBeUndefined();
    expect(ring.callerOf(ADMIN)).toMatchObject({ admin: true });
    expect(log.lines.find((line) => line['audit'] === 'keys_reloaded')).toMatchObject({ removed: ['acme'] });
  });
});
