/**
 * `JetStream`: the entry point that hands out an engine's three interfaces.
 * `JetStream.embedded()` runs the engine inside this process through the native addon;
 * `JetStream.api()` and `JetStream.connect()` reach a running `jetstream server` over its
 * control port. Either way the interfaces are the same classes over a `CommandTransport`.
 *
 * @module
 */

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  RecvInterface,
  SendInterface,
  ServerInterface,
  jsonTransport,
  type CommandTransport,
} from './api/index.js';
import { DEFAULT_API_PORT } from './constants.js';
import { CommandError, toCommandError } from './errors.js';
import { binding } from './native.js';
import { remoteSettings, type RemoteOptions } from './remote/options.js';
import { RemoteTransport } from './remote/transport.js';

/** Where an embedded engine keeps its state and receives transfers. */
export interface EmbeddedOptions {
  /**
   * The object store, the identity key and the transfer logs. Reopening the same directory
   * finds every object again. Default: a new temporary directory.
   */
  stateDir?: string;
  /** The receiver's root: nothing received is written outside it. Default: `stateDir/received`. */
  sandboxDir?: string;
  /** The IP address transfers arrive at. Default: `127.0.0.1`. */
  recvAddress?: string;
  /** The UDP port transfers arrive at; 0 picks a free one. Default: 0. */
  recvPort?: number;
  /** The lowest `MIN_CIPHER_*` level the receiver accepts. Default: `MIN_CIPHER_ENCRYPTED_128`. */
  minCipher?: number;
  /**
   * The most destructive `OVERWRITE_*` mode a sender may ask of the receiver; every mode that
   * destroys no more existing data is allowed too (never, then backup, then always, then the
   * in-place modes that replace). A transfer asking for more fails with `PERMISSION_DENIED`.
   * Default: `OVERWRITE_NEVER` (an existing file is never replaced).
   */
  maxOverwriteMode?: number;
  /**
   * Where transfers created with `transferLog: true` write their log (`transfer-ID.log`).
   * Default: `stateDir/transfer-logs`.
   */
  transferLogDir?: string;
  /** The identity key file (made if missing). Default: `stateDir/identity.pk8`. */
  identityFile?: string;
  /**
   * The receivers this engine sent to and the keys they proved: the first contact with a
   * receiver records its key, and a receiver presenting another is refused.
   * Default: `stateDir/known_receivers`.
   */
  knownReceiversFile?: string;
  /**
   * `false`: no known receivers are kept, and a receiver's key is checked only when its
   * destination pins one. Default: `true`.
   */
  knownReceivers?: boolean;
  /** `false`: the engine only sends (no receiver, no UDP port). Default: `true`. */
  receive?: boolean;
  /**
   * Whether the receiver refuses senders whose keys are not authorized, set at open.
   * Default: as the state directory keeps it (a new one: only authorized senders).
   */
  onlyAuthorizedClients?: boolean;
  /** Sender keys (hex) authorized at open, before the receiver starts. */
  authorizedClients?: string[];
  /**
   * A file of sender keys the receiver accepts too (one key a line, then an optional comment),
   * read again whenever it changes.
   */
  authorizedKeysFile?: string;
  /** Seconds a sender may stay silent before its session at the receiver fails. Default: 30. */
  recvIdleTimeoutSeconds?: number;
  /** The receiver writes nothing: every transfer is received, verified and dropped. */
  recvDiscard?: boolean;
  /**
   * Seconds a part file no session writes keeps its durable data for its sender's next
   * session, from its last durable write; older ones are removed. 0 keeps them until their
   * transfer ends them. Default: 86400 (24 h).
   */
  partFileMaxAgeSeconds?: number;
  /** `false`: files sent are not checked against digests at the receiver. Default: `true`. */
  verify?: boolean;
  /** The largest IP packet sent (at least 1228). Default: probe up to what the route allows. */
  mtu?: number;
}

/** The error of a command to a closed `JetStream`. */
function closed(): CommandError {
  return new CommandError('UNAVAILABLE', 'the engine is closed');
}

/** The native engine handle, as the facade uses it. */
interface NativeEngine {
  read(request: string): string | null;
  execute(request: string): Promise<string>;
  close(): Promise<void>;
}

/** What runs the commands of a `JetStream`: an embedded engine, or a client of a server. */
interface Engine extends CommandTransport {
  /** Resolves once the engine answers (see `JetStream.prototype.connect`). */
  reach(): Promise<void>;
  /** Stops an embedded engine, or disconnects from a server; called once. */
  end(): Promise<void>;
}

/** A running engine, in this process or behind a server's control port, and its interfaces. */
export class JetStream {
  /** SendInterface: destinations, manifests, transfers, tokens, user data, requests. */
  readonly send: SendInterface;
  /** RecvInterface: authorized sender keys, senders and received transfers. */
  readonly recv: RecvInterface;
  /** ServerInterface: server information and requests. */
  readonly server: ServerInterface;
  readonly #engine: Engine;
  #closed = false;

