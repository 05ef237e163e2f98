#!/usr/bin/env node
// The cost of `createTransfer` alone: N transfers created at once through the remote client on
// one `jetstream server`, on a manifest that is still being traversed, so that no session starts
// while they are created (what a server does per creation, without the transfers' own work).
// The manifest is a large tree (`--tree`, mapped `--copies` times under different names); the
// script checks that it was still `pending` once every transfer was created, then deletes it,
// which fails the transfers, and stops the server.
//
// Prints the creation time, the server's CPU seconds during it, and the load average.
//
// Usage: node bench/create-transfers.mjs [--transfers 1000] [--tree /usr/share] [--copies 20]
//                                        [--jetstream target/release/jetstream]
// Needs `npm run build` (dist/ and target/release/jetstream).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { JetStream } from '../dist/index.js';
import { clientOptions, commit, load, processStats, releaseBinary, startServer, stopServer } from './lib/servers.mjs';

const { values: args } = parseArgs({
  options: {
    transfers: { type: 'string', default: '1000' },
    tree: { type: 'string', default: '/usr/share' },
    copies: { type: 'string', default: '20' },
    jetstream: { type: 'string', default: releaseBinary },
  },
});
const count = Number(args.transfers);
const copies = Number(args.copies);
for (const [name, value] of [['--transfers', count], ['--copies', copies]]) {
  if (!(Number.isInteger(value) && value > 0)) throw new Error(`${name} must be a positive integer`);
}

const work = mkdtempSync(join(tmpdir(), 'jetstream-create-transfers-'));
const summary = {
  bench: 'create-transfers',
  commit: commit(),
  date: new Date().toISOString(),
  jetstream: args.jetstream,
  transfers: count,
  tree: args.tree,
  copies,
  loadAtStart: load(),
};
const server = await startServer(args.jetstream, join(work, 'server'));
let api;
try {
  api = await JetStream.connect(server.host, server.port, clientOptions(server));
  // Nothing listens there: no transfer is meant to reach it.
  const destination = await api.send.createDestination('127.0.0.1', { destinationPort: 9 });
  const mappings = Object.fromEntries(Array.from({ length: copies }, (_, i) => [`tree${i}`, args.tree]));
  const manifest = await api.send.createManifest({ mappings });
  const cpu0 = processStats(server.pid).cpuSeconds;
  const start = performance.now();
  const created = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      api.send.createTransfer(destination.destinationId, manifest, { destinationPath: `t${i}` }),
    ),
  );
  const seconds = (performance.now() - start) / 1000;
  const cpu = processStats(server.pid).cpuSeconds - cpu0;
  const status = (await api.send.getManifest(manifest)).status;
  await api.send.deleteManifest(manifest);
  Object.assign(summary, {
    created: created.length,
    createSeconds: Math.round(seconds * 1000) / 1000,
    serverCpuSeconds: Math.round(cpu * 100) / 100,
    manifestStatusAfter: status,
    loadAtEnd: load(),
  });
  console.log(JSON.stringify(summary));
  console.log(
    `${created.length} transfers created in ${summary.createSeconds} s (server ${summary.serverCpuSeconds} CPU s); ` +
      `manifest ${status} meanwhile; load ${summary.loadAtStart} → ${summary.loadAtEnd}`,
  );
  if (status !== 'pending') {
    console.log('  the manifest was traversed before the creations ended: sessions ran; use a larger --tree or --copies');
    process.exitCode = 1;
  }
} finally {
  await api?.close();
  await stopServer(server);
  rmSync(work, { recursive: true, force: true });
}
