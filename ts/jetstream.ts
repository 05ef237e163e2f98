/**
 * `JetStream`: the entry point that starts an engine and hands out its three interfaces.
 * `JetStream.embedded()` runs the engine inside this process through the native addon.
 *
 * @module
 */

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { RecvInterface, SendInterface, ServerInterface, jsonTransport } from './api/index.js';
import { CommandError, toCommandError } from './errors.js';
import { binding } from './native.js';

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
  /** `false`: files sent are not checked against digests at the receiver. Default: `true`. */
  verify?: boolean;
  /** The largest IP packet sent (at least 1228). Default: probe up to what the route allows. */
  mtu?: number;
}

/** The native engine handle, as the facade uses it. */
interface NativeEngine {
  read(request: string): string | null;
  execute(request: string): Promise<string>;
  close(): Promise<void>;
}

/** A running engine and its interfaces. */
export class JetStream {
  /** SendInterface: destinations, manifests, transfers, tokens, user data, requests. */
  readonly send: SendInterface;
  /** RecvInterface: authorized sender keys, senders and received transfers. */
  readonly recv: RecvInterface;
  /** ServerInterface: server information and requests. */
  readonly server: ServerInterface;
  readonly #engine: NativeEngine;
  #closed = false;

  private constructor(engine: NativeEngine) {
    this.#engine = engine;
    const transport = jsonTransport(async (request) => {
      if (this.#closed) {
        throw new CommandError('UNAVAILABLE', 'the engine is closed');
      }
      // Reads are answered at once from the store; everything else goes to the engine.
      return engine.read(request) ?? engine.execute(request);
    });
    this.send = new SendInterface(transport);
    this.recv = new RecvInterface(transport);
    this.server = new ServerInterface(transport);
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
      'verify',
      'mtu',
    ]);
    for (const key of Object.keys(options)) {
      if (!known.has(key)) {
        throw new CommandError('INVALID_ARGUMENT', `JetStream.embedded: unknown option ${key}`);
      }
    }
    const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'jetstream-'));
    try {
      const engine = await binding().openEngine(JSON.stringify({ ...options, stateDir }));
      return new JetStream(engine);
    } catch (error) {
      throw toCommandError(error);
    }
  }

  /** Stops the engine: running transfers stop (and start again when the state is reopened). */
  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    await this.#engine.close();
  }
}
