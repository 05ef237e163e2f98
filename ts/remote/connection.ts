/**
 * Connections to a server's control port: the keep-alive agent that opens them (plain TCP or
 * TLS), the trust check every TLS connection passes before a byte of a request is written on
 * it, and the `CommandError` a failed connection becomes.
 *
 * @module
 */

import { Agent, type ClientRequestArgs } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { checkServerIdentity, connect as tlsConnect, type TLSSocket } from 'node:tls';

import { CommandError } from '../errors.js';
import { normaliseFingerprint, type RemoteSettings, type Trust } from './options.js';

/** Socket error codes that mean the server cannot be reached (or went away). */
const UNREACHABLE: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** `host:port` as a message names the server. */
export function serverName(settings: RemoteSettings): string {
  const { host, port } = settings;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The error of a command made through a closed client. */
export function closedError(settings: RemoteSettings): CommandError {
  return new CommandError('UNAVAILABLE', `the client of ${serverName(settings)} is closed`);
}

/**
 * The `CommandError` of a failed exchange with the server: `UNAVAILABLE` when it cannot be
 * reached or dropped the connection, `PROTOCOL` when what it said is not HTTP (or not TLS).
 * A `CommandError` (a refused certificate, a connect timeout) is returned unchanged.
 */
export function connectionError(error: unknown, settings: RemoteSettings): CommandError {
  if (error instanceof CommandError) {
    return error;
  }
  // OpenSSL's messages end with a line break.
  const message = (error instanceof Error ? error.message : String(error)).trim();
  const code: unknown = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  const where = serverName(settings);
  if (typeof code === 'string' && UNREACHABLE.has(code)) {
    return new CommandError('UNAVAILABLE', `the server at ${where} cannot be reached: ${message}`, {
      cause: error,
    });
  }
  const hint =
    settings.trust.kind === 'plain'
      ? ' (a server that serves TLS needs tls left on)'
      : ' (a server started with --api-plain needs tls: false)';
  return new CommandError(
    'PROTOCOL',
    `the server at ${where} did not answer as a control port${hint}: ${message}`,
    { cause: error },
  );
}

/**
 * Why the certificate of a TLS connection is not trusted, or `undefined` when it is: it must be
 * the pinned one, or else chain to the given CA (or the system's roots) and name the host.
 */
function distrust(socket: TLSSocket, trust: Trust, host: string): string | undefined {
  const certificate = socket.getPeerCertificate();
  if (trust.kind === 'fingerprint') {
    const seen = normaliseFingerprint(certificate.fingerprint256 ?? '');
    return seen === trust.fingerprint
      ? undefined
      : `its certificate sha256:${seen} is not the pinned sha256:${trust.fingerprint}`;
  }
  if (!socket.authorized) {
    return `its certificate is not trusted: ${String(socket.authorizationError)}`;
  }
  const mismatch = checkServerIdentity(host, certificate);
  return mismatch === undefined
    ? undefined
    : `its certificate is not for ${host}: ${mismatch.message}`;
}

/**
 * Opens one connection and hands it to `done` once it can carry requests: connected, and for
 * TLS with the handshake done and the certificate trusted. Until then nothing is written, so a
 * request (and its bearer token) never reaches a server that is not trusted.
 */
function open(
  settings: RemoteSettings,
  done: (error: Error | null, socket?: Socket) => void,
): void {
  const { host, port, trust } = settings;
  const socket: Socket =
    trust.kind === 'plain'
      ? netConnect({ host, port })
      : tlsConnect({
          host,
          port,
          ALPNProtocols: ['http/1.1'],
          // Verified below, before the socket is used: the pin replaces the chain check.
          rejectUnauthorized: false,
          ...(trust.kind === 'ca' ? { ca: trust.ca } : {}),
        });
  const fail = (error: Error): void => {
    clearTimeout(timer);
    socket.destroy();
    done(error);
  };
  const timer = setTimeout(() => {
    fail(
      new CommandError(
        'TIMED_OUT',
        `no connection to the server at ${serverName(settings)} ` +
          `within ${settings.connectTimeoutMs / 1000} s`,
      ),
    );
  }, settings.connectTimeoutMs);
  socket.once('error', fail);
  socket.once(trust.kind === 'plain' ? 'connect' : 'secureConnect', () => {
    clearTimeout(timer);
    socket.removeListener('error', fail);
    const refused = trust.kind === 'plain' ? undefined : distrust(socket as TLSSocket, trust, host);
    if (refused !== undefined) {
      socket.destroy();
      const where = serverName(settings);
      done(new CommandError('AUTH_FAILED', `the server at ${where} is refused: ${refused}`));
      return;
    }
    socket.setNoDelay(true);
    done(null, socket);
  });
}

/**
 * How long a connection may stay idle in the pool. The server closes a connection on which no
 * request starts within its header timeout (10 s); dropping idle ones well before keeps a
 * command from going out on a connection the server is closing at that moment. It applies to
 * idle connections only: a command in progress waits as long as it takes.
 */
const IDLE_MS = 5_000;

/** A keep-alive agent whose connections all go to one server, opened by {@link open}. */
class ControlAgent extends Agent {
  readonly #settings: RemoteSettings;
  #destroyed = false;

  constructor(settings: RemoteSettings) {
    super({ keepAlive: true, timeout: IDLE_MS });
    this.#settings = settings;
  }

  override createConnection(
    _options: ClientRequestArgs,
    callback?: (error: Error | null, stream: Duplex) => void,
  ): undefined {
    open(this.#settings, (error, socket) => {
      // A connection that opens after destroy() would otherwise carry its request after all.
      if (error === null && this.#destroyed) {
        socket?.destroy();
        callback?.(closedError(this.#settings), socket as Duplex);
        return;
      }
      callback?.(error, socket as Duplex);
    });
    return undefined;
  }

  override destroy(): void {
    this.#destroyed = true;
    super.destroy();
  }
}

/**
 * The agent of one client: it keeps idle connections open for the next command, and opens a
 * new one when none is free (the first command, concurrent commands, or after the server
 * dropped one). `destroy()` closes them all.
 */
export function controlAgent(settings: RemoteSettings): Agent {
  return new ControlAgent(settings);
}
