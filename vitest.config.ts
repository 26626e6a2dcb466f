import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/build.ts'],
    // Each file checks that the process's OS threads are back where they started.
    setupFiles: ['test/support/os-threads-per-file.ts'],
    // Each test file in its own process, so OS thread counts and exit
    // behavior are its own; one file at a time, so timing margins hold on a
    // 2-core machine.
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
