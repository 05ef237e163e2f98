#!/usr/bin/env node
// The TypeScript API's benchmarks (tinybench and wall-clock ratios), run against the built
// package (`npm run build`), each case side by side with its reference in one invocation:
//   1. getTransfer round trip through the facade: median latency, calls/s one at a time and
//      with 32 calls in flight;
//   2. createManifest + waitForManifest of a tree of 100,000 files against a plain recursive
//      readdir + stat walk of the same tree in Node;
//   3. one file sent by a transfer created through the API against `jetstream send` (the CLI),
//      both to the same `jetstream receive`, alternating; the API's time is the transfer's
//      requestTime to endTime, the CLI's the `seconds` it prints.
// Usage: node bench/api.mjs [--only latency,manifest,transfer] [--files N] [--size BYTES]
//        [--runs N] [--data DIR]
// Prints one JSON object per case and a summary line per case.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
    only: { type: 'string', default: 'latency,manifest,transfer' },
    files: { type: 'string', default: '100000' },
    size: { type: 'string', default: String(1024 ** 3) },
    runs: { type: 'string', default: '3' },
    data: { type: 'string', default: '/tmp/jetstream-bench-data' },
    jetstream: { type: 'string', default: join(root, 'target/release/jetstream') },
  },
});
const cases = new Set(args.only.split(','));
const runs = Number(args.runs);
const work = mkdtempSync(join(tmpdir(), 'jetstream-api-bench-'));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const report = (name, figures) => console.log(JSON.stringify({ case: name, ...figures }));

/** A file of `size` bytes that does not compress (written once, reused). */
function dataFile(size) {
  const dir = join(args.data, 'src');
  const path = join(dir, `api-${size}.bin`);
  if (!existsSync(path) || statSync(path).size !== size) {
    mkdirSync(dir, { recursive: true });
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
    writeFileSync(path, '');
    for (let written = 0; written < size; written += chunk.length) {
      writeFileSync(path, chunk.subarray(0, Math.min(chunk.length, size - written)), { flag: 'a' });
      chunk.writeUInt32LE(written >>> 0, 0);
    }
  }
  return path;
}

/** A tree of `count` 1-byte files, 1,000 per directory (made once, reused). */
function fileTree(count) {
  const dir = join(args.data, `tree-${count}`);
  if (!existsSync(join(dir, 'done'))) {
    rmSync(dir, { recursive: true, force: true });
    for (let i = 0; i < count; i++) {
      const sub = join(dir, `d${Math.floor(i / 1000)}`);
      if (i % 1000 === 0) mkdirSync(sub, { recursive: true });
      writeFileSync(join(sub, `f${i}`), 'x');
    }
    writeFileSync(join(dir, 'done'), '');
  }
  return dir;
}

/** The plain Node walk: recursive readdir with file types, and a stat of every entry. */
function nodeWalk(dir) {
  let files = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    statSync(path);
    files += entry.isDirectory() ? nodeWalk(path) : 1;
  }
  return files;
}

async function latency() {
  const receiver = await JetStream.embedded({ stateDir: join(work, 'r') });
  const sender = await JetStream.embedded({ stateDir: join(work, 's') });
  const src = join(work, 'one');
  writeFileSync(src, 'x');
  const { recvPort } = await receiver.server.getServerInfo();
  const destination = await sender.send.createDestination('127.0.0.1', { destinationPort: recvPort });
  const manifest = await sender.send.createManifest({ mappings: { one: src } });
  await sender.send.waitForManifest(manifest);
  const transfer = await sender.send.createTransfer(destination, manifest);
  await sender.send.waitForTransfer(transfer);
  const id = transfer.transferId;

  const bench = new Bench({ time: 3000, warmup: true });
  bench.add('getTransfer, one at a time', async () => {
    await sender.send.getTransfer(id);
  });
  bench.add('getTransfer, 32 in flight', async () => {
    await Promise.all(Array.from({ length: 32 }, () => sender.send.getTransfer(id)));
  });
  await bench.run();
  const [one, many] = bench.tasks.map((t) => t.result);
  const figures = {
    medianMicros: one.latency.p50 * 1000,
    callsPerSecond: 1000 / one.latency.mean,
    callsPerSecondConcurrent32: (32 * 1000) / many.latency.mean,
    samples: one.latency.samplesCount,
  };
  report('getTransfer', figures);
  console.log(
    `getTransfer round trip: median ${figures.medianMicros.toFixed(1)} µs, ` +
      `${Math.round(figures.callsPerSecond)} calls/s one at a time, ` +
      `${Math.round(figures.callsPerSecondConcurrent32)} calls/s with 32 in flight`,
  );
  await sender.close();
  await receiver.close();
}

