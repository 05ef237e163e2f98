#!/usr/bin/env node
// Many API clients against one `jetstream server`: N remote clients (`JetStream.connect`, each
// its own client with its own connection, TLS pinned by fingerprint, each logged in as a user
// of the server), all calling `send.getTransfer(id)` of one finished transfer in a loop, one
// call at a time each, for a fixed time.
//
// Phases, each timed: start the server (loopback, free ports) and make the transfer; connect
// and log in every client, `--connect-at-once` of them at a time (5 by default: the server
// checks 5 passwords of one address at once and queues the others, 128 at most, for 5 s at
// most; all of these clients come from 127.0.0.1); the load.
// Prints the calls, calls/s, every distinct error with its count (a call whose answer is not
// the transfer counts as an error too), latency quantiles (each call timed on its own, in this
// process, so a busy event loop shows in them), the server's resident memory (now and peak)
// and CPU (cores used during the load), this process's CPU, the connections the server has
// open, and the load average.
//
// Usage: node bench/api-load.mjs [--clients 1000] [--seconds 30] [--connect-at-once 5]
//                                [--jetstream target/release/jetstream]
// Needs `npm run build` (dist/, the addon and target/release/jetstream).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { JetStream } from '../dist/index.js';
import {
  clientOptions,
  commit,
  finishedTransfer,
  load,
  processStats,
  quantile,
  releaseBinary,
  startServer,
  stopServer,
} from './lib/servers.mjs';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '30' },
    'connect-at-once': { type: 'string' },
    jetstream: { type: 'string', default: releaseBinary },
  },
});
const clients = Number(args.clients);
const seconds = Number(args.seconds);
const atOnce = Number(args['connect-at-once'] ?? 5);
for (const [name, value] of [['--clients', clients], ['--seconds', seconds], ['--connect-at-once', atOnce]]) {
  if (!(value > 0)) throw new Error(`${name} must be a positive number`);
}

const log = (message) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
const mib = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;

/** Distinct errors and how often each came, by `CODE: message`. */
class Errors {
  #counts = new Map();
  add(error) {
    const key = `${error?.code ?? error?.name ?? 'Error'}: ${error?.message ?? String(error)}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }
  get total() {
    let n = 0;
    for (const count of this.#counts.values()) n += count;
    return n;
  }
  list() {
    return [...this.#counts].map(([error, count]) => ({ error, count }));
  }
}

/** Established TCP connections to the server's API port. */
function openConnections(port) {
  const out = execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`]).toString();
  return out.split('\n').filter((line) => line.trim() !== '').length;
}

