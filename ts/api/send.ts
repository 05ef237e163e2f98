/**
 * `SendInterface`: destinations, manifests, transfers, shared tokens, user data and the
 * asynchronous requests of the sending side, with the vendor's method and parameter names.
 *
 * Every method returns a Promise. Optional parameters are given positionally in documented
 * order or as one trailing options object; wherever an id is expected, the structure holding
 * it is accepted too.
 *
 * @module
 */

import { SEND_METHODS, type SendMethod } from './methods.js';
import type {
  CreateDestinationOptions,
  CreateDownloadOptions,
  CreateManifestOptions,
  CreateSharedTokenOptions,
  CreateTransferOptions,
  FailTransferOptions,
  GetManifestsOptions,
  GetTransferFilesOptions,
  GetTransferOptions,
  GetTransfersOptions,
  LimitOptions,
  SetTransferPriorityOptions,
  UpdateConnectionParamsOptions,
  UpdateObjectUserDataOptions,
  UpdateSharedTokenOptions,
  UpdateTransferDefaultsOptions,
} from './options.js';
import { RequestTracking } from './requests.js';
import type { CommandTransport } from './transport.js';
import type {
  Connection,
  Destination,
  IdOr,
  Manifest,
  ManifestFiles,
  ManifestSource,
  PriorityLanes,
  Request,
  Structure,
  Token,
  Transfer,
  TransferFile,
  UserData,
} from './types.js';

/** Controls the sending side of a server: what is sent, where, how fast and in what order. */
export class SendInterface extends RequestTracking<SendMethod> {
  /** @param transport where commands are run (the embedded engine or a remote server) */
  constructor(transport: CommandTransport) {
    super(transport, SEND_METHODS);
  }

  /**
   * Adds a destination (a receiver's host and UDP port, optionally behind a relay), or returns
   * the existing one with the same settings unless `exclusive`. Nothing is sent yet, and no
   * receiver needs to be listening.
   *
   * @param destinationAddress host name or IP of the receiver
   * @param options `sendRateMax` (kbit/s, ignored for an existing destination),
   *   `destinationPort`, `authenticateDestination` with `destinationPublicKey`, `relayAddress`,
   *   `relayPort`, `senderPort` (a fixed local port, one
   *   transfer at a time; 0: any; -1: share the receive port when `multiplexAvailable`, else
   *   any), `exclusive`, `permanent`
   */
  createDestination(
    destinationAddress: string,
    options?: CreateDestinationOptions,
  ): Promise<Destination>;
  /** The same, with the optional parameters positionally in documented order. */
  createDestination(
    destinationAddress: string,
    sendRateMax?: number,
    destinationPort?: number,
    authenticateDestination?: boolean,
    destinationPublicKey?: string,
    relayAddress?: string,
    relayPort?: number,
    senderPort?: number,
    exclusive?: boolean,
    permanent?: boolean,
  ): Promise<Destination>;
  createDestination(...args: unknown[]): Promise<unknown> {
    return this.call('createDestination', args);
  }

  /**
   * Creates a manifest and starts walking its sources; it resolves at once with the manifest,
   * which may still be `pending`. Use `getManifest` or `waitForManifest` to see it finish.
   * A source that does not exist fails the call.
   *
   * @param options `mappings` (destination path → source path or I/O-free source),
   *   `fileMappings` (deprecated: source → destination), `symlinkOptions` (`SYMLINKS_*`)
   */
  createManifest(options?: CreateManifestOptions): Promise<Manifest>;
  /** The same, with the optional parameters positionally in documented order. */
  createManifest(
    fileMappings?: Record<string, string>,
    mappings?: Record<string, string | ManifestSource>,
    symlinkOptions?: number,
  ): Promise<Manifest>;
  createManifest(...args: unknown[]): Promise<unknown> {
    return this.call('createManifest', args);
  }

