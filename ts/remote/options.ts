/**
 * The options of a client of a running `jetstream server` ({@link RemoteOptions}), and their
 * checking into the settings the connection and the session use.
 *
 * @module
 */

import { DEFAULT_TIMEOUT_SECONDS } from '../constants.js';
import { CommandError } from '../errors.js';

/** How a client reaches and trusts a `jetstream server`, and on whose behalf it calls. */
export interface RemoteOptions {
  /**
   * Speak TLS to the control port. Default: `true`. `false` is for a server started with
   * `--api-plain` (loopback only); `fingerprint` and `ca` then have no meaning and are refused.
   */
  tls?: boolean;
  /**
   * Pins the server's certificate: `'sha256:HEX'`, the SHA-256 of its DER encoding as the
   * server prints it (`api-fingerprint sha256:...`). Colons between the hex pairs and upper
   * case are accepted. Any other certificate is refused, whoever signed it; neither names nor
   * dates are checked, since the pin identifies the one certificate trusted.
   * Default: none (the certificate is verified against `ca` or the system's roots).
   */
  fingerprint?: string;
  /**
   * The certificate authorities to verify the server's certificate against instead of the
   * system's roots: PEM text (the content of the file, not its path), or its bytes. The
   * certificate must also name the host connected to.
   */
  ca?: string | Buffer;
  /**
   * The user to authenticate as, with `password`: the client calls `auth` before its first
   * command and again, once, when the server says the session has expired.
   */
  userName?: string;
  /** The password of `userName`. */
  password?: string;
  /** An API token (from `createAPIToken`) sent with every command, instead of a user. */
  token?: string;
  /**
   * How long opening a connection (TCP and TLS handshake) may take before the call fails with
   * `TIMED_OUT`. Once connected, a command takes as long as it takes: waits such as
   * `waitForTransfer` are never cut short by the client. Default: `DEFAULT_TIMEOUT_SECONDS` (10).
   */
  connectTimeoutSeconds?: number;
}

/** How the server's certificate is trusted. */
export type Trust =
  | { kind: 'plain' }
  | { kind: 'fingerprint'; fingerprint: string }
  | { kind: 'ca'; ca: string | Buffer }
  | { kind: 'system' };

/** Who the client calls as. */
export type Credentials =
  | { kind: 'none' }
  | { kind: 'token'; token: string }
  | { kind: 'user'; userName: string; password: string };

/** Checked options: where the server is, how it is trusted and who calls. */
export interface RemoteSettings {
  host: string;
  port: number;
  trust: Trust;
  credentials: Credentials;
  connectTimeoutMs: number;
}

const KNOWN: ReadonlySet<string> = new Set([
  'tls',
  'fingerprint',
  'ca',
  'userName',
  'password',
  'token',
  'connectTimeoutSeconds',
]);

/** `sha256:` and 32 hex pairs, optionally separated by colons. */
const FINGERPRINT = /^sha256:([0-9a-f]{2}:?){31}[0-9a-f]{2}$/i;

/** The `INVALID_ARGUMENT` error of a bad option. */
function invalid(message: string): CommandError {
  return new CommandError('INVALID_ARGUMENT', `JetStream.api: ${message}`);
}

/**
 * A certificate fingerprint in the one form compared: lower-case hex without separators.
 * Node reports `fingerprint256` as upper-case pairs joined by colons; the server prints
 * `sha256:` and lower-case hex.
 */
export function normaliseFingerprint(value: string): string {
  return value.replace(/^sha256:/i, '').replaceAll(':', '').toLowerCase();
}

/** Refuses `options[key]` unless it is absent or a non-empty string. */
function checkString(options: RemoteOptions, key: 'userName' | 'password' | 'token'): void {
  const value = options[key];
  if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
    throw invalid(`${key} must be a non-empty string`);
  }
}

/** How the server's certificate is trusted, from `tls`, `fingerprint` and `ca`. */
function trustOf(options: RemoteOptions): Trust {
  const { tls = true, fingerprint, ca } = options;
  if (typeof tls !== 'boolean') {
    throw invalid('tls must be a boolean');
  }
  if (!tls) {
    if (fingerprint !== undefined || ca !== undefined) {
      throw invalid('fingerprint and ca need tls; give them without tls: false');
    }
    return { kind: 'plain' };
  }
  if (fingerprint !== undefined && ca !== undefined) {
    throw invalid('give fingerprint or ca, not both');
  }
  if (fingerprint !== undefined) {
    if (typeof fingerprint !== 'string' || !FINGERPRINT.test(fingerprint)) {
      const given = JSON.stringify(fingerprint);
      throw invalid(`fingerprint must be 'sha256:' and 64 hex digits, not ${given}`);
    }
    return { kind: 'fingerprint', fingerprint: normaliseFingerprint(fingerprint) };
  }
  if (ca !== undefined) {
    const text = Buffer.isBuffer(ca) ? ca.toString('latin1') : ca;
    if (typeof text !== 'string' || !text.includes('-----BEGIN CERTIFICATE-----')) {
      throw invalid(
        'ca must be PEM text holding at least one certificate (the content of the file, not its path)',
      );
    }
    return { kind: 'ca', ca };
  }
  return { kind: 'system' };
}

/** Who calls, from `token`, `userName` and `password`. */
function credentialsOf(options: RemoteOptions): Credentials {
  checkString(options, 'userName');
  checkString(options, 'password');
  checkString(options, 'token');
  const { userName, password, token } = options;
  if (token !== undefined) {
    if (userName !== undefined || password !== undefined) {
      throw invalid('give token or userName and password, not both');
    }
    return { kind: 'token', token };
  }
  if ((userName === undefined) !== (password === undefined)) {
    throw invalid('userName and password go together');
  }
  return userName !== undefined && password !== undefined
    ? { kind: 'user', userName, password }
    : { kind: 'none' };
}

/**
 * Checks the address and options of a client.
 *
 * @throws CommandError `INVALID_ARGUMENT` naming the option: an unknown one, a wrong type, a
 *   port out of range, a malformed fingerprint or CA, or options that contradict each other.
 */
export function remoteSettings(host: string, port: number, options: RemoteOptions): RemoteSettings {
  if (typeof options !== 'object' || options === null) {
    throw invalid('options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) {
      throw invalid(`unknown option ${key}`);
    }
  }
  if (typeof host !== 'string' || host.length === 0) {
    throw invalid('host must be a non-empty string');
  }
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw invalid(`port must be an integer from 1 to 65535, not ${String(port)}`);
  }
  const { connectTimeoutSeconds = DEFAULT_TIMEOUT_SECONDS } = options;
  if (
    typeof connectTimeoutSeconds !== 'number' ||
    !Number.isFinite(connectTimeoutSeconds) ||
    connectTimeoutSeconds <= 0
  ) {
    throw invalid('connectTimeoutSeconds must be a positive number');
  }
  return {
    host,
    port,
    trust: trustOf(options),
    credentials: credentialsOf(options),
    connectTimeoutMs: connectTimeoutSeconds * 1000,
  };
}
