import { defineConfig } from 'vitest/config';

const UNIT = 'test/unit/**/*.test.ts';
/** Tests that mostly wait — on Postgres, on leases, on processes they kill — rather than compute or time anything tight. */
const ON_POSTGRES = ['test/integration/postgres-*.test.ts', 'test/integration/durable*.test.ts'];
/**
 * Except this one, which holds Postgres locks against an instance whose lease must run out on its own clock: beside
 * durable.test.ts it failed 1 run in 3 (the lease not given up within 10 s). The cause was the lease's timer coming due
 * early under load and not being set again (src/postgres/instance-lease.ts, fixed); it runs alone until it has been
 * seen to pass beside the others.
 */
const ALONE = ['test/integration/postgres-couriers.test.ts'];

/**
 * Groups, one after the other: the unit tests two files at a time, the
 * Postgres-backed tests two at a time (on one Postgres server, each file with databases of its own),
 * then every other test one file at a time — their timing margins hold on a
 * busy 2-core machine, not beside another file's load.
 */
export default defineConfig({
  test: {
    globalSetup: ['test/support/build.ts'],
    // Each file checks that the process's OS threads are back where they started.
    setupFiles: ['test/support/os-threads-per-file.ts'],
    // Each test file in its own process, so OS thread counts and exit
    // behavior are its own.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'unit', include: [UNIT], maxWorkers: 2, sequence: { groupOrder: 1 } } },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: ON_POSTGRES,
          exclude: ALONE,
          // One Postgres for the group, its databases cloned from a template migrated once; a file that stops, freezes or
          // inspects its server starts its own (test/support/postgres.ts).
          globalSetup: ['test/support/build.ts', 'test/support/shared-postgres.ts'],
          maxWorkers: 2,
          sequence: { groupOrder: 2 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [UNIT, ...ON_POSTGRES],
          // order-records and payment-ledger run their durable halves on it.
          globalSetup: ['test/support/build.ts', 'test/support/shared-postgres.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 3 },
        },
      },
      {
        extends: true,
        test: { name: 'alone', include: ALONE, fileParallelism: false, sequence: { groupOrder: 4 } },
      },
    ],
  },
});
