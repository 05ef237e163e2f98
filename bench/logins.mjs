#!/usr/bin/env node
// Logins against one `jetstream server`: N `server.auth` calls with the right password from one
// remote client (so from one address, 127.0.0.1), `--at-once` of them in flight at a time, and
// the server's resident memory before and after. Each login is an argon2id check of about
// 19 MiB on the server.
//
// Prints the logins that succeeded, every distinct error with its count, the wall time, the
// server's resident memory (idle, after the logins, peak) and CPU, and the load average.
//
// Usage: node bench/logins.mjs [--logins 1000] [--at-once 5]
//                              [--jetstream target/release/jetstream]
// Needs `npm run build` (dist/ and target/release/jetstream).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { JetStream } from '../dist/index.js';
import { clientOptions, commit, load, login, processStats, releaseBinary, startServer, stopServer } from './lib/servers.mjs';

const { values: args } = parseArgs({
  options: {
    logins: { type: 'string', default: '1000' },
    'at-once': { type: 'string', default: '5' },
    jetstream: { type: 'string', default: releaseBinary },
  },
});
const logins = Number(args.logins);
const atOnce = Number(args['at-once']);
for (const [name, value] of [['--logins', logins], ['--at-once', atOnce]]) {
  if (!(Number.isInteger(value) && value > 0)) throw new Error(`${name} must be a positive integer`);
}

const mib = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;

const work = mkdtempSync(join(tmpdir(), 'jetstream-logins-'));
const summary = {
  bench: 'logins',
  commit: commit(),
  date: new Date().toISOString(),
  jetstream: args.jetstream,
  logins,
  atOnce,
  loadAtStart: load(),
};
const server = await startServer(args.jetstream, join(work, 'server'));
let api;
try {
  api = await JetStream.connect(server.host, server.port, clientOptions(server));
  const idle = processStats(server.pid);
  const errors = new Map();
  let succeeded = 0;
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(atOnce, logins) }, async () => {
      while (next < logins) {
        next += 1;
        try {
          const session = await api.server.auth(login.userName, login.password);
          if (session.userName !== login.userName) throw new Error(`wrong session ${JSON.stringify(session)}`);
          succeeded += 1;
        } catch (error) {
          const key = `${error?.code ?? 'Error'}: ${error?.message ?? String(error)}`.replace(/\d+ ms/, 'N ms');
          errors.set(key, (errors.get(key) ?? 0) + 1);
        }
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const after = processStats(server.pid);
  Object.assign(summary, {
    seconds: Math.round(seconds * 1000) / 1000,
    succeeded,
    errors: [...errors].map(([error, count]) => ({ error, count })),
    serverIdleRssMiB: mib(idle.rssBytes),
    serverRssMiB: mib(after.rssBytes),
    serverPeakRssMiB: mib(after.peakRssBytes),
    serverCpuSeconds: Math.round((after.cpuSeconds - idle.cpuSeconds) * 100) / 100,
    loadAtEnd: load(),
  });
  console.log(JSON.stringify(summary));
  console.log(
    `${succeeded} of ${logins} logins (${atOnce} at once) in ${summary.seconds} s; server ` +
      `${summary.serverIdleRssMiB} → ${summary.serverRssMiB} MiB resident (peak ${summary.serverPeakRssMiB}), ` +
      `${summary.serverCpuSeconds} CPU s; load ${summary.loadAtStart} → ${summary.loadAtEnd}`,
  );
  for (const [error, count] of errors) console.log(`  error ×${count}: ${error}`);
  if (succeeded !== logins) process.exitCode = 1;
} finally {
  await api?.close();
  await stopServer(server);
  rmSync(work, { recursive: true, force: true });
}
