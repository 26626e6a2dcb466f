import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('connection limits', () => {
  it('are derived from the open-file limit: all but a reserve may be open, 90% of that is served', () => {
    // The reserve: 128 + 8 per thread.
    expect(loadConfig({ THREADS: '2' }, { openFileLimit: 20_000 })).toMatchObject({ connectionHardLimit: 19_856, maxConnections: 17_870 });
    expect(loadConfig({ THREADS: '2' }, { openFileLimit: 1024 })).toMatchObject({ connectionHardLimit: 880, maxConnections: 792 });
  });

  it('are as set, up to what the open-file limit allows', () => {
    expect(loadConfig({ THREADS: '2', MAX_CONNECTIONS: '19856' }, { openFileLimit: 20_000 })).toMatchObject({ maxConnections: 19_856, connectionHardLimit: 19_856 });
    expect(() => loadConfig({ THREADS: '2', MAX_CONNECTIONS: '19857' }, { openFileLimit: 20_000 })).toThrow(ConfigError);
    expect(() => loadConfig({ THREADS: '2' }, { openFileLimit: 100 })).toThrow(/open-file limit \(100\) leaves no descriptor/);
  });

  it('fall back to a fixed cap, and no hard limit, where the open-file limit is unknown', () => {
    expect(loadConfig({ THREADS: '2' }, { openFileLimit: undefined })).toMatchObject({ maxConnections: 16_384, connectionHardLimit: undefined });
  });

  it('come with timeouts a production service would use', () => {
    expect(loadConfig({ THREADS: '2' }, { openFileLimit: 20_000 })).toMatchObject({ headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5000 });
  });
});
