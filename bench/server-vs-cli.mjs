#!/usr/bin/env node
// A transfer driven through a server against the command-line tool, in alternation in one
// invocation, both generating the data and dropping it at the receiver (no disk on either end):
//   (a) cli: `jetstream receive --discard --once` and `jetstream send --generate SIZE`, fresh
//       processes each round (the NIC-test mode);
//   (b) server: one transfer of one generated file of SIZE bytes (TRANSFER_FLAG_NONE: the
//       sender generates the bytes, the receiver verifies and drops them) created through the
//       remote TypeScript client on a sending `jetstream server`, to a receiving `jetstream
//       server`; both servers are started once and serve every round.
// Both ask for AES-128 and verify at the receiver, as by default. Rates are bytes over the time
// each side's engine counts: the CLI's `seconds` (from opening its socket, before the
// handshake, to the receiver's confirmation) and the transfer's requestTime → endTime (from
// createTransfer, before the handshake, to the end saved in the store). The wall time of each
// (the send command from start to exit; createTransfer to waitForTransfer's answer) is shown
// beside them. Prints both medians with their rounds and the ratio server/cli.
//
// Usage: node bench/server-vs-cli.mjs [--size 2G] [--rounds 5] [--jetstream target/release/jetstream]
// Needs `npm run build` (dist/, the addon and target/release/jetstream).

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

import { JetStream, constants } from '../dist/index.js';
import {
  clientOptions,
  commit,
  link,
  load,
  median,
  releaseBinary,
  startServer,
  stopServer,
} from './lib/servers.mjs';

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: '2G' },
    rounds: { type: 'string', default: '5' },
    jetstream: { type: 'string', default: releaseBinary },
  },
});
/** Bytes of a size given as the CLI's --generate takes it: a count or K, M, G, T (binary). */
function parseSize(text) {
  const m = /^(\d+)([KMGT]?)$/i.exec(text);
  if (!m) throw new Error(`--size ${text}: expected a byte count or e.g. 512M, 2G`);
  return Number(m[1]) * 1024 ** ' KMGT'.indexOf((m[2] || ' ').toUpperCase());
}
const size = parseSize(args.size);
const rounds = Number(args.rounds);
if (!(Number.isInteger(rounds) && rounds > 0)) throw new Error('--rounds must be a positive integer');
const jetstream = args.jetstream;

const log = (message) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
const gbps = (bytes, seconds) => (bytes * 8) / seconds / 1e9;
const round3 = (v) => Math.round(v * 1000) / 1000;

/** Runs `jetstream ARGS` to its end; resolves with its stdout, rejects with its stderr. */
function run(argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(jetstream, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve(out) : reject(new Error(`jetstream ${argv[0]} ended ${code ?? signal}: ${err.trim()}`)),
    );
  });
}

