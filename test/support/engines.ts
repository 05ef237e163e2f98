/**
 * Test support: engines in temporary directories, trees of files to send, and SHA-256 digests
 * of what landed. Every engine made here is closed by `closeAll()`.
 *
 * The suites run in one of two modes, from `JETSTREAM_TEST_MODE`: `embedded` (the default:
 * engines inside this process) or `remote` (each engine a `jetstream server` child process,
 * reached through `JetStream.connect`). The same tests assert the same outcomes in both.
 */

import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

import { JetStream, jsonTransport, type CommandTransport, type EmbeddedOptions } from '../../ts/index.js';
import { binding } from '../../ts/native.js';
import { remoteSettings } from '../../ts/remote/options.js';
import { RemoteTransport } from '../../ts/remote/transport.js';
import { addUser, serverFlags, startServer, type Login, type ServerProcess } from './servers.js';

/** How the suites reach their engines. */
export type TestMode = 'embedded' | 'remote';

/** This run's mode, from `JETSTREAM_TEST_MODE`. */
export const mode: TestMode = (() => {
  const value = process.env.JETSTREAM_TEST_MODE ?? 'embedded';
  if (value !== 'embedded' && value !== 'remote') {
    throw new Error(`JETSTREAM_TEST_MODE is ${value}: embedded or remote`);
  }
  return value;
})();

/**
 * Whether the tests that measure sending rates over seconds run in this mode. What they assert
 * (how the engine paces and shares a cap) happens in the engine whichever transport asked for
 * the transfers, so they run once, in the embedded mode, which keeps the remote mode short.
 */
export const measuresRates = mode === 'embedded';

/** What `closeAll()` ends: engines, clients and servers. */
const closers: (() => Promise<unknown>)[] = [];
const dirs: string[] = [];
/** The server behind each remote engine. */
const servers = new WeakMap<JetStream, ServerProcess>();

/** A new temporary directory, removed by `closeAll()`. */
export function tempDir(prefix = 'jetstream-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** The user of every server started here (unless with `--api-no-auth`), and its password. */
export const TEST_LOGIN: Login = { userName: 'tester', password: randomBytes(12).toString('hex') };

/** The state directories whose server has `TEST_LOGIN` as a user already. */
const withLogin = new Set<string>();

/**
 * A `jetstream server` run as an embedded engine opened with `options` would be, its API on
 * `apiPort` (0: a free one), with `extra` flags; stopped by `closeAll()`. Its clients log in
 * as `TEST_LOGIN`, as a server requires by default.
 */
export async function serverProcess(
  options: EmbeddedOptions = {},
  apiPort = 0,
  extra: string[] = [],
): Promise<ServerProcess> {
  const stateDir = options.stateDir ?? tempDir('jetstream-state-');
  const login = extra.includes('--api-no-auth') ? undefined : TEST_LOGIN;
  if (login !== undefined && !withLogin.has(stateDir)) {
    await addUser(stateDir, login);
    withLogin.add(stateDir);
  }
  const flags = serverFlags({ ...options, stateDir }, apiPort);
  const started = await startServer([...flags, ...extra], login);
  closers.push(() => started.stop());
  return started;
}

/**
 * An engine in a new state directory (unless given one): embedded, or in remote mode a server
 * started with the same settings and a client connected to it. Closing a remote engine stops
 * its server too, as closing an embedded one stops the engine.
 */
export async function engine(options: EmbeddedOptions = {}): Promise<JetStream> {
  if (mode === 'embedded') {
    const api = await JetStream.embedded({ stateDir: tempDir('jetstream-state-'), ...options });
    closers.push(() => api.close());
    return api;
  }
  const started = await serverProcess(options);
  const api = await JetStream.connect(started.host, started.port, started.clientOptions);
  const disconnect = api.close.bind(api);
  api.close = async () => {
    await disconnect();
    await started.stop();
  };
  closers.push(() => api.close());
  servers.set(api, started);
  return api;
}

/** The server process behind a remote engine (remote mode only). */
export function serverOf(api: JetStream): ServerProcess {
  const started = servers.get(api);
  if (started === undefined) {
    throw new Error('not an engine made by engine() in remote mode');
  }
  return started;
}

/**
 * The raw transport of a new engine: commands go to it as they are, without the interface
 * classes (the native addon's `execute`, or the remote client's transport).
 */
export async function engineTransport(options: EmbeddedOptions = {}): Promise<CommandTransport> {
  if (mode === 'embedded') {
    const native = await binding().openEngine(JSON.stringify({ stateDir: tempDir(), ...options }));
    closers.push(() => native.close());
    return jsonTransport((request) => native.execute(request));
  }
  const started = await serverProcess(options);
  const transport = new RemoteTransport(remoteSettings(started.host, started.port, started.clientOptions));
  closers.push(async () => transport.close());
  return transport;
}

/** Closes every engine and removes every directory made here. */
export async function closeAll(): Promise<void> {
  await Promise.all(closers.splice(0).map((close) => close()));
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
    throw new Error('an engine made here always has a sandbox directory');
  }
  return { sender, receiver, destinationId: destination.destinationId, sandbox: info.sandboxDir };
}
