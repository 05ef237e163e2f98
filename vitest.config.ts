// vitest settings: every suite runs in a forked process (native addons and engines do not
// share a worker thread well), with timeouts long enough for loopback transfers.
// `jetstream` (the package's own name, as examples import it) resolves to the TypeScript sources.
import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    alias: { jetstream: fileURLToPath(new URL('./ts/index.ts', import.meta.url)) },
  },
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 10_000,
  },
});
