/**
 * Test support: `jetstream server` child processes (the release binary), started on free ports
 * with the options of an embedded engine mapped to the server's flags, and the addresses and
 * certificate fingerprint each one prints before it serves.
 */

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { constants, type EmbeddedOptions, type RemoteOptions } from '../../ts/index.js';

/** The binary `npm run build:cli` makes. */
export const JETSTREAM_BIN = fileURLToPath(new URL('../../target/release/jetstream', import.meta.url));

/** The `--min-cipher` name of each `MIN_CIPHER_*` level. */
const CIPHER_NAMES: ReadonlyMap<number, string> = new Map([
  [constants.MIN_CIPHER_NONE, 'none'],
  [constants.MIN_CIPHER_UNENCRYPTED, 'auth'],
  [constants.MIN_CIPHER_ENCRYPTED_128, 'aes128'],
  [constants.MIN_CIPHER_ENCRYPTED_256, 'aes256'],
]);

/**
 * The `--max-overwrite` level of each `OVERWRITE_*` mode, as the engine orders them (the in-place
 * modes that replace are one level; the one that never replaces is `never`).
 */
const OVERWRITE_NAMES: ReadonlyMap<number, string> = new Map([
  [constants.OVERWRITE_IN_PLACE_NEVER, 'never'],
  [constants.OVERWRITE_IN_PLACE_ALWAYS, 'in-place'],
  [constants.OVERWRITE_IN_PLACE_SAME_SIZE, 'in-place'],
  [constants.OVERWRITE_NEVER, 'never'],
  [constants.OVERWRITE_ALWAYS, 'always'],
  [constants.OVERWRITE_BACKUP, 'backup'],
]);

/**
 * How the API of every server started here is secured: TLS with the server's self-signed
 * certificate, which clients pin by the fingerprint it prints, as the server runs by default.
 */
const SECURITY_FLAGS: string[] = [];

/** The name `names` gives `value`, or an error naming the option that has none. */
function named(names: ReadonlyMap<number, string>, option: string, value: number): string {
  const name = names.get(value);
  if (name === undefined) {
    throw new Error(`${option} ${value} has no flag value of jetstream server`);
  }
  return name;
}

/**
 * The flags of a server run like an embedded engine opened with `options` (a loopback receive
 * address and a free port unless given), its API on `apiPort` of the loopback address.
 */
export function serverFlags(options: EmbeddedOptions & { stateDir: string }, apiPort = 0): string[] {
  const flags = [
    '--state-dir',
    options.stateDir,
    '--recv-host',
    options.recvAddress ?? '127.0.0.1',
    '--recv-port',
    String(options.recvPort ?? 0),
    '--api-host',
    '127.0.0.1',
    '--api-port',
    String(apiPort),
  ];
  if (options.sandboxDir !== undefined) {
    flags.push('--sandbox', options.sandboxDir);
  }
  if (options.minCipher !== undefined) {
    flags.push('--min-cipher', named(CIPHER_NAMES, 'minCipher', options.minCipher));
  }
  if (options.maxOverwriteMode !== undefined) {
    flags.push('--max-overwrite', named(OVERWRITE_NAMES, 'maxOverwriteMode', options.maxOverwriteMode));
  }
  if (options.transferLogDir !== undefined) {
    throw new Error('jetstream server has no flag for transferLogDir');
  }
  return [...flags, ...SECURITY_FLAGS];
}

/** A started server: what it printed, and how to end it. */
export interface ServerProcess {
  /** The API's host and port, from `api-listening URL`. */
  host: string;
  port: number;
  /** Whether the API speaks TLS (`https://`). */
  tls: boolean;
  /** `sha256:HEX` from `api-fingerprint`, for a TLS API. */
  fingerprint: string | undefined;
  /** The UDP receive port, from `recv-listening ADDR`. */
  recvPort: number;
  /** The remote client's options that reach and trust this server. */
  clientOptions: RemoteOptions;
  /** SIGTERM, and the exit code once it exited. */
  stop(): Promise<number | null>;
  /** SIGKILL, resolved once it is gone. */
  kill(): Promise<void>;
}

/** A user of a server, and the password it logs in with. */
export interface Login {
  userName: string;
  password: string;
}

/** Adds `login` as a user of the server whose state is in `stateDir` (`jetstream user add`). */
export async function addUser(stateDir: string, login: Login): Promise<void> {
  await promisify(execFile)(JETSTREAM_BIN, ['user', 'add', '--state-dir', stateDir, login.userName], {
    env: { ...process.env, JETSTREAM_PASSWORD: login.password },
  });
}

/** The lines a server prints before it serves, by their first word. */
const READY_KEYS = ['api-listening', 'recv-listening', 'public-key'];

/** Sends `signal` to `child` unless it already exited; resolves with its exit code. */
function end(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve(child.exitCode);
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  return exited;
}

/**
 * Starts `jetstream server` with `flags` and resolves once it printed its addresses; rejects
 * with its stderr if it exits first. Its clients log in as `login`, if given.
 */
export async function startServer(flags: string[], login?: Login): Promise<ServerProcess> {
  if (!existsSync(JETSTREAM_BIN)) {
    throw new Error(`${JETSTREAM_BIN} is missing: run \`npm run build:cli\``);
  }
  const child = spawn(JETSTREAM_BIN, ['server', ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const printed = new Map<string, string>();
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) =>
      reject(new Error(`jetstream server ${flags.join(' ')} exited (${code ?? signal}) before serving: ${stderr}`)),
    ),
  );
  // Read to the end, so that nothing the server prints later can fill the pipe and stall it.
  const ready = new Promise<void>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const space = line.indexOf(' ');
      if (space > 0) {
        printed.set(line.slice(0, space), line.slice(space + 1).trim());
      }
      if (READY_KEYS.every((key) => printed.has(key))) {
        resolve();
      }
    });
  });
  await Promise.race([ready, exited]);
  exited.catch(() => undefined);
  const api = new URL(printed.get('api-listening')!);
  const tls = api.protocol === 'https:';
  const fingerprint = printed.get('api-fingerprint');
  const recv = printed.get('recv-listening')!;
  return {
    host: api.hostname,
    port: Number(api.port),
    tls,
    fingerprint,
    recvPort: Number(recv.slice(recv.lastIndexOf(':') + 1)),
    clientOptions: { ...(tls ? { fingerprint: fingerprint! } : { tls: false }), ...login },
    stop: () => end(child, 'SIGTERM'),
    kill: async () => {
      await end(child, 'SIGKILL');
    },
  };
}
