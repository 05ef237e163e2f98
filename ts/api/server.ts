/**
 * `ServerInterface`: what a server says about itself, logins and API tokens, its event log
 * and bandwidth limits, garbage collection, the file operations of its sandbox and the users'
 * roots in it, and the tracking of asynchronous requests.
 *
 * @module
 */

import { SERVER_METHODS, type ServerMethod } from './methods.js';
import type {
  GetEventLogOptions,
  MkFileOptions,
  UpdateBandwidthLimitsOptions,
} from './options.js';
import { RequestTracking } from './requests.js';
import type { CommandTransport } from './transport.js';
import type { CreateAPITokenOptions, LimitOptions } from './options.js';
import type {
  APIPermission,
  APIToken,
  AuthResult,
  BandwidthLimits,
  CreatedAPIToken,
  EventLogEntry,
  GarbageCollection,
  Request,
  SandboxMapping,
  ServerInfo,
  TokenSession,
} from './types.js';

/** Describes and manages the server, logs in, keeps API tokens, and follows asynchronous requests. */
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
   * Logs in as the holder of a shared token, with its password when it has one: a session in
   * which `send.createDownload` has the token's manifest sent to the holder. Refused with
   * `AUTH_FAILED` (and a reason) for a wrong password or a token that is unknown, expired or
   * at its download limit. A remote client sends the session token with every later call.
   *
   * @param token the shared token
   * @param password its password
   */
  authToken(token: string, password?: string): Promise<TokenSession>;
  authToken(...args: unknown[]): Promise<unknown> {
    return this.call('authToken', args);
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

  /**
   * Resolves with `value` as the server received it: a round trip that checks the link.
   *
   * @param value any JSON value but `null`
   */
  echo<T>(value: T): Promise<T>;
  echo(...args: unknown[]): Promise<unknown> {
    return this.call('echo', args);
  }

  /**
   * The server's event log, oldest first: transfers created, started and ended, transfers
   * received, changes to authorized clients and bandwidth limits, garbage collections and
   * file operations that changed something. The newest 10,000 entries are kept.
   *
   * @param options `after`: only the entries after this one (for polling, the `limit` oldest
   *   of them); without it the `limit` newest; `limit`: at most this many (all by default)
   */
  getEventLog(options?: GetEventLogOptions): Promise<EventLogEntry[]>;
  /** The same, with the optional parameters positionally in documented order. */
  getEventLog(limit?: number, after?: number | EventLogEntry): Promise<EventLogEntry[]>;
  getEventLog(...args: unknown[]): Promise<unknown> {
    return this.call('getEventLog', args);
  }

  /**
   * Sets the server-wide caps, kept across restarts: `outgoingKbps` on what all transfers
   * sent from here send together (shared among the destinations with transfers sending),
   * `incomingKbps` on what the receiver accepts from all senders together. A cap left out
   * stays as it is; `null` removes it. Resolves with the caps now in force.
   *
   * @param options `incomingKbps`, `outgoingKbps`: kilobits per second, above 0, or `null`
   */
  updateBandwidthLimits(options?: UpdateBandwidthLimitsOptions): Promise<BandwidthLimits>;
  /** The same, with the optional parameters positionally in documented order. */
  updateBandwidthLimits(
    incomingKbps?: number | null,
    outgoingKbps?: number | null,
  ): Promise<BandwidthLimits>;
  updateBandwidthLimits(...args: unknown[]): Promise<unknown> {
    return this.call('updateBandwidthLimits', args);
  }

  /**
   * Removes what the server keeps but no longer needs: destinations that are not permanent
   * and have no transfer, finished requests past their retention, part files no session
   * writes, events beyond the log's bound. Resolves with how many of each.
   */
  garbageCollect(): Promise<GarbageCollection>;
  garbageCollect(...args: unknown[]): Promise<unknown> {
    return this.call('garbageCollect', args);
  }

  /**
   * Queues a listing of a directory of the caller's root (the sandbox, or the user's own
   * root); the request's result is a `FileEntry[]` by name. Paths are relative to the root:
   * `..`, absolute paths and paths through a symlink are refused.
   *
   * @param path the directory; `''` is the root
   */
  lsAsync(path: string): Promise<Request>;
  lsAsync(...args: unknown[]): Promise<unknown> {
    return this.call('lsAsync', args);
  }

  /**
   * Queues a description of several entries of the caller's root; the request's result is a
   * `FileEntry[]` in the order of `paths`.
   *
   * @param paths each relative to the root
   */
  lsListAsync(paths: string[]): Promise<Request>;
  lsListAsync(...args: unknown[]): Promise<unknown> {
    return this.call('lsListAsync', args);
  }

  /** Queues a listing of the roots the caller sees; the request's result is a `FileEntry[]`. */
  lsRootsAsync(): Promise<Request>;
  lsRootsAsync(...args: unknown[]): Promise<unknown> {
    return this.call('lsRootsAsync', args);
  }

  /**
   * Queues the measure of a tree of the caller's root (symlinks are not followed); the
   * request's result is a `DiskUsage`.
   *
   * @param path the tree; `''` is the root
   */
  duAsync(path: string): Promise<Request>;
  duAsync(...args: unknown[]): Promise<unknown> {
    return this.call('duAsync', args);
  }

  /**
   * Queues the creation of a directory and its missing parents in the caller's root; the
   * request's result is its `FileEntry`.
   *
   * @param path the directory
   */
  mkdirAsync(path: string): Promise<Request>;
  mkdirAsync(...args: unknown[]): Promise<unknown> {
    return this.call('mkdirAsync', args);
  }

  /**
   * Queues the creation of a file in the caller's root (its directory must exist; an existing
   * file is never replaced: `ALREADY_EXISTS`); the request's result is its `FileEntry`.
   *
   * @param path the new file
   * @param options `content`: what it holds (UTF-8), empty by default
   */
  mkFileAsync(path: string, options?: MkFileOptions): Promise<Request>;
  /** The same, with the optional parameters positionally in documented order. */
  mkFileAsync(path: string, content?: string): Promise<Request>;
  mkFileAsync(...args: unknown[]): Promise<unknown> {
    return this.call('mkFileAsync', args);
  }

  /**
   * Queues the move of an entry within the caller's root (an existing `dst` is never
   * replaced); the request's result is the moved entry's `FileEntry`.
   *
   * @param src what to move
   * @param dst where to
   */
  mvAsync(src: string, dst: string): Promise<Request>;
  mvAsync(...args: unknown[]): Promise<unknown> {
    return this.call('mvAsync', args);
  }

  /** Every user's root below the sandbox, by user name. */
  getSandboxMappings(): Promise<SandboxMapping[]>;
  getSandboxMappings(...args: unknown[]): Promise<unknown> {
    return this.call('getSandboxMappings', args);
  }

  /**
   * Sets a user's root below the sandbox (replacing any it had); the file operations and the
   * sources of that user's transfers stay inside it. Not on the vendor's page: ours.
   *
   * @param userName the user
   * @param path relative to the sandbox; `%u` stands for the user's name
   */
  createSandboxMapping(userName: string, path: string): Promise<SandboxMapping>;
  createSandboxMapping(...args: unknown[]): Promise<unknown> {
    return this.call('createSandboxMapping', args);
  }

  /**
   * Removes a user's root (`NOT_FOUND` if it has none).
   *
   * @param name the user
   */
  deleteSandboxMapping(name: string): Promise<void>;
  deleteSandboxMapping(...args: unknown[]): Promise<unknown> {
    return this.call('deleteSandboxMapping', args);
  }
}
