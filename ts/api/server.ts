/**
 * `ServerInterface`: what a server says about itself, logins and API tokens, and the tracking
 * of asynchronous requests.
 *
 * @module
 */

import { SERVER_METHODS, type ServerMethod } from './methods.js';
import { RequestTracking } from './requests.js';
import type { CommandTransport } from './transport.js';
import type { CreateAPITokenOptions, LimitOptions } from './options.js';
import type {
  APIPermission,
  APIToken,
  AuthResult,
  CreatedAPIToken,
  Request,
  ServerInfo,
} from './types.js';

/** Describes the server, logs in, keeps API tokens, and follows asynchronous requests. */
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

  /**
   * Checks a user's password against the server's accounts and opens a session. A remote
   * client sends the session token with every later call; an embedded engine requires no
   * login, but checks the password the same way.
   *
   * @param userName the account
   * @param password its password
   */
  auth(userName: string, password: string): Promise<AuthResult>;
  auth(...args: unknown[]): Promise<unknown> {
    return this.call('auth', args);
  }

  /**
   * Queues a login; the request's result is an `AuthResult`, which only a caller holding
   * every right may read.
   *
   * @param userName the account
   * @param password its password
   */
  authAsync(userName: string, password: string): Promise<Request>;
  authAsync(...args: unknown[]): Promise<unknown> {
    return this.call('authAsync', args);
  }

  /**
   * Creates an API token: a bearer secret for the control port that grants `permissions`
   * (never more than the caller's own) inside `sandboxPath` of the server's sandbox.
   *
   * @param options `description`; `sandboxPath` (default: the whole sandbox); `permissions`
   *   (default: the caller's); `timeLimitSeconds` until it expires (default: never)
   */
  createAPIToken(options?: CreateAPITokenOptions): Promise<CreatedAPIToken>;
  /** The same, with the optional parameters positionally in documented order. */
  createAPIToken(
    description?: string,
    sandboxPath?: string,
    permissions?: APIPermission[],
    timeLimitSeconds?: number,
  ): Promise<CreatedAPIToken>;
  createAPIToken(...args: unknown[]): Promise<unknown> {
    return this.call('createAPIToken', args);
  }

  /**
   * Deletes an API token.
   *
   * @param token the token's secret or its `tokenId`
   */
  deleteAPIToken(token: string): Promise<void>;
  deleteAPIToken(...args: unknown[]): Promise<unknown> {
    return this.call('deleteAPIToken', args);
  }

  /**
   * Describes one API token (never its secret).
   *
   * @param token the token's secret or its `tokenId`
   */
  getAPIToken(token: string): Promise<APIToken>;
  getAPIToken(...args: unknown[]): Promise<unknown> {
    return this.call('getAPIToken', args);
  }

  /**
   * Lists the API tokens, oldest first (never their secrets).
   *
   * @param options `limit`: at most this many
   */
  getAPITokens(options?: LimitOptions): Promise<APIToken[]>;
  /** The same, with the optional parameters positionally in documented order. */
  getAPITokens(limit?: number): Promise<APIToken[]>;
  getAPITokens(...args: unknown[]): Promise<unknown> {
    return this.call('getAPITokens', args);
  }
}
