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

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { Bench } from 'tinybench';

import { JetStream } from '../dist/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    only: { type: 'string', default: 'embedded,tls,plain,undici-tls' },
    time: { type: 'string', default: '3000' },
    jetstream: { type: 'string', default: join(root, 'target/release/jetstream') },
  },
});
const cases = args.only.split(',');
const work = mkdtempSync(join(tmpdir(), 'jetstream-api-remote-bench-'));
const children = [];
/** The user every server has; the client logs in as it. */
const login = { userName: 'bench', password: 'bench-password' };

/**
 * Starts `jetstream server` on state directory `name`, with `login` as its user, and resolves
 * with what it printed.
 */
async function server(name, flags) {
  execFileSync(args.jetstream, ['user', 'add', '--state-dir', join(work, name), login.userName], {
    env: { ...process.env, JETSTREAM_PASSWORD: login.password },
    stdio: 'ignore',
  });
  const child = spawn(
    args.jetstream,
    [
      'server',
      '--state-dir',
      join(work, name),
      '--api-host',
      '127.0.0.1',
      '--api-port',
      '0',
      '--recv-host',
      '127.0.0.1',
      '--recv-port',
      '0',
      '--log-level',
      'warn',
      ...flags,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  const printed = {};
  for await (const line of createInterface({ input: child.stdout })) {
    const [word, value] = line.split(' ');
    printed[word] = value;
    if (printed['api-listening'] && printed['public-key'] && (printed['api-fingerprint'] || flags.includes('--api-plain'))) {
      child.stdout.resume();
      const url = new URL(printed['api-listening']);
      return { url, host: url.hostname, port: Number(url.port), fingerprint: printed['api-fingerprint'] };
    }
  }
  throw new Error(`jetstream server ${flags.join(' ')} ended before listening`);
}

/** A finished transfer of one 1-byte file from `sender` to `receiver`, into `path`; its id. */
async function finishedTransfer(sender, receiver, path) {
  const { publicKey } = await sender.server.getServerInfo();
  await receiver.server.getRequestResult(await receiver.recv.addAuthorizedClientAsync(publicKey));
  const { recvPort } = await receiver.server.getServerInfo();
  const src = join(work, 'one');
  writeFileSync(src, 'x');
  const destination = await sender.send.createDestination('127.0.0.1', { destinationPort: recvPort });
  const manifest = await sender.send.createManifest({ mappings: { one: src } });
  await sender.send.waitForManifest(manifest);
  const created = await sender.send.createTransfer(destination, manifest, { destinationPath: path });
  const transfer = await sender.send.waitForTransfer(created);
  if (transfer.status !== 'complete') {
    throw new Error(`the transfer to measure ended ${transfer.status}: ${transfer.errorMessage}`);
  }
  return transfer.transferId;
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
      const id = await finishedTransfer(sender, receiver, name);
      await measure(name, () => sender.send.getTransfer(id));
      await sender.close();
    } else if (name === 'tls' || name === 'plain') {
      const started = await server(name, name === 'plain' ? ['--api-plain'] : []);
      const trust = name === 'plain' ? { tls: false } : { fingerprint: started.fingerprint };
      const options = { ...trust, ...login };
      const sender = await JetStream.connect(started.host, started.port, options);
      const id = await finishedTransfer(sender, receiver, name);
      await measure(name, () => sender.send.getTransfer(id));
      await sender.close();
    } else if (name === 'undici-tls') {
      const started = await server(name, []);
      const sender = await JetStream.connect(started.host, started.port, {
        fingerprint: started.fingerprint,
      });
      const { sessionToken } = await sender.server.auth(login.userName, login.password);
      const id = await finishedTransfer(sender, receiver, name);
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
