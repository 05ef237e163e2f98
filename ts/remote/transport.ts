/**
 * `RemoteTransport`: the {@link CommandTransport} of a client of a running `jetstream server`.
 * Each command is one `POST /api` over a kept-alive HTTP/1.1 connection; the answer's JSON is
 * the result, or the `{code, message}` of a `CommandError`.
 *
 * @module
 */

import { request, type Agent } from 'node:http';

import { CommandError, isErrorCode } from '../errors.js';
import type { CommandTransport } from '../api/transport.js';
import { closedError, connectionError, controlAgent, serverName } from './connection.js';
import type { RemoteSettings } from './options.js';
import { Session } from './session.js';

/** The one path commands are posted to. */
const API_PATH = '/api';

/**
 * The errors the server answered with, as opposed to those of the connection (a refused
 * certificate is `AUTH_FAILED` too, but the server never answered).
 */
const answered = new WeakSet<CommandError>();

/**
 * The result of an answer: its JSON when the status is 200, or else the `CommandError` its
 * body describes. The code is the body's, whatever the status says.
 */
function outcome(status: number | undefined, body: string, where: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new CommandError(
      'PROTOCOL',
      `the server at ${where} answered HTTP ${String(status)} with a body that is not JSON`,
      { cause: error },
    );
  }
  if (status === 200) {
    return value;
  }
  const { code, message } = (value ?? {}) as { code?: unknown; message?: unknown };
  if (isErrorCode(code) && typeof message === 'string') {
    const error = new CommandError(code, message);
    answered.add(error);
    throw error;
  }
  throw new CommandError(
    'PROTOCOL',
    `the server at ${where} answered HTTP ${String(status)} without an error code`,
  );
}

/** Runs commands on a server over its control port. */
export class RemoteTransport implements CommandTransport {
  readonly #settings: RemoteSettings;
  readonly #agent: Agent;
  readonly #session: Session;
  readonly #where: string;
  #closed = false;

  /** @param settings the server, how it is trusted and who calls (see `remoteSettings`) */
  constructor(settings: RemoteSettings) {
    this.#settings = settings;
    this.#agent = controlAgent(settings);
    this.#where = serverName(settings);
    this.#session = new Session(settings.credentials, (method, params, bearer) =>
      this.#post(method, params, bearer),
    );
  }

  /**
   * Runs `method` on the server. Fails with `UNAVAILABLE` when the server cannot be reached or
   * drops the connection (the next command connects again), `AUTH_FAILED` when its
   * certificate or the credentials are refused, and with the server's code otherwise.
   */
  execute(method: string, params: Record<string, unknown>): Promise<unknown> {
    if (this.#closed) {
      return Promise.reject(closedError(this.#settings));
    }
    return this.#session.run(method, params);
  }

  /**
   * Resolves once the server answers `getServerInfo`. Without credentials, its refusal for
   * want of a login is an answer too: the caller logs in next.
   */
  async reach(): Promise<void> {
    try {
      await this.execute('getServerInfo', {});
    } catch (error) {
      const wantsLogin =
        error instanceof CommandError &&
        answered.has(error) &&
        error.code === 'AUTH_FAILED' &&
        this.#session.anonymous;
      if (!wantsLogin) {
        throw error;
      }
    }
  }

  /** Closes every connection; a command still waiting fails with `UNAVAILABLE`. */
  close(): void {
    this.#closed = true;
    this.#agent.destroy();
  }

  /** Posts one command and reads its answer. No timeout: a wait ends when the server says. */
  #post(
    method: string,
    params: Record<string, unknown>,
    bearer: string | undefined,
  ): Promise<unknown> {
    const body = JSON.stringify({ method, params });
    // Name, value, name, value: Node writes a list as it is, sparing the checks of an object.
    const headers = [
      'content-type',
      'application/json',
      'content-length',
      String(Buffer.byteLength(body)),
    ];
    if (bearer !== undefined) {
      headers.push('authorization', `Bearer ${bearer}`);
    }
    return new Promise((resolve, reject) => {
      const fail = (error: unknown): void =>
        reject(this.#closed ? closedError(this.#settings) : connectionError(error, this.#settings));
      const req = request(
        {
          agent: this.#agent,
          host: this.#settings.host,
          port: this.#settings.port,
          method: 'POST',
          path: API_PATH,
          headers,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', fail);
          res.on('end', () => {
            try {
              resolve(outcome(res.statusCode, Buffer.concat(chunks).toString('utf8'), this.#where));
            } catch (error) {
              reject(error);
            }
          });
        },
      );
      req.on('error', fail);
      req.end(body);
    });
  }
}
