/**
 * `ServerInterface`: what a server says about itself, and the tracking of asynchronous
 * requests.
 *
 * @module
 */

import { SERVER_METHODS, type ServerMethod } from './methods.js';
import { RequestTracking } from './requests.js';
import type { CommandTransport } from './transport.js';
import type { ServerInfo } from './types.js';

/** Describes the server, and follows its asynchronous requests. */
export class ServerInterface extends RequestTracking<ServerMethod> {
  /** @param transport where commands are run (the embedded engine or a remote server) */
  constructor(transport: CommandTransport) {
    super(transport, SERVER_METHODS);
  }

  /** Describes the server: ids, names, version, keys, ports and security settings. */
  getServerInfo(): Promise<ServerInfo>;
  getServerInfo(...args: unknown[]): Promise<unknown> {
    return this.call('getServerInfo', args);
  }
}