  /**
   * Ours: has the manifest of the shared token this client logged in with (`server.authToken`)
   * sent to the holder's receiver, and counts one download against the token; resolves with
   * the transfer, which this server runs as any other. The holder's receiver must accept this
   * server's key (`server.getServerInfo().publicKey`). Refused with `AUTH_FAILED` once the
   * token has expired, reached its download limit or was deleted, and with
   * `PERMISSION_DENIED` for a client that did not log in with a token.
   *
   * @param destinationPort the holder's receive port
   * @param options `destinationAddress` (default: the address this client calls from),
   *   `destinationPublicKey` (the key the holder's receiver must prove), `destinationPath`
   *   (below the holder's root)
   */
  createDownload(destinationPort: number, options?: CreateDownloadOptions): Promise<Transfer>;
  /** The same, with the optional parameters positionally in documented order. */
  createDownload(
    destinationPort: number,
    destinationAddress?: string,
    destinationPublicKey?: string,
    destinationPath?: string,
  ): Promise<Transfer>;
  createDownload(...args: unknown[]): Promise<unknown> {
    return this.call('createDownload', args);
  }

  /**
   * Creates a shared token that lets its holder download a manifest from this server.
   *
   * @param manifestId the manifest, by id or structure
   * @param options `password`, `downloadLimit`, `timeLimitSeconds`, `description`
   */
  createSharedToken(
    manifestId: IdOr<Manifest>,
    options?: CreateSharedTokenOptions,
  ): Promise<Token>;
  /** The same, with the optional parameters positionally in documented order. */
  createSharedToken(
    manifestId: IdOr<Manifest>,
    password?: string,
    downloadLimit?: number,
    timeLimitSeconds?: number,
    description?: string,
  ): Promise<Token>;
  createSharedToken(...args: unknown[]): Promise<unknown> {
    return this.call('createSharedToken', args);
  }

  /**
   * Queues a transfer of a manifest to a destination and resolves with it; `processing` stays
   * true until it completes, fails or is suspended.
   *
   * @param destinationId the destination, by id or structure
   * @param manifestId the manifest, by id or structure
   * @param options `destinationPath`, `userName`/`password` or `token`, `priority` (lower
   *   first, default 100), `transferFlags`, `checkpointFrequencySeconds`, `sendRateMax`,
   *   `priorityLane`, `overwriteMode`, `minCipher`, `fileTimeResolutionMicroseconds`,
   *   `timeoutSeconds`, `userData`, `transferLog`; unset ones come from the destination's
   *   transfer defaults; and `skipMode` (ours), which files the receiver keeps as they are
   *   (`SKIP_*`, default `SKIP_SAME_SIZE_AND_TIME`)
   */
  createTransfer(
    destinationId: IdOr<Destination>,
    manifestId: IdOr<Manifest>,
    options?: CreateTransferOptions,
  ): Promise<Transfer>;
  /** The same, with the optional parameters positionally in documented order. */
  createTransfer(
    destinationId: IdOr<Destination>,
    manifestId: IdOr<Manifest>,
    destinationPath?: string,
    userName?: string,
    password?: string,
    priority?: number,
    transferFlags?: number,
    checkpointFrequencySeconds?: number,
    sendRateMax?: number,
    priorityLane?: string,
    overwriteMode?: number,
    minCipher?: number,
    fileTimeResolutionMicroseconds?: number,
    timeoutSeconds?: number,
    userData?: UserData,
    token?: string,
    transferLog?: boolean,
    skipMode?: number,
  ): Promise<Transfer>;
  createTransfer(...args: unknown[]): Promise<unknown> {
    return this.call('createTransfer', args);
  }

  /**
   * Deletes a destination and all its transfers; refused while one of them is active.
   *
   * @param destinationId the destination, by id or structure
   */
  deleteDestination(destinationId: IdOr<Destination>): Promise<void>;
  deleteDestination(...args: unknown[]): Promise<unknown> {
    return this.call('deleteDestination', args);
  }

