import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { anyClientRateLimit, clientRateLimitOf, ConfigError, leaseMarginMs, loadConfig } from '../../src/config.js';

describe('an invalid setting', () => {
  // The process prints the message after "invalid configuration: " and exits 78 (test/integration/process.test.ts
  // proves it for two of these; each case there is a process start).
  it.for([
    ['COURIERS', '0', 'COURIERS must be an integer from 1 to 1024'],
    ['COURIERS', '1025', 'COURIERS must be an integer from 1 to 1024'],
    ['COURIERS', 'five', 'COURIERS must be an integer from 1 to 1024'],
    ['THREADS', '0', 'THREADS must be an integer from 1 to 256'],
    ['PORT', '65536', 'PORT must be an integer from 0 to 65535'],
    ['ORDER_TIMEOUT_MS', '-1', 'ORDER_TIMEOUT_MS must be an integer from 1 to 600000'],
    ['ORDER_TIMEOUT_MS', '1.5', 'ORDER_TIMEOUT_MS must be an integer from 1 to 600000'],
    [
      'SHUTDOWN_TIMEOUT_MS',
      '10s',
      'SHUTDOWN_TIMEOUT_MS must be an integer from 1750 to 600000 (to let a canceled order void its payment: 2 × CANCEL_GRACE_MS + REFUND_TIMEOUT_MS + 250)',
    ],
    [
      'SHUTDOWN_TIMEOUT_MS',
      '1000',
      'SHUTDOWN_TIMEOUT_MS must be an integer from 1750 to 600000 (to let a canceled order void its payment: 2 × CANCEL_GRACE_MS + REFUND_TIMEOUT_MS + 250)',
    ],
    ['FAULT_INJECTION', 'yes', 'FAULT_INJECTION must be one of on, off'],
    ['CANCEL_GRACE_MS', '10', 'CANCEL_GRACE_MS must be an integer from 50 to 60000'],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent'],
    ['HOST', 'local host', 'HOST must be a host name or IP address'],
    ['HEADERS_TIMEOUT_MS', '0', 'HEADERS_TIMEOUT_MS must be an integer from 1 to 600000'],
    ['REQUEST_TIMEOUT_MS', '30s', 'REQUEST_TIMEOUT_MS must be an integer from 1 to 600000'],
    ['KEEP_ALIVE_TIMEOUT_MS', '-5', 'KEEP_ALIVE_TIMEOUT_MS must be an integer from 1 to 600000'],
    ['HEADERS_TIMEOUT_MS', '40000', 'HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS (30000)'],
  ] as const)('%s=%s is refused, naming it and the value', ([name, value, says]) => {
    expect(() => loadConfig({ THREADS: '2', [name]: value })).toThrow(
      new ConfigError(`${says}, got ${JSON.stringify(value)}`),
    );
  });
});

describe('connection limits', () => {
  it('are derived from the open-file limit: all but a reserve may be open, 90% of that is served', () => {
    // The reserve: 128 + 8 per thread.
    expect(loadConfig({ THREADS: '2' }, { openFileLimit: 20_000 })).toMatchObject({
      connectionHardLimit: 19_856,
      maxConnections: 17_870,
    });
    expect(loadConfig({ THREADS: '2' }, { openFileLimit: 1024 })).toMatchObject({
      connectionHardLimit: 880,
      maxConnections: 792,
    });
  });

  it('are as set, up to what the open-file limit allows', () => {
    expect(loadConfig({ THREADS: '2', MAX_CONNECTIONS: '19856' }, { openFileLimit: 20_000 })).toMatchObject({
      maxConnections: 19_856,
      connectionHardLimit: 19_856,
    });
    expect(() => loadConfig({ THREADS: '2', MAX_CONNECTIONS: '19857' }, { openFileLimit: 20_000 })).toThrow(
      ConfigError,
    );
    expect(() => loadConfig({ THREADS: '2' }, { openFileLimit: 100 })).toThrow(
      /open-file limit \(100\) leaves no descriptor/,
    );
  });

  it('fall back to a fixed cap, and no hard limit, where the open-file limit is unknown', () => {
    expect(loadConfig({ THREADS: '2' }, { openFileLimit: undefined })).toMatchObject({
      maxConnections: 16_384,
      connectionHardLimit: undefined,
    });
  });

  it('come with timeouts a production service would use', () => {
    expect(loadConfig({ THREADS: '2' }, { openFileLimit: 20_000 })).toMatchObject({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5000,
    });
  });
});

