/**
 * `RecvInterface`: the receiving side of a server — where data came from, what was received,
 * and which sender keys may connect. Every method is asynchronous: it resolves to a Request
 * whose result `getRequestResult` returns.
 *
 * @module
 */

import { RECV_METHODS, type RecvMethod } from './methods.js';
import type {
  GetReceivedTransfersOptions,
  LimitOptions,
  ReceivedTransferRef,
} from './options.js';
import { CommandInterface, type CommandTransport } from './transport.js';
import type { Request } from './types.js';

/** Controls the receiving side of a server: its sources, received transfers and sender keys. */
export class RecvInterface extends CommandInterface<RecvMethod> {
  /** @param transport where commands are run (the embedded engine or a remote server) */
  constructor(transport: CommandTransport) {
    super(transport, RECV_METHODS);
  }

  /**
   * Queues a listing of the senders that have sent to this receiver; the request's result is
   * a `Source[]`.
   *
   * @param options `limit`: at most this many
   */
  getSourcesAsync(options?: LimitOptions): Promise<Request>;
  /** The same, with the optional parameters positionally in documented order. */
  getSourcesAsync(limit?: number): Promise<Request>;
  getSourcesAsync(...args: unknown[]): Promise<unknown> {
    return this.call('getSourcesAsync', args);
  }

  /**
   * Queues a listing of the transfers this receiver has received, optionally a page of them;
   * the request's result is a `ReceivedTransfer[]`.
   *
   * @param options `before`/`after`: only transfers received before/after this one
   *   (excluded), by `receivedId` or record; `limit`: at most this many
   */
  getTransfersAsync(options?: GetReceivedTransfersOptions): Promise<Request>;
  /** The same, with the optional parameters positionally in documented order. */
  getTransfersAsync(
    before?: ReceivedTransferRef,
    after?: ReceivedTransferRef,
    limit?: number,
  ): Promise<Request>;
  getTransfersAsync(...args: unknown[]): Promise<unknown> {
    return this.call('getTransfersAsync', args);
  }

  /**
   * Queues the addition of a sender's public key to the authorized clients; the request's
   * result is the `AuthorizedClients` list.
   *
   * @param clientPublicKey the sender's public key (the vendor's name; a raw command may also
   *   name it `publicKey`)
   */
  addAuthorizedClientAsync(clientPublicKey: string): Promise<Request>;
  addAuthorizedClientAsync(...args: unknown[]): Promise<unknown> {
    return this.call('addAuthorizedClientAsync', args);
  }

  /**
   * Queues the removal of a sender's public key from the authorized clients.
   *
   * @param clientPublicKey the sender's public key (the vendor's name; a raw command may also
   *   name it `publicKey`)
   */
  removeAuthorizedClientAsync(clientPublicKey: string): Promise<Request>;
  removeAuthorizedClientAsync(...args: unknown[]): Promise<unknown> {
    return this.call('removeAuthorizedClientAsync', args);
  }

  /**
   * Queues turning on or off the rule that only authorized clients may connect.
   *
   * @param onlyAuthorizedClientsAllowed true: refuse senders whose key is not authorized (the
   *   vendor's name; a raw command may also name it `enabled`)
   */
  allowOnlyAuthorizedClientsAsync(onlyAuthorizedClientsAllowed: boolean): Promise<Request>;
  allowOnlyAuthorizedClientsAsync(...args: unknown[]): Promise<unknown> {
    return this.call('allowOnlyAuthorizedClientsAsync', args);
  }
}
