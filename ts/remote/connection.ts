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
  return settings.host.includes(':') ? `[${settings.host}]:${settings.port}` : `${settings.host}:${settings.port}`;
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
  const message = error instanceof Error ? error.message : String(error);
  const code: unknown = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  const where = serverName(settings);
  if (typeof code === 'string' && UNREACHABLE.has(code)) {
    return new CommandError('UNAVAILABLE', `the server at ${where} cannot be reached: ${message}`, {
      cause: error,
    });
  }
  const hint =
    settings.trust.kind === 'plain' ? '' : ' (a server started with --api-plain needs tls: false)';
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
  return mismatch === undefined ? undefined : `its certificate is not for ${host}: ${mismatch.message}`;
}

/**
 * Opens one connection and hands it to `done` once it can carry requests: connected, and for
 * TLS with the handshake done and the certificate trusted. Until then nothing is written, so a
 * request (and its bearer token) never reaches a server that is not trusted.
 */
function open(settings: RemoteSettings, done: (error: Error | null, socket?: Socket) => void): void {
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
        'UNAVAILABLE',
        `no connection to the server at ${serverName(settings)} within ${settings.connectTimeoutMs / 1000} s`,
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
      done(new CommandError('AUTH_FAILED', `the server at ${serverName(settings)} is refused: ${refused}`));
      return;
    }
    socket.setNoDelay(true);
    done(null, socket);
  });
}

/** A keep-alive agent whose connections all go to one server, opened by {@link open}. */
class ControlAgent extends Agent {
  readonly #settings: RemoteSettings;
  #destroyed = false;

  constructor(settings: RemoteSettings) {
    super({ keepAlive: true });
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
        callback?.(new CommandError('UNAVAILABLE', `the client of ${serverName(this.#settings)} is closed`), socket as Duplex);
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