async function manifest() {
  const count = Number(args.files);
  const tree = fileTree(count);
  const api = await JetStream.embedded({ stateDir: join(work, 'm') });
  nodeWalk(tree); // warm the dentry and inode caches for both
  const ours = [];
  const node = [];
  for (let run = 0; run < runs; run++) {
    let start = performance.now();
    const walked = nodeWalk(tree);
    node.push(performance.now() - start);
    start = performance.now();
    const m = await api.send.createManifest({ mappings: { tree } });
    const done = await api.send.waitForManifest(m);
    ours.push(performance.now() - start);
    if (done.status !== 'complete' || done.totalFiles < walked) {
      throw new Error(`manifest ${done.status}: ${done.totalFiles} entries, walk saw ${walked}`);
    }
    await api.send.deleteManifest(m);
  }
  await api.close();
  const figures = { files: count, oursMs: ours, nodeWalkMs: node, ratio: median(ours) / median(node) };
  report('createManifest+waitForManifest', figures);
  console.log(
    `manifest of ${count} files: ours ${median(ours).toFixed(0)} ms, Node readdir+stat ` +
      `${median(node).toFixed(0)} ms: ${figures.ratio.toFixed(2)}x the walk's time`,
  );
}

/** The CLI sender's key file (in the work directory), and its public key. */
function cliSenderKey() {
  const file = join(work, 'sender.key');
  const key = execFileSync(args.jetstream, ['key', '--key-file', file], { encoding: 'utf8' }).trim();
  return { file, key };
}

/**
 * Starts `jetstream receive`, accepting the sender keys given, and resolves with its address,
 * its key and the process.
 */
async function cliReceiver(dir, senderKeys) {
  const trust = senderKeys.flatMap((key) => ['--authorized-key', key]);
  const child = spawn(
    args.jetstream,
    ['receive', '--root', dir, '--listen', '127.0.0.1:0', '--key-file', join(work, 'receiver.key'), ...trust],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const banner = {};
  for await (const line of createInterface({ input: child.stdout })) {
    const [word, value] = line.split(' ');
    if (word === 'listening') banner.addr = value;
    if (word === 'public-key') banner.key = value;
    if (banner.addr && banner.key) return { child, ...banner };
  }
  throw new Error('jetstream receive ended before listening');
}

/** Runs `jetstream send` and resolves with the seconds it reports. */
function cliSend(file, receiver, sender, dest) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      args.jetstream,
      [
        'send',
        file,
        '--to',
        receiver.addr,
        '--destination-key',
        receiver.key,
        '--key-file',
        sender.file,
        '--dest',
        dest,
        '--no-progress',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => {
      const seconds = /seconds=([\d.]+)/.exec(out);
      if (code === 0 && seconds) resolve(Number(seconds[1]));
      else reject(new Error(`jetstream send exited ${code}: ${out}`));
    });
  });
}

async function transfer() {
  const size = Number(args.size);
  const file = dataFile(size);
  const inbox = join(work, 'inbox');
  mkdirSync(inbox);
  const api = await JetStream.embedded({ stateDir: join(work, 't') });
  const sender = cliSenderKey();
  const receiver = await cliReceiver(inbox, [(await api.server.getServerInfo()).publicKey, sender.key]);
  const { child, addr } = receiver;
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  const destination = await api.send.createDestination(host, {
    destinationPort: port,
    authenticateDestination: true,
    destinationPublicKey: receiver.key,
  });
  const m = await api.send.createManifest({ mappings: { 'api.bin': file } });
  await api.send.waitForManifest(m);
  const ours = [];
  const cli = [];
  for (let run = 0; run < runs; run++) {
    const t = await api.send.createTransfer(destination, m, { destinationPath: `api-${run}` });
    const done = await api.send.waitForTransfer(t);
    if (done.status !== 'complete') throw new Error(`transfer ${done.status}: ${done.errorMessage}`);
    // From createTransfer to the receiver's confirmation, as the engine recorded them (µs),
    // like the CLI's own figure (from its session's start to the confirmation).
    ours.push((size * 8) / ((done.endTime - done.requestTime) / 1e6) / 1e9);
    rmSync(join(inbox, `api-${run}`), { recursive: true, force: true });
    cli.push((size * 8) / (await cliSend(file, receiver, sender, `cli-${run}`)) / 1e9);
    rmSync(join(inbox, `cli-${run}`), { recursive: true, force: true });
  }
  await api.close();
  child.kill();
  const figures = { bytes: size, apiGbps: ours, cliGbps: cli, ratio: median(ours) / median(cli) };
  report('API transfer vs CLI', figures);
  console.log(
    `one ${size}-byte file: API ${median(ours).toFixed(2)} Gbit/s, CLI ${median(cli).toFixed(2)} ` +
      `Gbit/s: the API at ${(figures.ratio * 100).toFixed(1)}% of the CLI`,
  );
}

try {
  if (cases.has('latency')) await latency();
  if (cases.has('manifest')) await manifest();
  if (cases.has('transfer')) await transfer();
} finally {
  rmSync(work, { recursive: true, force: true });
}