  /** @param engine runs the commands of the three interfaces */
  private constructor(engine: Engine) {
    this.#engine = engine;
    const guarded: CommandTransport = {
      execute: (method, params) =>
        this.#closed ? Promise.reject(closed()) : engine.execute(method, params),
    };
    this.send = new SendInterface(guarded);
    this.recv = new RecvInterface(guarded);
    this.server = new ServerInterface(guarded);
  }

  /**
   * Starts an engine inside this process. With no options it keeps its state in a new
   * temporary directory and receives on a free UDP port of 127.0.0.1.
   *
   * @throws CommandError `INVALID_ARGUMENT` for a bad option, `IO` when a directory cannot be
   *   made, `UNAVAILABLE` when the port cannot be bound or the addon is missing.
   */
  static async embedded(options: EmbeddedOptions = {}): Promise<JetStream> {
    const known = new Set([
      'stateDir',
      'sandboxDir',
      'recvAddress',
      'recvPort',
      'minCipher',
      'maxOverwriteMode',
      'transferLogDir',
      'identityFile',
      'knownReceiversFile',
      'knownReceivers',
      'receive',
      'onlyAuthorizedClients',
      'authorizedClients',
      'authorizedKeysFile',
      'recvIdleTimeoutSeconds',
      'recvDiscard',
      'partFileMaxAgeSeconds',
      'verify',
      'mtu',
    ]);
    for (const key of Object.keys(options)) {
      if (!known.has(key)) {
        throw new CommandError('INVALID_ARGUMENT', `JetStream.embedded: unknown option ${key}`);
      }
    }
    const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'jetstream-'));
    let engine: NativeEngine;
    try {
      engine = await binding().openEngine(JSON.stringify({ ...options, stateDir }));
    } catch (error) {
      throw toCommandError(error);
    }
    // Reads are answered at once from the store; everything else goes to the engine.
    const transport = jsonTransport(
      async (request) => engine.read(request) ?? engine.execute(request),
    );
    return new JetStream({
      execute: (method, params) => transport.execute(method, params),
      reach: async () => {
        await transport.execute('getServerInfo', {});
      },
      end: () => engine.close(),
    });
  }

  /**
   * A client of the `jetstream server` at `host:port`. Nothing is sent yet: the first command
   * connects (and signs in, with `userName` and `password`); `connect()` does that and
   * checks the server answers. A dropped connection is opened again by the next command.
   *
   * @param host the server's host name or IP address
   * @param port its control port (TCP). Default: `DEFAULT_API_PORT` (8886)
   * @param options how to trust the server and who to call as; TLS by default
   * @throws CommandError `INVALID_ARGUMENT` naming a bad or contradictory option
   */
  static api(
    host: string,
    port: number = DEFAULT_API_PORT,
    options: RemoteOptions = {},
  ): JetStream {
    const transport = new RemoteTransport(remoteSettings(host, port, options));
    return new JetStream({
      execute: (method, params) => transport.execute(method, params),
      reach: () => transport.reach(),
      end: async () => transport.close(),
    });
  }

  /**
   * Connects to the `jetstream server` at `host:port`: `JetStream.api()` and `connect()`.
   *
   * @throws CommandError as `connect()` does, and `INVALID_ARGUMENT` for a bad option
   */
  static async connect(
    host: string,
    port: number = DEFAULT_API_PORT,
    options: RemoteOptions = {},
  ): Promise<JetStream> {
    const client = JetStream.api(host, port, options);
    try {
      return await client.connect();
    } catch (error) {
      await client.close();
      throw error;
    }
  }

  /**
   * Resolves with this object once the engine answers a command (`getServerInfo`). For a
   * server that means it was reached, its certificate trusted and, with `userName` and
   * `password`, the user signed in. Without credentials, a server that requires a login
   * answers too (it refuses the command): log in next with `server.auth(userName, password)`,
   * and the client sends that session with every later command.
   *
   * @throws CommandError `UNAVAILABLE` when the server cannot be reached (`TIMED_OUT` when
   *   opening the connection takes longer than `connectTimeoutSeconds`), `AUTH_FAILED` when
   *   its certificate or the credentials are refused, `PROTOCOL` when it does not speak the
   *   control protocol (or TLS, or plain HTTP, as expected)
   */
  async connect(): Promise<this> {
    if (this.#closed) {
      throw closed();
    }
    try {
      await this.#engine.reach();
    } catch (error) {
      throw toCommandError(error);
    }
    return this;
  }

  /**
   * Stops an embedded engine (running transfers stop, and start again when its state is
   * reopened), or closes the connections to a server (which keeps running; a command still
   * waiting on it fails with `UNAVAILABLE`). Commands made afterwards fail with `UNAVAILABLE`.
   */
  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    await this.#engine.end();
  }
}
