import { defineConfig } from 'vitest/config';
import LongestFirst from './test/support/sequencer.js';

const UNIT = 'test/unit/**/*.test.ts';
/** Tests that mostly wait — on Postgres, on leases, on processes they kill — rather than compute or time anything tight. */
const ON_POSTGRES = ['test/integration/postgres-*.test.ts', 'test/integration/durable*.test.ts'];
/**
 * Other files that mostly wait — on processes they start, on timeouts, on orders' own delays — and time nothing
 * against the CPU: they run beside the Postgres files. A file not named here runs in the last group, which is where a
 * new file belongs until it is seen to hold beside three others.
 */
const WAITING = [
  'admin-audit',
  'bulkheads-live-view',
  'clients',
  'contract',
  'deploy',
  'dev-runner',
  'drain-deadline',
  'generated-client',
  'hostile-client',
  'http-habits',
  'idempotency',
  'image-files',
  'load-suite',
  'misbehaving-steps',
  'money-safety',
  'openapi',
  'order-records',
  'payment-ledger',
  // Its floods are capped (load/lib/tier-scenarios.ts) and its orders sleep 300 ms: it waits, and its medians are
  // ratios taken within the file. Among the computing files it held one of three workers for 27 s at 35–70% idle.
  'priority-tiers',
  'process',
  // The breakers and the trickling sockets (the floors, which compute, are shared-isolation-floors); and couriers
  // across instances, whose victim's p99 is judged against its own, alone, before and after. Among the computing
  // files they held two of three workers for 30 s while the cores stood 65% idle.
  'shared-isolation',
  'shared-isolation-instances',
  'thread-events',
  'thread-view',
  'threads-page-browser',
  'tracing-process',
  'validation',
].map((name) => `test/integration/${name}.test.ts`);

/**
 * Two groups, one after the other, each with its files longest first (test/support/sequencer.ts, from
 * test/timings.json) so no long file starts last beside idle workers; in the first, a file that waits and one that
 * computes take turns:
 * - the Postgres-backed files (on one Postgres server, each file with databases of its own) and the other files
 *   that mostly wait, four at a time: on two cores, three left nearly a core idle while most of them waited;
 * - the unit tests and every other integration test — they compute, load the service, or time steps and answers
 *   against the CPU — three at a time: each must hold its margins beside two other files, as it must beside a busy
 *   loop per core (`npm run test:flaky -- --busy 2`).
 */
const WAITING_AT_ONCE = 4;
const COMPUTING_AT_ONCE = 3;

export default defineConfig({
  test: {
    // Once per run: the projects below do not inherit it.
    globalSetup: ['test/support/build.ts'],
    // Each file checks that the process's OS threads are back where they started.
    setupFiles: ['test/support/os-threads-per-file.ts'],
    // Each test file in its own process, so OS thread counts and exit
    // behavior are its own.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        extends: true,
        test: {
          name: 'postgres',
          include: ON_POSTGRES,
          // One Postgres for the run, its databases cloned from a template migrated once; a file that stops, freezes
          // or inspects its server starts its own (test/support/postgres.ts).
          globalSetup: ['test/support/shared-postgres.ts'],
          maxWorkers: WAITING_AT_ONCE,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'waiting',
          include: WAITING,
          // order-records and payment-ledger run their durable halves on it (the same server as the postgres project's).
          globalSetup: ['test/support/shared-postgres.ts'],
          maxWorkers: WAITING_AT_ONCE,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        // One process per worker for every unit file, not one per file: a fork costs about half a second of CPU, and the
        // unit files share no state that outlives them (each still checks its OS threads).
        test: {
          name: 'unit',
          include: [UNIT],
          isolate: false,
          maxWorkers: COMPUTING_AT_ONCE,
          sequence: { groupOrder: 2 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [UNIT, ...ON_POSTGRES, ...WAITING],
          globalSetup: ['test/support/shared-postgres.ts'],
          maxWorkers: COMPUTING_AT_ONCE,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
