#!/usr/bin/env node
// The jetstream demo: builds a file tree in a temporary directory, sends it over loopback from
// `jetstream send` to `jetstream receive --once` (which accepts that sender's key alone), and
// checks that every file (SHA-256, size, modification time to the second, exec bit) and every
// directory arrived. Both keys live in the temporary directory.
//
// Prints `verified <n> files, <bytes> bytes, <rate> Gbit/s` and exits 0, or prints every
// difference and exits 1. Plain Node, no dependencies. The binary is target/release/jetstream
// (built by `npm run build`); JETSTREAM_BIN names another one.
import { spawn } from 'node:child_process';
import { createCipheriv, createHash, randomBytes, randomInt } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, open, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const BINARY =
  process.env.JETSTREAM_BIN ?? fileURLToPath(new URL('../target/release/jetstream', import.meta.url));

const MIB = 1024 * 1024;
const BIG_FILE_BYTES = 256 * MIB;
const SMALL_FILES = 300;
const SMALL_FILE_MAX_BYTES = 16 * 1024;
const STARTUP_TIMEOUT_MS = 30_000;
const TRANSFER_TIMEOUT_MS = 10 * 60_000;
const RECEIVER_EXIT_TIMEOUT_MS = 30_000;
/** Base of the generated modification times: 2021-01-01T00:00:00Z, in seconds. */
const MTIME_BASE_SECONDS = 1_609_459_200;

/** Children still running, ended on every way out. */
const children = new Set();

/** A failure of the demo itself (not a difference in the received tree). */
class DemoError extends Error {}

// ---------------------------------------------------------------------------------------------
// The source tree. `expected` maps each path relative to the tree root to what must arrive:
// { kind: 'dir' } or { kind: 'file', size, sha256, mtimeSeconds, executable }.

/** Writes one file, sets its mode and a sub-second modification time, and records it. */
async function addFile(root, expected, path, contents, { executable = false } = {}) {
  const full = join(root, path);
  await writeFile(full, contents);
  await finishFile(root, expected, path, {
    size: contents.length,
    sha256: createHash('sha256').update(contents).digest('hex'),
    executable,
  });
  return full;
}

/** Sets mode and modification time of a written file and records what must arrive. */
async function finishFile(root, expected, path, { size, sha256, executable }) {
  const full = join(root, path);
  await chmod(full, executable ? 0o755 : 0o644);
  const mtime = MTIME_BASE_SECONDS + expected.size * 61 + randomInt(0, 1000) / 1000;
  await utimes(full, mtime, mtime);
  expected.set(path, { kind: 'file', size, sha256, mtimeSeconds: Math.floor(mtime), executable });
}

/** Creates a directory (and its parents) and records it and its parents. */
async function addDir(root, expected, path) {
  await mkdir(join(root, path), { recursive: true });
  for (let dir = path; dir !== '.'; dir = join(dir, '..')) {
    expected.set(dir, { kind: 'dir' });
  }
}

/** Writes `size` bytes of AES-128-CTR keystream (fast, incompressible) and returns its hash. */
async function writeBigFile(path, size) {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zeros = Buffer.alloc(8 * MIB);
  const hash = createHash('sha256');
  const file = await open(path, 'w');
  try {
    for (let written = 0; written < size; ) {
      const chunk = cipher.update(zeros.subarray(0, Math.min(zeros.length, size - written)));
      hash.update(chunk);
      await file.write(chunk);
      written += chunk.length;
    }
  } finally {
    await file.close();
  }
  return hash.digest('hex');
}

/** Builds the source tree under `root` and returns what must arrive. */
async function generateTree(root) {
  const expected = new Map();
  await mkdir(root);

  await addDir(root, expected, 'empty');
  await addDir(root, expected, join('nested', 'a', 'b', 'c'));
  await addDir(root, expected, join('nested', 'a', 'b', 'empty'));
  await addDir(root, expected, 'bin');

  await addFile(root, expected, 'empty-file', Buffer.alloc(0));
  await addFile(root, expected, join('nested', 'a', 'empty-file'), Buffer.alloc(0));
  await addFile(root, expected, 'one-byte', randomBytes(1));
  await addFile(root, expected, 'exactly-256-bytes', randomBytes(256));
  await addFile(root, expected, join('nested', 'a', 'b', 'c', 'deep.txt'), 'deep inside\n');
  await addFile(root, expected, join('bin', 'run.sh'), '#!/bin/sh\necho hello\n', {
    executable: true,
  });
  await addFile(root, expected, join('bin', 'tool'), randomBytes(4096), { executable: true });

  for (let i = 0; i < SMALL_FILES; i += 1) {
    const dir = join('many', `d${String(i % 12).padStart(2, '0')}`);
    if (!expected.has(dir)) {
      await addDir(root, expected, dir);
    }
    const name = join(dir, `f${String(i).padStart(3, '0')}.dat`);
    await addFile(root, expected, name, randomBytes(randomInt(0, SMALL_FILE_MAX_BYTES + 1)));
  }

  const big = 'big.bin';
  const sha256 = await writeBigFile(join(root, big), BIG_FILE_BYTES);
  await finishFile(root, expected, big, { size: BIG_FILE_BYTES, sha256, executable: false });
  return expected;
}