const work = mkdtempSync(join(tmpdir(), 'jetstream-api-load-'));
const summary = {
  bench: 'api-load',
  commit: commit(),
  date: new Date().toISOString(),
  clients,
  seconds,
  connectAtOnce: atOnce,
  loadAtStart: load(),
};
const server = await startServer(args.jetstream, join(work, 'server'));
const connected = [];
try {
  // The transfer every client reads: a real one, from the server to an embedded receiver,
  // which is closed before the load so that only the server and the clients run.
  const receiver = await JetStream.embedded({ stateDir: join(work, 'receiver') });
  const setup = await JetStream.connect(server.host, server.port, clientOptions(server));
  const id = await finishedTransfer(setup, receiver, work, 'measured');
  await setup.close();
  await receiver.close();
  const idle = processStats(server.pid);
  log(`server up (pid ${server.pid}, ${mib(idle.rssBytes)} MiB resident); transfer ${id} finished`);

  // Connect and log in every client.
  const connectErrors = new Errors();
  const connectStart = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(atOnce, clients) }, async () => {
      while (next < clients) {
        next += 1;
        try {
          connected.push(await JetStream.connect(server.host, server.port, clientOptions(server)));
        } catch (error) {
          connectErrors.add(error);
        }
      }
    }),
  );
  const connectSeconds = (performance.now() - connectStart) / 1000;
  const afterConnect = processStats(server.pid);
  summary.connect = {
    seconds: Math.round(connectSeconds * 1000) / 1000,
    connected: connected.length,
    errors: connectErrors.total,
    distinctErrors: connectErrors.list(),
    serverCpuSeconds: Math.round((afterConnect.cpuSeconds - idle.cpuSeconds) * 100) / 100,
    serverPeakRssMiB: mib(afterConnect.peakRssBytes),
    serverRssMiB: mib(afterConnect.rssBytes),
    openConnections: openConnections(server.port),
    load: load(),
  };
  log(
    `${connected.length} of ${clients} clients connected and logged in in ${connectSeconds.toFixed(1)} s ` +
      `(${connectErrors.total} errors); server ${mib(afterConnect.rssBytes)} MiB resident, ` +
      `peak ${mib(afterConnect.peakRssBytes)} MiB`,
  );
  for (const { error, count } of connectErrors.list()) {
    log(`  connect error ×${count}: ${error}`);
  }

  // The load: every connected client calls getTransfer one call at a time until the end.
  const errors = new Errors();
  const latencies = [];
  let connectionsDuringLoad = 0;
  const before = processStats(server.pid);
  const clientCpuBefore = process.cpuUsage();
  const start = performance.now();
  const end = start + seconds * 1000;
  const sampler = setTimeout(() => {
    connectionsDuringLoad = openConnections(server.port);
  }, (seconds * 1000) / 2);
  await Promise.all(
    connected.map(async (client) => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const transfer = await client.send.getTransfer(id);
          if (transfer.transferId !== id || transfer.status !== 'complete') {
            errors.add(new Error(`wrong answer: transfer ${transfer.transferId} ${transfer.status}`));
          } else {
            latencies.push(performance.now() - t0);
          }
        } catch (error) {
          errors.add(error);
        }
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  clearTimeout(sampler);
  const after = processStats(server.pid);
  const clientCpu = process.cpuUsage(clientCpuBefore);
  latencies.sort((a, b) => a - b);
  const calls = latencies.length + errors.total;
  const micros = (q) => Math.round(quantile(latencies, q) * 10000) / 10;
  summary.load = {
    seconds: Math.round(elapsed * 1000) / 1000,
    calls,
    callsPerSecond: Math.round(calls / elapsed),
    errors: errors.total,
    distinctErrors: errors.list(),
    latencyMicros: { p50: micros(0.5), p90: micros(0.9), p99: micros(0.99), max: micros(1) },
    serverRssMiB: mib(after.rssBytes),
    serverPeakRssMiB: mib(after.peakRssBytes),
    serverIdleRssMiB: mib(idle.rssBytes),
    serverCores: Math.round(((after.cpuSeconds - before.cpuSeconds) / elapsed) * 100) / 100,
    clientCores: Math.round(((clientCpu.user + clientCpu.system) / 1e6 / elapsed) * 100) / 100,
    openConnectionsMidway: connectionsDuringLoad,
  };
  summary.loadAtEnd = load();
  console.log(JSON.stringify(summary));
  const l = summary.load;
  console.log(
    `${connected.length} clients for ${l.seconds} s: ${l.calls} calls, ${l.callsPerSecond} calls/s, ` +
      `${l.errors} errors; latency p50 ${l.latencyMicros.p50} µs, p99 ${l.latencyMicros.p99} µs; ` +
      `server ${l.serverRssMiB} MiB resident (peak ${l.serverPeakRssMiB}, idle ${l.serverIdleRssMiB}), ` +
      `${l.serverCores} cores; client ${l.clientCores} cores; ` +
      `${l.openConnectionsMidway} connections open midway; load ${summary.loadAtStart} → ${summary.loadAtEnd}`,
  );
  for (const { error, count } of errors.list()) {
    console.log(`  error ×${count}: ${error}`);
  }
  if (connectErrors.total > 0 || errors.total > 0) {
    process.exitCode = 1;
  }
} finally {
  await Promise.all(connected.map((client) => client.close()));
  await stopServer(server);
  rmSync(work, { recursive: true, force: true });
}
