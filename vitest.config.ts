import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/invariants.ts'],
    // Starts nothing itself: gives S3 suites a shared directory for one Ceph per run, stopped at the end.
    globalSetup: ['test/support/ceph-global.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