// ---------------------------------------------------------------------------------------------
// The two processes.

/** Starts the binary with `args`; stdout is read line by line, stderr is kept for errors. */
function start(args) {
  const child = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const run = {
    child,
    stderr: '',
    lines: createInterface({ input: child.stdout })[Symbol.asyncIterator](),
    exited: new Promise((resolve, reject) => {
      child.on('error', (error) => reject(new DemoError(`cannot run ${BINARY}: ${error.message}`)));
      child.on('exit', (code, signal) => {
        children.delete(child);
        resolve({ code, signal });
      });
    }),
  };
  // Marks a spawn failure as handled until someone awaits `exited` and sees it.
  run.exited.catch(() => {});
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text) => {
    run.stderr += text;
  });
  return run;
}

/** Resolves to `promise`'s value, or rejects with `message` after `ms` milliseconds. */
function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new DemoError(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Describes how a process ended, with its stderr. */
function describeExit(what, { code, signal }, stderr) {
  const how = signal === null ? `exit status ${code}` : `signal ${signal}`;
  const detail = stderr.trim();
  return `${what} ended with ${how}${detail === '' ? '' : `: ${detail}`}`;
}

/** Reads the receiver's `listening ADDR` and `public-key HEX` lines. */
async function readReceiverBanner(receiver) {
  const banner = {};
  while (banner.address === undefined || banner.publicKey === undefined) {
    const next = await Promise.race([
      receiver.lines.next(),
      receiver.exited.then((status) => {
        throw new DemoError(describeExit('the receiver', status, receiver.stderr));
      }),
    ]);
    if (next.done) {
      throw new DemoError('the receiver closed its output before printing its address and key');
    }
    const [word, value, ...rest] = next.value.trim().split(/\s+/);
    if (word === 'listening' && value !== undefined && rest.length === 0) {
      banner.address = value;
    } else if (word === 'public-key' && /^[0-9a-f]{64}$/i.test(value ?? '') && rest.length === 0) {
      banner.publicKey = value;
    } else {
      throw new DemoError(`unexpected line from the receiver: ${JSON.stringify(next.value)}`);
    }
  }
  return banner;
}

/** Keeps reading a process's remaining stdout, so a full pipe never blocks it. */
async function drain(run) {
  while (!(await run.lines.next()).done) {
    // Nothing after the banner is part of the contract.
  }
}

/** Reads every stdout line of the sender and returns the fields of its `complete` line. */
async function readSenderResult(sender) {
  let last;
  for (let next = await sender.lines.next(); !next.done; next = await sender.lines.next()) {
    if (next.value.trim() !== '') {
      last = next.value.trim();
    }
  }
  const status = await sender.exited;
  if (status.code !== 0) {
    throw new DemoError(describeExit('the sender', status, sender.stderr));
  }
  const complete = /^complete files=(\d+) bytes=(\d+) seconds=([0-9.eE+-]+) gbps=([0-9.eE+-]+)$/.exec(
    last ?? '',
  );
  if (complete === null) {
    throw new DemoError(`the sender's last line is not a complete line: ${JSON.stringify(last)}`);
  }
  return { files: Number(complete[1]), bytes: Number(complete[2]), gbps: complete[4] };
}

// ---------------------------------------------------------------------------------------------
// Verification.

/** SHA-256 of a file, streamed. */
function hashFile(path) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('error', reject)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Every path below `root` (relative), with its lstat. */
async function walk(root) {
  const found = new Map();
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop();
    for (const entry of await readdir(dir)) {
      const full = join(dir, entry);
      const stats = await lstat(full);
      found.set(relative(root, full), stats);
      if (stats.isDirectory()) {
        pending.push(full);
      }
    }
  }
  return found;
}

/** A Unix time in seconds, as an ISO 8601 UTC string. */
function isoSeconds(seconds) {
  return new Date(seconds * 1000).toISOString();
}