describe('secrets from files', () => {
  const machine = { openFileLimit: 20_000 };
  const ADMIN_A = 'admin_a_0123456789abcdefghijklmnopqrstuv';
  const ADMIN_B = 'admin_b_0123456789abcdefghijklmnopqrstuv';
  const ACME = 'acme_key_0123456789abcdefghijklmnopqrstu';
  const folders: string[] = [];
  afterAll(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));
  const fileOf = (text: string): string => {
    const folder = mkdtempSync(join(tmpdir(), 'secrets-'));
    folders.push(folder);
    const path = join(folder, 'secret');
    writeFileSync(path, text);
    return path;
  };

  it('are read instead of the variables: keys one a line (comments and blank lines skipped), several admin keys each accepted, the URL trimmed', () => {
    const config = loadConfig(
      {
        THREADS: '2',
        API_KEYS_FILE: fileOf(`# clients\nacme:${ACME}\n\n`),
        ADMIN_KEY_FILE: fileOf(`${ADMIN_A}\n${ADMIN_B}\n`),
        DATABASE_URL_FILE: fileOf('postgres://app:secret@db:5432/orders\n'),
      },
      machine,
    );
    expect(config.access).toMatchObject({
      mode: 'keys',
      clients: [{ client: 'acme', key: ACME }],
      adminKeys: [ADMIN_A, ADMIN_B],
    });
    expect(config.durable?.databaseUrl).toBe('postgres://app:secret@db:5432/orders');
  });

  it('refuse a variable and its file both set, and an unreadable file, never showing what a file holds', () => {
    expect(() => loadConfig({ THREADS: '2', ADMIN_KEY: ADMIN_A, ADMIN_KEY_FILE: fileOf(ADMIN_B) }, machine)).toThrow(
      /^ADMIN_KEY and ADMIN_KEY_FILE are both set: set one$/,
    );
    expect(() => loadConfig({ THREADS: '2', API_KEYS_FILE: '/nonexistent/keys' }, machine)).toThrow(
      /^API_KEYS_FILE cannot be read \(ENOENT\), got "\/nonexistent\/keys"$/,
    );
    const refused = (): unknown =>
      loadConfig({ THREADS: '2', ADMIN_KEY_FILE: fileOf(`${ADMIN_A}\nshort-secret\n`) }, machine);
    expect(refused).toThrow(/^ADMIN_KEY entry 2 must be at least 32 characters/);
    expect(refused).not.toThrow(/short-secret/);
  });
});

