#!/usr/bin/env node
// The remote TypeScript client's round trip (tinybench), next to the embedded engine's: one
// `send.getTransfer(id)` of a finished transfer, one at a time (median latency, calls/s) and
// with 32 calls in flight (calls/s), through
//   - `embedded`: an engine in this process (the reference);
//   - `tls`: `JetStream.connect` to a `jetstream server` over loopback, TLS pinned by
//     fingerprint, HTTP/1.1 keep-alive (node:http, the client's stack), logged in as a user of
//     the server (each call carries its session token, as by default);
//   - `plain`: the same to a server started with `--api-plain` (what TLS costs);
//   - `undici-tls`: the same POST /api request through undici's `Agent.request` (the copy
//     bundled with Node, reached through its global dispatcher, so no dependency is added), to
//     choose the client's HTTP stack by measurement. It skips certificate checks: the
//     connection is made once and kept, so checking would not change the figure.
// Usage: node bench/api-remote.mjs [--only embedded,tls,plain,undici-tls] [--time MS]
// Needs `npm run build` (dist/, the addon and target/release/jetstream).
// Prints one JSON object per case and a summary line per case.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { Bench } from 'tinybench';

import { JetStream } from '../dist/index.js';
import { clientOptions, finishedTransfer, login, releaseBinary, startServer } from './lib/servers.mjs';

const { values: args } = parseArgs({
  options: {
    only: { type: 'string', default: 'embedded,tls,plain,undici-tls' },
    time: { type: 'string', default: '3000' },
    jetstream: { type: 'string', default: releaseBinary },
  },
});
const cases = args.only.split(',');
const work = mkdtempSync(join(tmpdir(), 'jetstream-api-remote-bench-'));
const children = [];

/** Starts a `jetstream server` on state directory `name` with `flags`; ended at exit. */
async function server(name, flags) {
  const started = await startServer(args.jetstream, join(work, name), flags);
  children.push(started.child);
  return started;
}

/** Measures `call` one at a time and 32 in flight; prints and returns the figures. */
async function measure(name, call) {
  const bench = new Bench({ time: Number(args.time), warmup: true });
  bench.add('one at a time', call);
  bench.add('32 in flight', () => Promise.all(Array.from({ length: 32 }, call)));
  await bench.run();
  const [one, many] = bench.tasks.map((t) => t.result);
  const figures = {
    medianMicros: one.latency.p50 * 1000,
    p99Micros: one.latency.p99 * 1000,
    callsPerSecond: 1000 / one.latency.mean,
    callsPerSecondConcurrent32: (32 * 1000) / many.latency.mean,
    samples: one.latency.samplesCount,
  };
  console.log(JSON.stringify({ case: name, ...figures }));
  console.log(
    `${name}: getTransfer median ${figures.medianMicros.toFixed(1)} µs (p99 ${figures.p99Micros.toFixed(1)}), ` +
      `${Math.round(figures.callsPerSecond)} calls/s one at a time, ` +
      `${Math.round(figures.callsPerSecondConcurrent32)} calls/s with 32 in flight`,
  );
  return figures;
}

/** undici's Agent class, from the copy bundled with Node (created by the first `fetch`). */
async function bundledUndiciAgent() {
  await fetch('http://127.0.0.1:1/').catch(() => undefined);
  const dispatcher = globalThis[Symbol.for('undici.globalDispatcher.1')];
  if (typeof dispatcher?.request !== 'function') {
    throw new Error("this Node has no bundled undici global dispatcher to measure");
  }
  return dispatcher.constructor;
}

const receiver = await JetStream.embedded({ stateDir: join(work, 'receiver') });
try {
  for (const name of cases) {
    if (name === 'embedded') {
      const sender = await JetStream.embedded({ stateDir: join(work, 'embedded') });
      const id = await finishedTransfer(sender, receiver, work, name);
      await measure(name, () => sender.send.getTransfer(id));
      await sender.close();
    } else if (name === 'tls' || name === 'plain') {
      const started = await server(name, name === 'plain' ? ['--api-plain'] : []);
      const sender = await JetStream.connect(started.host, started.port, clientOptions(started));
      const id = await finishedTransfer(sender, receiver, work, name);
      await measure(name, () => sender.send.getTransfer(id));
      await sender.close();
    } else if (name === 'undici-tls') {
      const started = await server(name, []);
      const sender = await JetStream.connect(started.host, started.port, {
        fingerprint: started.fingerprint,
      });
      const { sessionToken } = await sender.server.auth(login.userName, login.password);
      const id = await finishedTransfer(sender, receiver, work, name);
      await sender.close();
      const Agent = await bundledUndiciAgent();
      const agent = new Agent({ connect: { rejectUnauthorized: false } });
      const body = JSON.stringify({ method: 'getTransfer', params: { transferId: id } });
      const origin = started.url.origin;
      await measure(name, async () => {
        const res = await agent.request({
          origin,
          path: '/api',
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${sessionToken}` },
          body,
        });
        const transfer = await res.body.json();
        if (res.statusCode !== 200 || transfer.transferId !== id) {
          throw new Error(`undici: HTTP ${res.statusCode}`);
        }
      });
      await agent.close();
    } else {
      throw new Error(`unknown case ${name}: embedded, tls, plain or undici-tls`);
    }
  }
} finally {
  await receiver.close();
  for (const child of children) {
    child.kill('SIGTERM');
  }
  rmSync(work, { recursive: true, force: true });
}
