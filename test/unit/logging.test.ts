/**
 * Log lines reach their file at once when someone is watching (LOG_BUFFER
 * off, the default on a terminal), and are gathered into larger writes
 * otherwise; an error line is written at once either way.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/observability/logging.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function logFile(): { fd: number; read: () => string; close: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'order-threads-log-'));
  dirs.push(dir);
  const path = join(dir, 'log');
  const fd = openSync(path, 'w');
  return { fd, read: () => readFileSync(path, 'utf8'), close: () => closeSync(fd) };
}

describe('log lines', () => {
  it('unbuffered, are in the file as soon as they are logged', () => {
    const file = logFile();
    createLogger('info', { buffered: false, fd: file.fd }).info('now');
    expect(file.read()).toContain('"msg":"now"');
    file.close();
  });

  it('buffered, wait for more (or the flush timer), except an error line, which takes everything before it along', () => {
    const file = logFile();
    const log = createLogger('info', { buffered: true, fd: file.fd });
    log.info('later');
    expect(file.read()).toBe('');
    log.error('at once');
    expect(file.read()).toMatch(/"msg":"later".*\n.*"msg":"at once"/);
    file.close();
  });
});

describe('LOG_BUFFER', () => {
  it('is off by default when stdout is a terminal, on otherwise, and as set', () => {
    expect(loadConfig({}, { openFileLimit: 20_000, stdoutIsTerminal: true }).logBuffer).toBe(false);
    expect(loadConfig({}, { openFileLimit: 20_000, stdoutIsTerminal: false }).logBuffer).toBe(true);
    expect(loadConfig({ LOG_BUFFER: 'on' }, { openFileLimit: 20_000, stdoutIsTerminal: true }).logBuffer).toBe(true);
    expect(loadConfig({ LOG_BUFFER: 'off' }, { openFileLimit: 20_000 }).logBuffer).toBe(false);
    expect(() => loadConfig({ LOG_BUFFER: 'maybe' }, { openFileLimit: 20_000 })).toThrow(
      'LOG_BUFFER must be one of on, off, got "maybe"',
    );
  });
});
