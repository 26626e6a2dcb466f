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

describe('the durable mode', () => {
  const machine = { openFileLimit: 20_000 };
  const url = 'postgres://app:secret@db.example:5432/orders';

  it('is off without DATABASE_URL: one instance, in memory', () => {
    const config = loadConfig({}, machine);
    expect(config.durable).toBeUndefined();
    expect(config.instances).toBe(1);
  });

  it('is on with DATABASE_URL, with its defaults and settings', () => {
    expect(loadConfig({ DATABASE_URL: url }, machine)).toMatchObject({ durable: { databaseUrl: url, leaseMs: 5000, poolSize: 10 }, instances: 1 });
    expect(loadConfig({ DATABASE_URL: url, LEASE_MS: '2000', DB_POOL_SIZE: '4', INSTANCES: '3' }, machine)).toMatchObject({ durable: { leaseMs: 2000, poolSize: 4 }, instances: 3 });
  });

  it.each([
    [{ DATABASE_URL: 'mysql://db/orders' }, /DATABASE_URL must be a postgres:\/\/user:password@host:port\/database URL/],
    [{ DATABASE_URL: 'not a url' }, /DATABASE_URL must be a postgres/],
    [{ LEASE_MS: '2000' }, /LEASE_MS needs DATABASE_URL/],
    [{ DB_POOL_SIZE: '4' }, /DB_POOL_SIZE needs DATABASE_URL/],
    [{ INSTANCES: '2' }, /INSTANCES=2 needs DATABASE_URL/],
    [{ DATABASE_URL: url, LEASE_MS: '100' }, /LEASE_MS must be an integer from 500 to 600000/],
    [{ DATABASE_URL: url, INSTANCES: '0' }, /INSTANCES must be an integer from 1 to 64/],
  ])('refuses %o', (env, message) => {
    expect(() => loadConfig(env, machine)).toThrow(message);
  });

  it('never repeats the password of a refused DATABASE_URL', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://app:hunter2@db/orders' }, machine)).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2') }));
  });
});