/** (a) One `jetstream send --generate` into a fresh `jetstream receive --discard --once`. */
async function cliRound(work, senderKey) {
  const receiver = spawn(
    jetstream,
    [
      'receive',
      '--discard',
      '--once',
      '--root',
      join(work, 'cli-root'),
      '--listen',
      '127.0.0.1:0',
      '--key-file',
      join(work, 'cli-receiver.key'),
      '--authorized-key',
      senderKey,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let receiverErr = '';
  receiver.stderr.on('data', (d) => (receiverErr += d));
  const exited = new Promise((resolve) => receiver.once('exit', resolve));
  const printed = {};
  for await (const line of createInterface({ input: receiver.stdout })) {
    const [word, value] = line.split(' ');
    printed[word] = value;
    if (printed.listening && printed['public-key']) break;
  }
  if (!printed.listening) throw new Error(`jetstream receive did not start: ${receiverErr.trim()}`);
  receiver.stdout.resume();
  const start = performance.now();
  const out = await run([
    'send',
    '--generate',
    String(size),
    '--to',
    printed.listening,
    '--destination-key',
    printed['public-key'],
    '--key-file',
    join(work, 'cli-sender.key'),
    '--no-progress',
  ]);
  const wall = (performance.now() - start) / 1000;
  const code = await exited;
  if (code !== 0) throw new Error(`jetstream receive --once ended ${code}: ${receiverErr.trim()}`);
  const m = /^complete files=1 bytes=(\d+) seconds=([\d.]+) /m.exec(out);
  if (!m || Number(m[1]) !== size) throw new Error(`jetstream send printed no complete line of ${size} bytes: ${out}`);
  const seconds = Number(m[2]);
  return { gbps: gbps(size, seconds), seconds, wallGbps: gbps(size, wall), wallSeconds: wall };
}

/** (b) One generated transfer created through the client of the sending server. */
async function serverRound(api, destination, manifest, round) {
  const start = performance.now();
  const created = await api.send.createTransfer(destination, manifest, {
    transferFlags: constants.TRANSFER_FLAG_NONE,
    minCipher: constants.MIN_CIPHER_ENCRYPTED_128,
    destinationPath: `round-${round}`,
  });
  const t = await api.send.waitForTransfer(created);
  const wall = (performance.now() - start) / 1000;
  if (t.status !== 'complete' || t.bytesAcked !== size) {
    throw new Error(`transfer ${t.transferId} ended ${t.status} with ${t.bytesAcked} bytes: ${t.errorMessage}`);
  }
  if (t.cipher !== constants.MIN_CIPHER_ENCRYPTED_128) {
    throw new Error(`transfer ${t.transferId} ran with cipher ${t.cipher}, not AES-128 as the CLI's`);
  }
  const seconds = (t.endTime - t.requestTime) / 1e6;
  return { gbps: gbps(size, seconds), seconds, wallGbps: gbps(size, wall), wallSeconds: wall };
}

const work = mkdtempSync(join(tmpdir(), 'jetstream-server-vs-cli-'));
const summary = {
  bench: 'server-vs-cli',
  commit: commit(),
  date: new Date().toISOString(),
  sizeBytes: size,
  rounds,
  loadAtStart: load(),
};
const servers = [];
const apis = [];
try {
  mkdirSync(join(work, 'cli-root'));
  const senderKey = execFileSync(jetstream, ['key', '--key-file', join(work, 'cli-sender.key')])
    .toString()
    .trim();
  const sender = await startServer(jetstream, join(work, 'sender'));
  servers.push(sender);
  const receiver = await startServer(jetstream, join(work, 'receiver'));
  servers.push(receiver);
  const send = await JetStream.connect(sender.host, sender.port, clientOptions(sender));
  apis.push(send);
  const recv = await JetStream.connect(receiver.host, receiver.port, clientOptions(receiver));
  apis.push(recv);
  const destination = await link(send, recv);
  const manifest = await send.send.createManifest({
    mappings: { generated: { src: 'generated', size, flags: constants.FILETYPE_REGULAR_FILE } },
  });
  const ready = await send.send.waitForManifest(manifest);
  if (ready.status !== 'complete') throw new Error(`manifest ${ready.manifestId} is ${ready.status}`);

  const cli = [];
  const server = [];
  const loads = [];
  for (let r = 1; r <= rounds; r += 1) {
    cli.push(await cliRound(work, senderKey));
    server.push(await serverRound(send, destination, ready.manifestId, r));
    loads.push(load());
    log(
      `round ${r}/${rounds}: cli ${cli.at(-1).gbps.toFixed(2)} Gbit/s (wall ${cli.at(-1).wallGbps.toFixed(2)}), ` +
        `server ${server.at(-1).gbps.toFixed(2)} Gbit/s (wall ${server.at(-1).wallGbps.toFixed(2)}), load ${loads.at(-1)}`,
    );
  }
  const med = (runs, field) => median(runs.map((x) => x[field]));
  summary.cli = { medianGbps: round3(med(cli, 'gbps')), medianWallGbps: round3(med(cli, 'wallGbps')), runs: cli };
  summary.server = { medianGbps: round3(med(server, 'gbps')), medianWallGbps: round3(med(server, 'wallGbps')), runs: server };
  summary.ratio = round3(summary.server.medianGbps / summary.cli.medianGbps);
  summary.wallRatio = round3(summary.server.medianWallGbps / summary.cli.medianWallGbps);
  summary.loadAfterEachRound = loads;
  summary.loadAtEnd = load();
  console.log(JSON.stringify(summary));
  const list = (runs) => runs.map((x) => x.gbps.toFixed(2)).join(' ');
  console.log(`cli: ${summary.cli.medianGbps} Gbit/s [${list(cli)}] (wall ${summary.cli.medianWallGbps})`);
  console.log(`server: ${summary.server.medianGbps} Gbit/s [${list(server)}] (wall ${summary.server.medianWallGbps})`);
  console.log(`server/cli = ${summary.ratio} (wall ${summary.wallRatio}); load ${summary.loadAtStart} → ${summary.loadAtEnd}`);
} finally {
  await Promise.all(apis.map((api) => api.close()));
  await Promise.all(servers.map(stopServer));
  rmSync(work, { recursive: true, force: true });
}