  /**
   * Deletes a manifest, even one an active transfer is using.
   *
   * @param manifestId the manifest, by id or structure
   */
  deleteManifest(manifestId: IdOr<Manifest>): Promise<void>;
  deleteManifest(...args: unknown[]): Promise<unknown> {
    return this.call('deleteManifest', args);
  }

  /**
   * Removes one key of the user data of a destination, manifest, transfer or shared token.
   *
   * @param objId the object, by id or structure
   * @param key the key to remove
   */
  deleteObjectUserData(objId: IdOr<Structure>, key: string): Promise<void>;
  deleteObjectUserData(...args: unknown[]): Promise<unknown> {
    return this.call('deleteObjectUserData', args);
  }

  /**
   * Deletes a shared token; transfers already started with it carry on.
   *
   * @param token the token, as its string or structure
   */
  deleteSharedToken(token: IdOr<Token>): Promise<void>;
  deleteSharedToken(...args: unknown[]): Promise<unknown> {
    return this.call('deleteSharedToken', args);
  }

  /**
   * Deletes a transfer; an active one must be suspended first.
   *
   * @param transferId the transfer, by id or structure
   */
  deleteTransfer(transferId: IdOr<Transfer>): Promise<void>;
  deleteTransfer(...args: unknown[]): Promise<unknown> {
    return this.call('deleteTransfer', args);
  }

  /**
   * Makes an active transfer fail, with the given message as its error.
   *
   * @param transferId the transfer, by id or structure
   * @param options `errorMessage`
   */
  failTransfer(transferId: IdOr<Transfer>, options?: FailTransferOptions): Promise<void>;
  /** The same, with the optional parameters positionally in documented order. */
  failTransfer(transferId: IdOr<Transfer>, errorMessage?: string): Promise<void>;
  failTransfer(...args: unknown[]): Promise<unknown> {
    return this.call('failTransfer', args);
  }

  /**
   * Describes one connection: the settings and statistics shared by the destinations that
   * reach the same receiver.
   *
   * @param connectionId the connection, by id or structure
   */
  getConnection(connectionId: IdOr<Connection>): Promise<Connection>;
  getConnection(...args: unknown[]): Promise<unknown> {
    return this.call('getConnection', args);
  }

  /**
   * Describes every known connection.
   *
   * @param options `limit`: at most this many
   */
  getConnections(options?: LimitOptions): Promise<Connection[]>;
  /** The same, with the optional parameters positionally in documented order. */
  getConnections(limit?: number): Promise<Connection[]>;
  getConnections(...args: unknown[]): Promise<unknown> {
    return this.call('getConnections', args);
  }

  /**
   * Describes one destination.
   *
   * @param destinationId the destination, by id or structure
   */
  getDestination(destinationId: IdOr<Destination>): Promise<Destination>;
  getDestination(...args: unknown[]): Promise<unknown> {
    return this.call('getDestination', args);
  }

  /**
   * Describes every known destination.
   *
   * @param options `limit`: at most this many
   */
  getDestinations(options?: LimitOptions): Promise<Destination[]>;
  /** The same, with the optional parameters positionally in documented order. */
  getDestinations(limit?: number): Promise<Destination[]>;
  getDestinations(...args: unknown[]): Promise<unknown> {
    return this.call('getDestinations', args);
  }

  /**
   * Describes one manifest; its `status` says whether the walk of its sources is over.
   *
   * @param manifestId the manifest, by id or structure
   */
  getManifest(manifestId: IdOr<Manifest>): Promise<Manifest>;
  getManifest(...args: unknown[]): Promise<unknown> {
    return this.call('getManifest', args);
  }

