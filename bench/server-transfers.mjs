#!/usr/bin/env node
// Many transfers at once through one server: a sending `jetstream server` and a receiving one
// on loopback (TLS control ports, a user each), N memory-to-memory transfers of one generated
// file each (TRANSFER_FLAG_NONE: the sender generates the bytes, the receiver verifies and
// drops them; AES-128 as by default), all created at once through the remote TypeScript client,
// all of which must end `complete`.
//
// While they run it reads both servers' /metrics every 100 ms (transfers by status, sessions
// moving data) and their memory and CPU from /proc. Prints the wall time (first create to
// the last transfer ended, as this process saw it, and by the sender's own clock: the first
// requestTime to the last endTime), the aggregate rate, the most sessions seen at once on each
// side, per-transfer times (request → start → end), each server's peak resident memory and
// CPU, every failure with its error, and the load average.
//
// Usage: node bench/server-transfers.mjs [--transfers 1000] [--size 1048576] [--timeout 600]
//                                        [--jetstream target/release/jetstream]
// Needs `npm run build` (dist/, the addon and target/release/jetstream).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { JetStream, constants } from '../dist/index.js';
import {
  clientOptions,
  commit,
  link,
  load,
  login,
  metrics,
  processStats,
  quantile,
  releaseBinary,
  startServer,
  stopServer,
} from './lib/servers.mjs';

const { values: args } = parseArgs({
  options: {
    transfers: { type: 'string', default: '1000' },
    size: { type: 'string', default: String(1 << 20) },
    timeout: { type: 'string', default: '600' },
    jetstream: { type: 'string', default: releaseBinary },
  },
});
const count = Number(args.transfers);
const size = Number(args.size);
const timeoutMs = Number(args.timeout) * 1000;
for (const [name, value] of [['--transfers', count], ['--size', size], ['--timeout', timeoutMs]]) {
  if (!(Number.isInteger(value) && value > 0)) throw new Error(`${name} must be a positive integer`);
}

const log = (message) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
const mib = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const ENDED = new Set(['complete', 'error']);

