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