  /**
   * Lists the entries of a manifest: source, destination, size and kind of each.
   *
   * @param manifestId the manifest, by id or structure
   * @param options `limit`: at most this many entries
   */
  getManifestFiles(manifestId: IdOr<Manifest>, options?: LimitOptions): Promise<ManifestFiles>;
  /** The same, with the optional parameters positionally in documented order. */
  getManifestFiles(manifestId: IdOr<Manifest>, limit?: number): Promise<ManifestFiles>;
  getManifestFiles(...args: unknown[]): Promise<unknown> {
    return this.call('getManifestFiles', args);
  }

  /**
   * Describes the known manifests, optionally a page of them.
   *
   * @param options `before`/`after`: only manifests before/after this one (excluded), by id
   *   or structure; `limit`: at most this many
   */
  getManifests(options?: GetManifestsOptions): Promise<Manifest[]>;
  /** The same, with the optional parameters positionally in documented order. */
  getManifests(
    before?: IdOr<Manifest>,
    after?: IdOr<Manifest>,
    limit?: number,
  ): Promise<Manifest[]>;
  getManifests(...args: unknown[]): Promise<unknown> {
    return this.call('getManifests', args);
  }

  /**
   * Describes one shared token (never its password).
   *
   * @param token the token, as its string or structure
   */
  getSharedToken(token: IdOr<Token>): Promise<Token>;
  getSharedToken(...args: unknown[]): Promise<unknown> {
    return this.call('getSharedToken', args);
  }

  /**
   * Describes every known shared token.
   *
   * @param options `limit`: at most this many
   */
  getSharedTokens(options?: LimitOptions): Promise<Token[]>;
  /** The same, with the optional parameters positionally in documented order. */
  getSharedTokens(limit?: number): Promise<Token[]>;
  getSharedTokens(...args: unknown[]): Promise<unknown> {
    return this.call('getSharedTokens', args);
  }

  /**
   * Describes one transfer: settings, status and progress.
   *
   * @param transferId the transfer, by id or structure
   * @param options `getCompleteFlags`: include the per-file completion list
   */
  getTransfer(transferId: IdOr<Transfer>, options?: GetTransferOptions): Promise<Transfer>;
  /** The same, with the optional parameters positionally in documented order. */
  getTransfer(transferId: IdOr<Transfer>, getCompleteFlags?: boolean): Promise<Transfer>;
  getTransfer(...args: unknown[]): Promise<unknown> {
    return this.call('getTransfer', args);
  }

  /**
   * Describes the known transfers, optionally only those of one destination or a page.
   *
   * @param options `destinationId`: only this destination's transfers; `before`/`after`:
   *   only transfers before/after this one (excluded); `limit`: at most this many
   */
  getTransfers(options?: GetTransfersOptions): Promise<Transfer[]>;
  /** The same, with the optional parameters positionally in documented order. */
  getTransfers(
    destinationId?: IdOr<Destination>,
    before?: IdOr<Transfer>,
    after?: IdOr<Transfer>,
    limit?: number,
  ): Promise<Transfer[]>;
  getTransfers(...args: unknown[]): Promise<unknown> {
    return this.call('getTransfers', args);
  }

  /**
   * Lists the files of a transfer with what became of each: pending, complete, skipped (the
   * receiver already held it) or error, and the BLAKE3 digest the receiver verified it
   * against. The files are listed once the transfer first starts, in manifest order. Not on
   * the vendor's page: ours.
   *
   * @param transferId the transfer, by id or structure
   * @param options `after`: only files after this one (excluded), by `fileIndex` or record;
   *   `limit`: at most this many
   */
  getTransferFiles(
    transferId: IdOr<Transfer>,
    options?: GetTransferFilesOptions,
  ): Promise<TransferFile[]>;
  /** The same, with the optional parameters positionally in documented order. */
  getTransferFiles(
    transferId: IdOr<Transfer>,
    after?: number | TransferFile,
    limit?: number,
  ): Promise<TransferFile[]>;
  getTransferFiles(...args: unknown[]): Promise<unknown> {
    return this.call('getTransferFiles', args);
  }