const work = mkdtempSync(join(tmpdir(), 'jetstream-server-transfers-'));
const summary = {
  bench: 'server-transfers',
  commit: commit(),
  date: new Date().toISOString(),
  transfers: count,
  sizeBytes: size,
  loadAtStart: load(),
};
const servers = [];
const apis = [];
try {
  const sender = await startServer(args.jetstream, join(work, 'sender'));
  servers.push(sender);
  const receiver = await startServer(args.jetstream, join(work, 'receiver'));
  servers.push(receiver);
  const send = await JetStream.connect(sender.host, sender.port, clientOptions(sender));
  apis.push(send);
  const recv = await JetStream.connect(receiver.host, receiver.port, clientOptions(receiver));
  apis.push(recv);
  const destination = await link(send, recv);
  const manifest = await send.send.createManifest({
    mappings: { 'gen.bin': { src: '/nonexistent/gen.bin', size, flags: constants.FILETYPE_REGULAR_FILE } },
  });
  const ready = await send.send.waitForManifest(manifest);
  if (ready.status !== 'complete') throw new Error(`manifest ${ready.manifestId} is ${ready.status}`);
  // A session token of each server for its /metrics.
  const senderToken = (await send.server.auth(login.userName, login.password)).sessionToken;
  const receiverToken = (await recv.server.auth(login.userName, login.password)).sessionToken;
  const cpu0 = servers.map((s) => processStats(s.pid).cpuSeconds);
  log(`servers up (sender pid ${sender.pid}, receiver pid ${receiver.pid}); creating ${count} transfers`);

  // Both servers watched from the first creation until every transfer has ended.
  const most = { send: 0, receive: 0, sending: 0 };
  const peakRss = [0, 0];
  let ended = 0;
  let expected = count;
  let metricsErrors = 0;
  const start = performance.now();
  const watch = (async () => {
    let lastLog = 0;
    for (;;) {
      try {
        const [s, r] = await Promise.all([metrics(sender, senderToken), metrics(receiver, receiverToken)]);
        most.send = Math.max(most.send, s.get('jetstream_active_sessions{direction="send"}') ?? 0);
        most.receive = Math.max(most.receive, r.get('jetstream_active_sessions{direction="receive"}') ?? 0);
        most.sending = Math.max(most.sending, s.get('jetstream_transfers{status="sending"}') ?? 0);
        ended = 0;
        for (const status of ENDED) ended += s.get(`jetstream_transfers{status="${status}"}`) ?? 0;
      } catch (error) {
        metricsErrors += 1;
        log(`reading /metrics: ${error.message}`);
      }
      servers.forEach((s, i) => {
        peakRss[i] = Math.max(peakRss[i], processStats(s.pid).peakRssBytes);
      });
      const now = performance.now();
      if (ended >= expected || now - start > timeoutMs) return;
      if (now - lastLog > 5000) {
        lastLog = now;
        log(`${ended} ended; most sessions at once so far: send ${most.send}, receive ${most.receive}`);
      }
      await sleep(100);
    }
  })();

  // Every transfer at once.
  const createErrors = new Map();
  const created = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      send.send
        .createTransfer(destination, ready.manifestId, {
          transferFlags: constants.TRANSFER_FLAG_NONE,
          destinationPath: `t${i}`,
        })
        .then(
          (t) => t.transferId,
          (error) => {
            const key = `${error.code}: ${error.message}`;
            createErrors.set(key, (createErrors.get(key) ?? 0) + 1);
            return undefined;
          },
        ),
    ),
  );
  const ids = created.filter((id) => id !== undefined);
  expected = ids.length;
  const createSeconds = (performance.now() - start) / 1000;
  log(`${ids.length} transfers created in ${createSeconds.toFixed(2)} s`);
  await watch;
  const wallSeconds = (performance.now() - start) / 1000;
  const cpu = servers.map((s, i) => processStats(s.pid).cpuSeconds - cpu0[i]);

  // Every transfer's record: its status, its error and its times.
  const records = [];
  for (let i = 0; i < ids.length; i += 50) {
    records.push(...(await Promise.all(ids.slice(i, i + 50).map((id) => send.send.getTransfer(id)))));
  }
  const failures = new Map();
  const statuses = {};
  for (const t of records) {
    statuses[t.status] = (statuses[t.status] ?? 0) + 1;
    if (t.status !== 'complete') {
      const key = `${t.status}: ${t.errorMessage ?? t.lastError ?? '(no error given)'}`;
      failures.set(key, (failures.get(key) ?? 0) + 1);
    }
  }
  const complete = records.filter((t) => t.status === 'complete');
  const seconds = (from, to) =>
    complete.map((t) => (t[to] - t[from]) / 1e6).sort((a, b) => a - b);
  const times = (from, to) => {
    const s = seconds(from, to);
    const r = (v) => Math.round(v * 1000) / 1000;
    return { p50: r(quantile(s, 0.5)), p99: r(quantile(s, 0.99)), max: r(quantile(s, 1)) };
  };
  const serverClockSeconds =
    complete.length > 0
      ? (Math.max(...complete.map((t) => t.endTime)) - Math.min(...complete.map((t) => t.requestTime))) / 1e6
      : NaN;
  const bytes = complete.length * size;
  summary.run = {
    created: ids.length,
    createSeconds: Math.round(createSeconds * 1000) / 1000,
    createErrors: [...createErrors].map(([error, n]) => ({ error, count: n })),
    statuses,
    failures: [...failures].map(([error, n]) => ({ error, count: n })),
    wallSeconds: Math.round(wallSeconds * 1000) / 1000,
    serverClockSeconds: Math.round(serverClockSeconds * 1000) / 1000,
    gbpsWall: Math.round(((bytes * 8) / wallSeconds / 1e9) * 1000) / 1000,
    gbpsServerClock: Math.round(((bytes * 8) / serverClockSeconds / 1e9) * 1000) / 1000,
    mostSessions: most,
    perTransferSeconds: {
      requestToStart: times('requestTime', 'startTime'),
      startToEnd: times('startTime', 'endTime'),
      requestToEnd: times('requestTime', 'endTime'),
    },
    sender: { peakRssMiB: mib(peakRss[0]), cpuSeconds: Math.round(cpu[0] * 100) / 100 },
    receiver: { peakRssMiB: mib(peakRss[1]), cpuSeconds: Math.round(cpu[1] * 100) / 100 },
    metricsErrors,
  };
  summary.loadAtEnd = load();
  console.log(JSON.stringify(summary));
  const r = summary.run;
  console.log(
    `${r.statuses.complete ?? 0} of ${count} transfers of ${size} bytes complete in ${r.wallSeconds} s ` +
      `(${r.serverClockSeconds} s by the sender's clock): ${r.gbpsWall} Gbit/s ` +
      `(${r.gbpsServerClock}); most sessions at once: send ${most.send}, receive ${most.receive}; ` +
      `per transfer request→end p50 ${r.perTransferSeconds.requestToEnd.p50} s, ` +
      `max ${r.perTransferSeconds.requestToEnd.max} s; sender peak ${r.sender.peakRssMiB} MiB, ` +
      `${r.sender.cpuSeconds} CPU s; receiver peak ${r.receiver.peakRssMiB} MiB, ` +
      `${r.receiver.cpuSeconds} CPU s; load ${summary.loadAtStart} → ${summary.loadAtEnd}`,
  );
  for (const { error, count: n } of [...r.createErrors, ...r.failures]) {
    console.log(`  failure ×${n}: ${error}`);
  }
  if ((r.statuses.complete ?? 0) !== count) process.exitCode = 1;
} finally {
  await Promise.all(apis.map((api) => api.close()));
  await Promise.all(servers.map(stopServer));
  rmSync(work, { recursive: true, force: true });
}
