// vitest settings: every suite runs in a forked process (native addons and engines do not
// share a worker thread well), with timeouts long enough for loopback transfers.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 10_000,
  },
});