  /**
   * Queues the resumption of a suspended transfer; it goes back to the scheduler and may wait
   * behind others. The request's result is `{ transferId }`.
   *
   * @param transferId the transfer, by id or structure
   */
  resumeTransferAsync(transferId: IdOr<Transfer>): Promise<Request>;
  resumeTransferAsync(...args: unknown[]): Promise<unknown> {
    return this.call('resumeTransferAsync', args);
  }

  /**
   * Queues a series of pings to a destination, interleaved with its traffic; the answer shows
   * up as the destination's `lastReceiverDestinationId`.
   *
   * @param destinationId the destination, by id or structure
   * @param pingCount how many pings to send
   */
  schedulePingAsync(destinationId: IdOr<Destination>, pingCount: number): Promise<Request>;
  schedulePingAsync(...args: unknown[]): Promise<unknown> {
    return this.call('schedulePingAsync', args);
  }

  /**
   * Queues a replacement of a destination's priority lanes: all at once, at least one, unique
   * non-blank names, proportions summing to 1.0, at most one idle (0.0) lane; the number and
   * names of lanes in use cannot change, their proportions can.
   *
   * @param destinationId the destination, by id or structure
   * @param priorityLanes lane name → proportion of the send rate
   */
  setPriorityLanesAsync(
    destinationId: IdOr<Destination>,
    priorityLanes: PriorityLanes,
  ): Promise<Request>;
  setPriorityLanesAsync(...args: unknown[]): Promise<unknown> {
    return this.call('setPriorityLanesAsync', args);
  }

  /**
   * Queues a change of a destination's maximum send rate; its minimum and current rates are
   * lowered to fit if needed.
   *
   * @param destinationId the destination, by id or structure
   * @param sendRateMax the new maximum, in kbit/s
   */
  setSendRateMaxAsync(destinationId: IdOr<Destination>, sendRateMax: number): Promise<Request>;
  setSendRateMaxAsync(...args: unknown[]): Promise<unknown> {
    return this.call('setSendRateMaxAsync', args);
  }

  /**
   * Queues a change of a transfer's priority (0 to 4294967295, lower first) and/or lane.
   *
   * @param transferId the transfer, by id or structure
   * @param options `priority`, `priorityLane`
   */
  setTransferPriorityAsync(
    transferId: IdOr<Transfer>,
    options?: SetTransferPriorityOptions,
  ): Promise<Request>;
  /** The same, with the optional parameters positionally in documented order. */
  setTransferPriorityAsync(
    transferId: IdOr<Transfer>,
    priority?: number,
    priorityLane?: string,
  ): Promise<Request>;
  setTransferPriorityAsync(...args: unknown[]): Promise<unknown> {
    return this.call('setTransferPriorityAsync', args);
  }

  /**
   * Queues a change of a transfer's maximum send rate; -1 removes the cap.
   *
   * @param transferId the transfer, by id or structure
   * @param sendRateMax the new maximum, in kbit/s
   */
  setTransferSendRateMaxAsync(transferId: IdOr<Transfer>, sendRateMax: number): Promise<Request>;
  setTransferSendRateMaxAsync(...args: unknown[]): Promise<unknown> {
    return this.call('setTransferSendRateMaxAsync', args);
  }

  /**
   * Queues the suspension of an active transfer: it stops sending and keeps its progress until
   * resumed or deleted. The request's result is `{ transferId }`.
   *
   * @param transferId the transfer, by id or structure
   */
  suspendTransferAsync(transferId: IdOr<Transfer>): Promise<Request>;
  suspendTransferAsync(...args: unknown[]): Promise<unknown> {
    return this.call('suspendTransferAsync', args);
  }