/** Compares the received tree with `expected`; returns the list of differences. */
async function verify(received, expected) {
  if (!existsSync(received)) {
    return [`${received} does not exist`];
  }
  const found = await walk(received);
  const differences = [];
  for (const [path, want] of [...expected].sort(([a], [b]) => a.localeCompare(b))) {
    const stats = found.get(path);
    if (stats === undefined) {
      differences.push(`${path}: missing`);
    } else if (want.kind === 'dir') {
      if (!stats.isDirectory()) {
        differences.push(`${path}: should be a directory`);
      }
    } else if (!stats.isFile()) {
      differences.push(`${path}: should be a regular file`);
    } else {
      if (stats.size !== want.size) {
        differences.push(`${path}: size ${stats.size}, expected ${want.size}`);
      } else {
        const sha256 = await hashFile(join(received, path));
        if (sha256 !== want.sha256) {
          differences.push(`${path}: SHA-256 ${sha256}, expected ${want.sha256}`);
        }
      }
      const mtimeSeconds = Math.floor(stats.mtimeMs / 1000);
      if (mtimeSeconds !== want.mtimeSeconds) {
        differences.push(
          `${path}: mtime ${isoSeconds(mtimeSeconds)}, expected ${isoSeconds(want.mtimeSeconds)}`,
        );
      }
      const executable = (stats.mode & 0o100) !== 0;
      if (executable !== want.executable) {
        differences.push(`${path}: exec bit ${executable ? 'set' : 'clear'}, expected the other`);
      }
    }
  }
  for (const path of [...found.keys()].sort()) {
    if (!expected.has(path)) {
      differences.push(`${path}: not in the source tree`);
    }
  }
  return differences;
}

// ---------------------------------------------------------------------------------------------

async function main(workDir) {
  if (!existsSync(BINARY)) {
    throw new DemoError(`${BINARY} is missing; build it with \`npm run build\``);
  }
  const source = join(workDir, 'source', 'demo-tree');
  const receiveRoot = join(workDir, 'received');
  await mkdir(join(workDir, 'source'));
  await mkdir(receiveRoot);

  const expected = await generateTree(source);
  const files = [...expected.values()].filter((entry) => entry.kind === 'file');
  const totalBytes = files.reduce((sum, file) => sum + file.size, 0);
  console.log(
    `generated ${files.length} files and ${expected.size - files.length} directories, ` +
      `${totalBytes} bytes, in ${source}`,
  );

  // The receiver accepts only the sender's key, which `jetstream key` prints (making the key).
  const senderKeyFile = join(workDir, 'sender.key');
  const keyRun = start(['key', '--key-file', senderKeyFile]);
  const senderKey = (await keyRun.lines.next()).value?.trim();
  const keyStatus = await keyRun.exited;
  if (keyStatus.code !== 0 || !/^[0-9a-f]{64}$/.test(senderKey ?? '')) {
    throw new DemoError(describeExit('jetstream key', keyStatus, keyRun.stderr));
  }
  const receiver = start([
    'receive',
    '--root',
    receiveRoot,
    '--listen',
    '127.0.0.1:0',
    '--once',
    '--key-file',
    join(workDir, 'receiver.key'),
    '--authorized-key',
    senderKey,
  ]);
  const { address, publicKey } = await withTimeout(
    readReceiverBanner(receiver),
    STARTUP_TIMEOUT_MS,
    'the receiver did not print its address and key in time',
  );
  console.log(`receiver listening on ${address}`);
  drain(receiver);

  const sender = start([
    'send',
    source,
    '--to',
    address,
    '--destination-key',
    publicKey,
    '--key-file',
    senderKeyFile,
    '--no-progress',
  ]);
  const result = await withTimeout(
    readSenderResult(sender),
    TRANSFER_TIMEOUT_MS,
    'the transfer did not finish in time',
  );
  const receiverStatus = await withTimeout(
    receiver.exited,
    RECEIVER_EXIT_TIMEOUT_MS,
    'the receiver (--once) did not exit after the transfer',
  );
  if (receiverStatus.code !== 0) {
    throw new DemoError(describeExit('the receiver', receiverStatus, receiver.stderr));
  }

  // A directory is sent with its name, like `cp -r`.
  const differences = await verify(join(receiveRoot, basename(source)), expected);
  if (differences.length > 0) {
    console.log(`${differences.length} differences:`);
    for (const difference of differences) {
      console.log(`  ${difference}`);
    }
    return 1;
  }
  console.log(`verified ${files.length} files, ${totalBytes} bytes, ${result.gbps} Gbit/s`);
  return 0;
}

/** Ends every child still running. */
function endChildren() {
  for (const child of children) {
    child.kill('SIGKILL');
  }
}

const workDir = await mkdtemp(join(tmpdir(), 'jetstream-demo-'));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    endChildren();
    rm(workDir, { recursive: true, force: true }).finally(() => process.exit(130));
  });
}
let status;
try {
  status = await main(workDir);
} catch (error) {
  console.log(`demo failed: ${error instanceof DemoError ? error.message : (error?.stack ?? error)}`);
  status = 1;
} finally {
  endChildren();
  await rm(workDir, { recursive: true, force: true });
}
process.exit(status);
