/**
 * Test support: embedded engines in temporary directories, trees of files to send, and
 * SHA-256 digests of what landed. Every engine made here is closed by `closeAll()`.
 */

import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

import { JetStream, type EmbeddedOptions } from '../../ts/index.js';

const open: JetStream[] = [];
const dirs: string[] = [];

/** A new temporary directory, removed by `closeAll()`. */
export function tempDir(prefix = 'jetstream-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** An embedded engine in a new state directory (unless given one). */
export async function engine(options: EmbeddedOptions = {}): Promise<JetStream> {
  const api = await JetStream.embedded({ stateDir: tempDir('jetstream-state-'), ...options });
  open.push(api);
  return api;
}

/** Closes every engine and removes every directory made here. */
export async function closeAll(): Promise<void> {
  await Promise.all(open.splice(0).map((api) => api.close()));
  for (const dir of dirs.splice(0)) {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Bytes that differ from file to file: `size` bytes derived from `seed`. */
export function bytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Writes `files` (relative path → content or size) below `root`; returns `root`. */
export function tree(root: string, files: Record<string, Buffer | number>): string {
  let seed = 1;
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, path);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, typeof content === 'number' ? bytes(content, seed++) : content);
  }
  return root;
}

/** SHA-256 of every file below `root`, by relative path. */
export function digests(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        visit(path);
      } else {
        out[relative(root, path)] = createHash('sha256').update(readFileSync(path)).digest('hex');
      }
    }
  };
  visit(root);
  return out;
}

/** Makes `receiver` accept transfers from `sender`: a receiver accepts only the senders it knows. */
export async function authorize(receiver: JetStream, sender: JetStream): Promise<void> {
  const { publicKey } = await sender.server.getServerInfo();
  await receiver.server.getRequestResult(await receiver.recv.addAuthorizedClientAsync(publicKey));
}

/**
 * A sender engine (made with `senderOptions`), a receiver engine (made with `receiverOptions`)
 * that authorizes the sender, and a destination on the sender pointing at it.
 */
export async function pair(
  senderOptions: EmbeddedOptions = {},
  receiverOptions: EmbeddedOptions = {},
): Promise<{
  sender: JetStream;
  receiver: JetStream;
  destinationId: string;
  sandbox: string;
}> {
  const sender = await engine(senderOptions);
  const receiver = await engine(receiverOptions);
  await authorize(receiver, sender);
  const info = await receiver.server.getServerInfo();
  const destination = await sender.send.createDestination('127.0.0.1', {
    destinationPort: info.recvPort,
  });
  if (info.sandboxDir === null) {
    throw new Error('an embedded engine always has a sandbox directory');
  }
  return { sender, receiver, destinationId: destination.destinationId, sandbox: info.sandboxDir };
}