  /**
   * Queues a change of a connection's rate settings.
   *
   * @param connectionId the connection, by id or structure
   * @param options `sendRateMin`, `sendRateMax`, `sendRate` (kbit/s), `rateControlEnabled`,
   *   `rateControlMethod` (`RATE_CONTROL_FILL` or `RATE_CONTROL_FAIR`; transfers started after
   *   the change use it)
   */
  updateConnectionParamsAsync(
    connectionId: IdOr<Connection>,
    options?: UpdateConnectionParamsOptions,
  ): Promise<Request>;
  /** The same, with the optional parameters positionally in documented order. */
  updateConnectionParamsAsync(
    connectionId: IdOr<Connection>,
    sendRateMin?: number,
    sendRateMax?: number,
    sendRate?: number,
    rateControlEnabled?: boolean,
    rateControlMethod?: number,
  ): Promise<Request>;
  updateConnectionParamsAsync(...args: unknown[]): Promise<unknown> {
    return this.call('updateConnectionParamsAsync', args);
  }

  /**
   * Sets one key of the user data of a destination, manifest, transfer or shared token.
   *
   * @param objId the object, by id or structure
   * @param key the key to set
   * @param options `value`: the value stored under `key`
   */
  updateObjectUserData(
    objId: IdOr<Structure>,
    key: string,
    options?: UpdateObjectUserDataOptions,
  ): Promise<void>;
  /** The same, with the optional parameters positionally in documented order. */
  updateObjectUserData(objId: IdOr<Structure>, key: string, value?: string): Promise<void>;
  updateObjectUserData(...args: unknown[]): Promise<unknown> {
    return this.call('updateObjectUserData', args);
  }

  /**
   * Changes a shared token's expiry and description.
   *
   * @param token the token, as its string or structure
   * @param options `timeLimitSeconds` (from now), `description`
   */
  updateSharedToken(token: IdOr<Token>, options?: UpdateSharedTokenOptions): Promise<void>;
  /** The same, with the optional parameters positionally in documented order. */
  updateSharedToken(
    token: IdOr<Token>,
    timeLimitSeconds?: number,
    description?: string,
  ): Promise<void>;
  updateSharedToken(...args: unknown[]): Promise<unknown> {
    return this.call('updateSharedToken', args);
  }

  /**
   * Changes the values a destination's new transfers get when `createTransfer` leaves them
   * out; only the parameters given change.
   *
   * @param destinationId the destination, by id or structure
   * @param options `priority`, `transferFlags`, `checkpointFrequencySeconds`, `sendRateMax`,
   *   `priorityLane`, `overwriteMode`, `minCipher`, `fileTimeResolutionMicroseconds`
   */
  updateTransferDefaults(
    destinationId: IdOr<Destination>,
    options?: UpdateTransferDefaultsOptions,
  ): Promise<void>;
  /** The same, with the optional parameters positionally in documented order. */
  updateTransferDefaults(
    destinationId: IdOr<Destination>,
    priority?: number,
    transferFlags?: number,
    checkpointFrequencySeconds?: number,
    sendRateMax?: number,
    priorityLane?: string,
    overwriteMode?: number,
    minCipher?: number,
    fileTimeResolutionMicroseconds?: number,
  ): Promise<void>;
  updateTransferDefaults(...args: unknown[]): Promise<unknown> {
    return this.call('updateTransferDefaults', args);
  }

  /**
   * Resolves once the walk of a manifest's sources is over, with the manifest.
   *
   * @param manifestId the manifest, by id or structure
   */
  waitForManifest(manifestId: IdOr<Manifest>): Promise<Manifest>;
  waitForManifest(...args: unknown[]): Promise<unknown> {
    return this.call('waitForManifest', args);
  }

  /**
   * Resolves once a transfer has sent all its data, with the transfer.
   *
   * @param transferId the transfer, by id or structure
   */
  waitForTransfer(transferId: IdOr<Transfer>): Promise<Transfer>;
  waitForTransfer(...args: unknown[]): Promise<unknown> {
    return this.call('waitForTransfer', args);
  }
}
