// vitest settings: every suite runs in a forked process (native addons and engines do not
// share a worker thread well), with timeouts long enough for loopback transfers.
// `jetstream` (the package's own name, as examples import it) resolves to the TypeScript sources.
//
// Two projects: `embedded` runs every suite against engines inside the test process; `remote`
// runs the suites that drive an engine once more, each engine then a `jetstream server` child
// process reached through the remote client (JETSTREAM_TEST_MODE=remote, see
// test/support/engines.ts), and the remote client's own suites. `vitest run --project remote`
// runs one of them; the remote project needs `npm run build:cli`.
import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vitest/config';

/** The suites that run in both modes: everything that drives an engine through the API. */
const PARITY = [
  'test/api-bad-input.test.ts',
  'test/api-lanes.test.ts',
  'test/api-links.test.ts',
  'test/api-manifests.test.ts',
  'test/api-objects.test.ts',
  'test/api-recv.test.ts',
  'test/api-server.test.ts',
  'test/api-transfers.test.ts',
  'test/persistence.test.ts',
  'test/reconnect.test.ts',
  'test/trust.test.ts',
  'test/quickstart.test.ts',
];

/** The suites of the remote client itself, which start their own servers. */
const REMOTE_ONLY = ['test/remote-*.test.ts'];

export default defineConfig({
  resolve: {
    alias: { jetstream: fileURLToPath(new URL('./ts/index.ts', import.meta.url)) },
  },
  test: {
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 10_000,
    projects: [
      {
        extends: true,
        test: { name: 'embedded', include: ['test/**/*.test.ts'], exclude: REMOTE_ONLY },
      },
      {
        extends: true,
        test: {
          name: 'remote',
          include: [...PARITY, ...REMOTE_ONLY],
          env: { JETSTREAM_TEST_MODE: 'remote' },
        },
      },
    ],
  },
});