describe('the drain delay', () => {
  const machine = { openFileLimit: 20_000 };
  it('is none outside Kubernetes, 5 s in a pod (the kubelet sets KUBERNETES_SERVICE_HOST), and as set', () => {
    expect(loadConfig({ THREADS: '2' }, machine).drainDelayMs).toBe(0);
    expect(loadConfig({ THREADS: '2', KUBERNETES_SERVICE_HOST: '10.96.0.1' }, machine).drainDelayMs).toBe(5000);
    expect(
      loadConfig({ THREADS: '2', KUBERNETES_SERVICE_HOST: '10.96.0.1', DRAIN_DELAY_MS: '0' }, machine).drainDelayMs,
    ).toBe(0);
    expect(loadConfig({ THREADS: '2', DRAIN_DELAY_MS: '2000' }, machine).drainDelayMs).toBe(2000);
    expect(() => loadConfig({ THREADS: '2', DRAIN_DELAY_MS: '2s' }, machine)).toThrow(
      /DRAIN_DELAY_MS must be an integer from 0 to 600000/,
    );
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
    expect(loadConfig({ DATABASE_URL: url }, machine)).toMatchObject({
      durable: {
        databaseUrl: url,
        leaseMs: 5000,
        poolSize: 10,
        reads: { connections: 2, waitMs: 500, waitingMax: 100 },
      },
      instances: 1,
    });
    expect(
      loadConfig(
        { DATABASE_URL: url, DB_READ_CONNECTIONS: '3', DB_READ_WAIT_MS: '50', DB_READS_WAITING_MAX: '0' },
        machine,
      ).durable?.reads,
    ).toEqual({ connections: 3, waitMs: 50, waitingMax: 0 });
    expect(
      loadConfig({ DATABASE_URL: url, LEASE_MS: '2000', DB_POOL_SIZE: '4', INSTANCES: '3' }, machine),
    ).toMatchObject({ durable: { leaseMs: 2000, poolSize: 4 }, instances: 3 });
  });

  it.each([
    [
      { DATABASE_URL: 'mysql://db/orders' },
      /DATABASE_URL must be a postgres:\/\/user:password@host:port\/database URL/,
    ],
    [{ DATABASE_URL: 'not a url' }, /DATABASE_URL must be a postgres/],
    [{ LEASE_MS: '2000' }, /LEASE_MS needs DATABASE_URL/],
    [{ DB_POOL_SIZE: '4' }, /DB_POOL_SIZE needs DATABASE_URL/],
    [{ DB_READ_CONNECTIONS: '4' }, /DB_READ_CONNECTIONS needs DATABASE_URL/],
    [{ DATABASE_URL: url, DB_READ_CONNECTIONS: '0' }, /DB_READ_CONNECTIONS must be an integer from 1 to 100/],
    [{ DATABASE_URL: url, DB_READ_WAIT_MS: '0' }, /DB_READ_WAIT_MS must be an integer from 1 to 10000/],
    [{ INSTANCES: '2' }, /INSTANCES=2 needs DATABASE_URL/],
    [{ DATABASE_URL: url, LEASE_MS: '100' }, /LEASE_MS must be an integer from 600 to 600000/],
    [{ DATABASE_URL: url, INSTANCES: '0' }, /INSTANCES must be an integer from 1 to 64/],
  ])('refuses %o', (env, message) => {
    expect(() => loadConfig(env, machine)).toThrow(message);
  });

  it('refuses a LEASE_MS whose margin, a courier revocation, would leave less than half of it for renewals: LEASE_MS ≥ 2 × (CANCEL_GRACE_MS + 50)', () => {
    const rule =
      "at least 2 × (CANCEL_GRACE_MS + 50): an instance gives its lease up CANCEL_GRACE_MS + 50 ms early, for a stuck thread's couriers to come back first, and renews it in the other half";
    expect(() => loadConfig({ DATABASE_URL: url, LEASE_MS: '599' }, machine)).toThrow(
      `LEASE_MS must be an integer from 600 to 600000 (${rule}), got "599"`,
    );
    expect(loadConfig({ DATABASE_URL: url, LEASE_MS: '600' }, machine).durable?.leaseMs).toBe(600);
    expect(() => loadConfig({ DATABASE_URL: url, LEASE_MS: '2000', CANCEL_GRACE_MS: '1000' }, machine)).toThrow(
      `LEASE_MS must be an integer from 2100 to 600000 (${rule}), got "2000"`,
    );
    // The chaos harness's settings keep it.
    expect(loadConfig({ DATABASE_URL: url, LEASE_MS: '1000', CANCEL_GRACE_MS: '250' }, machine).durable?.leaseMs).toBe(
      1000,
    );
    // Unset, LEASE_MS is 5000, or the shortest the grace allows if that is longer.
    expect(loadConfig({ DATABASE_URL: url, CANCEL_GRACE_MS: '3000' }, machine).durable?.leaseMs).toBe(6100);
  });

  it('lets no accepted LEASE_MS give up more than half of itself', () => {
    for (const cancelGraceMs of [50, 250, 1000, 2950, 60_000]) {
      for (const leaseMs of [500, 600, 1000, 2100, 5000, 6000, 120_100, 600_000]) {
        let accepted: number | undefined;
        try {
          accepted = loadConfig(
            { DATABASE_URL: url, LEASE_MS: String(leaseMs), CANCEL_GRACE_MS: String(cancelGraceMs) },
            machine,
          ).durable?.leaseMs;
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError);
        }
        if (accepted !== undefined)
          expect(leaseMarginMs({ leaseMs: accepted, cancelGraceMs })).toBeLessThanOrEqual(accepted / 2);
        else expect(cancelGraceMs + 50).toBeGreaterThan(leaseMs / 2);
      }
    }
  });

  it('never repeats the password of a refused DATABASE_URL', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://app:hunter2@db/orders' }, machine)).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('hunter2') }),
    );
  });
});

describe("the lease's margin", () => {
  it("is a fifth of the lease, and never less than a courier revocation takes: CANCEL_GRACE_MS and a thread's exit", () => {
    expect(leaseMarginMs({ leaseMs: 5000, cancelGraceMs: 250 })).toBe(1000);
    // The chaos harness's settings: a fifth was 200 ms, shorter than the 253–271 ms a revocation was measured to take.
    expect(leaseMarginMs({ leaseMs: 1000, cancelGraceMs: 250 })).toBe(300);
    expect(leaseMarginMs({ leaseMs: 600, cancelGraceMs: 250 })).toBe(300);
    expect(leaseMarginMs({ leaseMs: 4000, cancelGraceMs: 1000 })).toBe(1050);
    expect(leaseMarginMs({ leaseMs: 10_000, cancelGraceMs: 1000 })).toBe(2000);
  });
});

describe('who may call', () => {
  const machine = { openFileLimit: 20_000 };
  const ACME = 'acme_key_0123456789abcdefghijklmnopqrstuv';
  const ADMIN = 'admin_key_ZYXWVUTSRQPONMLKJIHGFEDCBA0123';

  it('is anyone, as the one anonymous client and the admin, with no keys on a loopback address (open mode)', () => {
    for (const HOST of ['127.0.0.1', 'localhost', '::1', '127.0.0.9'])
      expect(loadConfig({ HOST }, machine).access).toEqual({ mode: 'open' });
  });

  it('refuses open mode on an address other machines can reach, unless ALLOW_ANONYMOUS=on', () => {
    expect(() => loadConfig({ HOST: '0.0.0.0' }, machine)).toThrow(
      /^HOST=0\.0\.0\.0 can be reached from other machines, and no API keys are set: set API_KEYS/,
    );
    expect(loadConfig({ HOST: '0.0.0.0', ALLOW_ANONYMOUS: 'on' }, machine).access).toEqual({ mode: 'open' });
  });

  it('is each client by its key, and the admin by ADMIN_KEY', () => {
    expect(
      loadConfig(
        { API_KEYS: `acme:${ACME}, globex:${ACME.replace('acme', 'glob')}`, ADMIN_KEY: ADMIN, HOST: '0.0.0.0' },
        machine,
      ).access,
    ).toEqual({
      mode: 'keys',
      clients: [
        { client: 'acme', key: ACME },
        { client: 'globex', key: ACME.replace('acme', 'glob') },
      ],
      adminKeys: [ADMIN],
    });
  });

  it.each([
    [
      'a key under 32 characters',
      { API_KEYS: 'acme:short_key' },
      /^API_KEYS entry 1 \(client "acme"\): the key must be at least 32 characters/,
    ],
    [
      'a key with other characters',
      { API_KEYS: `acme:${ACME.slice(0, 31)}!` },
      /the key must be at least 32 characters of A-Z a-z 0-9 _ -/,
    ],
    ['no client name', { API_KEYS: ACME }, /^API_KEYS entry 1 must be client:key/],
    ['a client named twice', { API_KEYS: `acme:${ACME},acme:${ADMIN}` }, /client "acme" is named twice/],
    ['one key for two clients', { API_KEYS: `acme:${ACME},globex:${ACME}` }, /the key is given twice/],
    [
      'a client key that is also the admin key',
      { API_KEYS: `acme:${ACME}`, ADMIN_KEY: ACME },
      /the key is given twice/,
    ],
    ['a reserved client name', { API_KEYS: `anonymous:${ACME}` }, /the client name "anonymous" is reserved/],
    ['a short admin key', { ADMIN_KEY: 'short' }, /^ADMIN_KEY must be at least 32 characters/],
    [
      'ALLOW_ANONYMOUS with keys',
      { API_KEYS: `acme:${ACME}`, ALLOW_ANONYMOUS: 'on' },
      /ALLOW_ANONYMOUS=on is for running without keys/,
    ],
  ])('refuses %s, without ever repeating a key', (_name, env, says) => {
    let message = '';
    try {
      loadConfig(env, machine);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(says);
    for (const key of [ACME, ADMIN, 'short_key', 'short']) expect(message).not.toContain(key);
  });

  it('answers requests addressed to the loopback names and the address it listens on, or to ALLOWED_HOSTS', () => {
    expect(loadConfig({}, machine).allowedHosts).toEqual(['localhost', '127.0.0.1', '[::1]']);
    expect(loadConfig({ HOST: '10.0.0.5', ALLOW_ANONYMOUS: 'on' }, machine).allowedHosts).toEqual([
      'localhost',
      '127.0.0.1',
      '[::1]',
      '10.0.0.5',
    ]);
    expect(loadConfig({ HOST: '::', ALLOW_ANONYMOUS: 'on' }, machine).allowedHosts).toEqual([
      'localhost',
      '127.0.0.1',
      '[::1]',
    ]);
    expect(loadConfig({ ALLOWED_HOSTS: 'Orders.Example.com, [::1]' }, machine).allowedHosts).toEqual([
      'orders.example.com',
      '[::1]',
    ]);
    // A pod's IP, put in by the manifest ($(POD_IP)), may be IPv6: a Host header names it in brackets.
    expect(loadConfig({ ALLOWED_HOSTS: '10.1.2.3,FD00:10::5' }, machine).allowedHosts).toEqual([
      '10.1.2.3',
      '[fd00:10::5]',
    ]);
    expect(() => loadConfig({ ALLOWED_HOSTS: 'a b' }, machine)).toThrow(/ALLOWED_HOSTS must be host names/);
  });
});

describe('the dependencies: breakers and retries', () => {
  const machine = { openFileLimit: 20_000 };

  it('open a breaker after 5 failures in a row for 5 s, and retry each step twice, by default', () => {
    expect(loadConfig({}, machine)).toMatchObject({
      breakerFailures: 5,
      breakerOpenMs: 5000,
      stepRetries: { payment: 2, vendor: 2, courier: 2 },
    });
  });

  it('are as set: BREAKER_FAILURES=0 turns the breakers off; STEP_RETRIES names the steps it changes', () => {
    expect(
      loadConfig({ BREAKER_FAILURES: '0', BREAKER_OPEN_MS: '250', STEP_RETRIES: 'vendor:0, courier : 10' }, machine),
    ).toMatchObject({
      breakerFailures: 0,
      breakerOpenMs: 250,
      stepRetries: { payment: 2, vendor: 0, courier: 10 },
    });
  });

  it.each(['refund:1', 'vendor:11', 'vendor:-1', 'vendor', 'vendor:1,vendor:2', 'vendor:1;courier:2', 'vendor:x'])(
    'refuses STEP_RETRIES=%s',
    (value) => {
      expect(() => loadConfig({ STEP_RETRIES: value }, machine)).toThrow(/^STEP_RETRIES must be step:retries pairs/);
    },
  );

  it('refuses a breaker that cannot stay open', () => {
    expect(() => loadConfig({ BREAKER_OPEN_MS: '0' }, machine)).toThrow(/BREAKER_OPEN_MS must be an integer from 1/);
  });
});

describe('clients: weights, shares and rate limits', () => {
  const machine = { openFileLimit: 20_000 };
  const KEYS = { API_KEYS: 'acme:acme_key_0123456789abcdefghijklmnopqrstuv' };

  it('weigh every client 1, cap each at 60% while others share, and limit rates only where keys are configured (100 a second)', () => {
    const open = loadConfig({}, machine);
    expect(open).toMatchObject({ clientMaxShare: 0.6 });
    expect(open.clientWeights.size).toBe(0);
    expect(clientRateLimitOf(open, 'anonymous')).toBe(0);
    expect(anyClientRateLimit(open)).toBe(false);
    const keyed = loadConfig(KEYS, machine);
    expect(clientRateLimitOf(keyed, 'acme')).toBe(100);
    expect(anyClientRateLimit(keyed)).toBe(true);
  });

  it('are as set: CLIENT_WEIGHTS and CLIENT_RATE_LIMITS per client, CLIENT_RATE_LIMIT for the others (0: none), CLIENT_MAX_SHARE=1 lifts the caps', () => {
    const config = loadConfig(
      {
        ...KEYS,
        CLIENT_WEIGHTS: 'acme:2, globex : 1',
        CLIENT_RATE_LIMIT: '0',
        CLIENT_RATE_LIMITS: 'acme:50',
        CLIENT_MAX_SHARE: '1',
      },
      machine,
    );
    expect([...config.clientWeights]).toEqual([
      ['acme', 2],
      ['globex', 1],
    ]);
    expect(config.clientMaxShare).toBe(1);
    expect(clientRateLimitOf(config, 'acme')).toBe(50);
    expect(clientRateLimitOf(config, 'globex')).toBe(0);
    expect(anyClientRateLimit(config)).toBe(true);
    expect(clientRateLimitOf(loadConfig({ CLIENT_RATE_LIMIT: '7' }, machine), 'anonymous')).toBe(7);
    expect(loadConfig({ CLIENT_MAX_SHARE: '.5' }, machine).clientMaxShare).toBe(0.5);
  });

  it.each(['acme', 'acme:0', 'acme:1001', 'acme:2,acme:3', 'ac me:2', 'acme:x', 'a:b:2'])(
    'refuses CLIENT_WEIGHTS=%s',
    (value) => {
      expect(() => loadConfig({ CLIENT_WEIGHTS: value }, machine)).toThrow(
        /^CLIENT_WEIGHTS must be client:weight pairs/,
      );
    },
  );

  it('are as set: CLIENT_TIERS per client, TIER_CEILINGS in percent (free 70, standard 90 unless said)', () => {
    expect(loadConfig({}, machine)).toMatchObject({ tierCeilings: { critical: 1, standard: 0.9, free: 0.7 } });
    const config = loadConfig({ CLIENT_TIERS: 'acme:critical, globex : free', TIER_CEILINGS: 'free:50' }, machine);
    expect([...config.clientTiers]).toEqual([
      ['acme', 'critical'],
      ['globex', 'free'],
    ]);
    expect(config.tierCeilings).toEqual({ critical: 1, standard: 0.9, free: 0.5 });
  });

  it.each(['acme', 'acme:gold', 'acme:free,acme:critical', 'ac me:free', 'a:b:free'])(
    'refuses CLIENT_TIERS=%s',
    (value) => {
      expect(() => loadConfig({ CLIENT_TIERS: value }, machine)).toThrow(/^CLIENT_TIERS must be client:tier pairs/);
    },
  );

  it.each(['free', 'free:0', 'free:101', 'critical:90', 'free:95', 'standard:60', 'free:70,free:60', 'gold:50'])(
    'refuses TIER_CEILINGS=%s',
    (value) => {
      expect(() => loadConfig({ TIER_CEILINGS: value }, machine)).toThrow(/^TIER_CEILINGS must be tier:percent pairs/);
    },
  );

  it.each(['acme', 'acme:-1', 'acme:1000001', 'acme:1,acme:2'])('refuses CLIENT_RATE_LIMITS=%s', (value) => {
    expect(() => loadConfig({ CLIENT_RATE_LIMITS: value }, machine)).toThrow(
      /^CLIENT_RATE_LIMITS must be client:orders_per_second pairs/,
    );
  });

  it.each(['0', '1.5', '-0.5', 'half', '0.6666', '60%'])('refuses CLIENT_MAX_SHARE=%s', (value) => {
    expect(() => loadConfig({ CLIENT_MAX_SHARE: value }, machine)).toThrow(
      /^CLIENT_MAX_SHARE must be a number over 0 and at most 1/,
    );
  });

  it('refuses a CLIENT_RATE_LIMIT that is not a count of orders', () => {
    expect(() => loadConfig({ CLIENT_RATE_LIMIT: '1.5' }, machine)).toThrow(
      /CLIENT_RATE_LIMIT must be an integer from 0/,
    );
  });
});

describe('tracing (the standard OTEL_* variables)', () => {
  const machine = { openFileLimit: 20_000 };
  it('is off without an endpoint, and with OTEL_SDK_DISABLED=true whatever the endpoint', () => {
    expect(loadConfig({ THREADS: '2' }, machine).tracing).toBeUndefined();
    expect(
      loadConfig({ THREADS: '2', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }, machine)
        .tracing,
    ).toBeUndefined();
  });

  it('sends to the endpoint’s /v1/traces, protobuf by default, every trace its parent keeps', () => {
    expect(loadConfig({ THREADS: '2', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }, machine).tracing).toEqual({
      tracesUrl: 'http://c:4318/v1/traces',
      protocol: 'http/protobuf',
      serviceName: 'order-threads',
      sampler: 'parentbased_always_on',
      samplerRatio: 1,
    });
    expect(
      loadConfig(
        {
          THREADS: '2',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://c/otlp/traces',
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          OTEL_SERVICE_NAME: 'shop-orders',
          OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
          OTEL_TRACES_SAMPLER_ARG: '0.1',
        },
        machine,
      ).tracing,
    ).toEqual({
      tracesUrl: 'https://c/otlp/traces',
      protocol: 'http/json',
      serviceName: 'shop-orders',
      sampler: 'parentbased_traceidratio',
      samplerRatio: 0.1,
    });
  });

  it('refuses gRPC, a sampler it does not know, a ratio outside 0–1 and an endpoint that is no http URL', () => {
    const endpoint = { THREADS: '2', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' };
    expect(() => loadConfig({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, machine)).toThrow(
      /grpc is not supported/,
    );
    expect(() => loadConfig({ ...endpoint, OTEL_TRACES_SAMPLER: 'jaeger_remote' }, machine)).toThrow(
      /OTEL_TRACES_SAMPLER must be one of/,
    );
    expect(() => loadConfig({ ...endpoint, OTEL_TRACES_SAMPLER_ARG: '1.5' }, machine)).toThrow(
      /OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1/,
    );
    expect(() => loadConfig({ THREADS: '2', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, machine)).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT must be an http/,
    );
  });
});
