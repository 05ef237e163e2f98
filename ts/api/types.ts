/**
 * The structures the API returns and accepts: plain objects with the documented camelCase
 * keys. Times are Unix microseconds (UTC), `null` until reached; rates are kilobits per
 * second. Implementations may add fields; these are the ones every implementation fills.
 *
 * @module
 */

/** String keys and string values attached to a destination, manifest, transfer or token. */
export type UserData = Record<string, string>;

/** Lane name → proportion of the send rate, in lane order. */
export type PriorityLanes = Record<string, number>;

/** Encryption state of the link to a receiver. */
export type EncryptedConnectionState = 'disconnected' | 'negotiating' | 'connected';

/**
 * Values `createTransfer` uses for the parameters it is not given; `null` is the engine's own
 * default.
 */
export interface TransferDefaults {
  priority: number | null;
  transferFlags: number | null;
  checkpointFrequencySeconds: number | null;
  sendRateMax: number | null;
  priorityLane: string | null;
  overwriteMode: number | null;
  minCipher: number | null;
  fileTimeResolutionMicroseconds: number | null;
}

/** Where transfers go: a receiver address and port, optionally through a relay, with its key. */
export interface Destination {
  /** 32 hex digits. */
  destinationId: string;
  destinationAddress: string;
  /** The resolved address, once known. */
  destinationIP: string | null;
  destinationPort: number;
  connectionId: number | null;
  sendRateMax: number | null;
  /** As created: a fixed local port, 0 for any, -1 for the receive port if possible. */
  senderPort: number;
  relayAddress: string | null;
  relayPort: number | null;
  authenticateDestination: boolean;
  destinationPublicKey: string | null;
  exclusive: boolean;
  permanent: boolean;
  encryptedConnectionState: EncryptedConnectionState;
  lastError: string | null;
  lastErrorMessage: string | null;
  lastRecvTime: number | null;
  lastSendTime: number | null;
  lastDestinationServerId: string | null;
  /** Filled by a ping response. */
  lastReceiverDestinationId: string | null;
  roundTripTimeMs: number | null;
  numTransfersQueued: number;
  priorityLanes: PriorityLanes;
  transferDefaults: TransferDefaults;
  userData: UserData;
}

/** One remote receiver address and port, shared by the destinations that reach it. */
export interface Connection {
  connectionId: number;
  destinationIP: string;
  destinationPort: number;
  sendRate: number;
  sendRateMin: number;
  sendRateMax: number | null;
  rateControllerActive: boolean;
  /** `RATE_CONTROL_FILL` (0) or `RATE_CONTROL_FAIR` (1); transfers started after a change use it. */
  rateControlMethod: number;
  /**
   * The rate in kbit/s the path carried when the last transfer over the connection measured
   * it; the next transfer starts pacing from it. `null` before any transfer measured it.
   */
  measuredRate: number | null;
  /** The smallest round-trip time that transfer measured. */
  measuredMinRttMs: number | null;
  /** The fraction of what that transfer sent that was lost, 0 to 1. */
  measuredLossRate: number | null;
  roundTripTimeMs: number | null;
  lossRate: number;
  bytesSent: number;
  packetsSent: number;
  encryptedConnectionState: EncryptedConnectionState;
  relayIP: string | null;
  relayPort: number | null;
  lastRecvTime: number | null;
  lastSendTime: number | null;
  numTransfersQueued: number;
}

/** A set of files to send, collected from the file system (or described without I/O). */
export interface Manifest {
  /** 32 hex digits. */
  manifestId: string;
  status: 'pending' | 'complete' | 'error';
  /** True while the file system is still being walked. */
  processing: boolean;
  errorMessage: string | null;
  totalFiles: number;
  totalSize: number;
  symlinkOptions: number;
  creationTime: number;
  userData: UserData;
}

/** One entry of a manifest: where it is read from and where it is written to. */
export interface ManifestFileMapping {
  srcPath: string;
  destPath: string;
  fileSize: number;
  isEmptyDir: boolean;
  executable: boolean;
  modificationTime: number | null;
}

/** The entries of a manifest. */
export interface ManifestFiles {
  manifestId: string;
  fileMappings: ManifestFileMapping[];
}

/** Life cycle of a transfer: `processing` is true while pending, sending or resuming. */
export type TransferStatus =
  | 'pending'
  | 'sending'
  | 'complete'
  | 'suspended'
  | 'resuming'
  | 'error';

/** A manifest being sent to a destination, with its settings and progress. Never the password. */
export interface Transfer {
  transferId: number;
  destinationId: string;
  manifestId: string;
  destinationPath: string | null;
  status: TransferStatus;
  processing: boolean;
  errorMessage: string | null;
  priority: number;
  priorityLane: string;
  sendRateMax: number | null;
  sendRate: number;
  overwriteMode: number;
  transferFlags: number;
  minCipher: number;
  /** The cipher level negotiated, once connected. */
  cipher: number | null;
  checkpointFrequencySeconds: number;
  fileTimeResolutionMicroseconds: number;
  /** Seconds without progress before the transfer fails; 0: it never gives up. */
  timeoutSeconds: number;
  userName: string | null;
  usesToken: boolean;
  transferLog: boolean;
  /** The `SKIP_*` rule: which files the receiver keeps as they are. */
  skipMode: number;
  totalFiles: number;
  filesComplete: number;
  /** Files the receiver kept as they were (among `filesComplete`): none of their data sent. */
  filesSkipped: number;
  /** Sum of the sizes of those files. */
  bytesSkipped: number;
  totalBytes: number;
  bytesSent: number;
  bytesAcked: number;
  /** Bytes per block (256). */
  blockSize: number;
  totalBlocks: number;
  blocksSent: number;
  blocksAcked: number;
  blocksRetransmitted: number;
  packetsSent: number;
  packetsRecv: number;
  /** Sessions started again after one died (a receiver restart, a path outage). */
  reconnects: number;
  /** Why the last session died, when one did; the transfer goes on meanwhile. */
  lastError: string | null;
  requestTime: number;
  queueTime: number | null;
  startTime: number | null;
  endTime: number | null;
  userData: UserData;
  /** Per file, in manifest order, whether it is complete; only with `getCompleteFlags`. */
  completeFlags?: boolean[];
}

/**
 * What became of one file of a transfer: `pending` until the receiver confirms it; `complete`
 * once written and in place; `skipped` when the receiver already held it (the same file, or
 * one as new under `TRANSFER_FLAG_WRITE_ONLY_NEWER`) and wrote nothing; `error` when it could
 * not be sent or placed.
 */
export type TransferFileStatus = 'pending' | 'complete' | 'skipped' | 'error';

/**
 * One file of a transfer and what became of it (`SendInterface.getTransferFiles`, ours). The
 * files are listed once the transfer first starts, in manifest order.
 */
export interface TransferFile {
  transferId: number;
  /** Position in the transfer (manifest order, from 0): what `after` pages by. */
  fileIndex: number;
  /** Path at the sender, as sent. */
  srcPath: string;
  /** Path at the receiver, below the transfer's destination path. */
  destPath: string;
  fileSize: number;
  isEmptyDir: boolean;
  status: TransferFileStatus;
  /**
   * The BLAKE3 digest (64 hex digits) of the source bytes, which the receiver verified the
   * file it placed (or, skipped, the file it held) against; `null` until it did, and for
   * directories, empty files, transfers without verification and files skipped without
   * comparing digests (for their size and time, `SKIP_SAME_SIZE_AND_TIME`; for existing,
   * `SKIP_EXISTING`; or for being as new at the receiver, `TRANSFER_FLAG_WRITE_ONLY_NEWER`).
   */
  digest: string | null;
  /** Why it failed, if it did. */
  errorMessage: string | null;
  /** When it was confirmed complete or skipped, or failed (Unix microseconds). */
  endTime: number | null;
}

/** A shared token giving its holder access to one manifest. Never the password. */
export interface Token {
  token: string;
  manifestId: string;
  description: string | null;
  passwordRequired: boolean;
  downloadLimit: number | null;
  downloadCount: number;
  creationTime: number;
  expiryTime: number | null;
  userData: UserData;
}

/**
 * What an API token may do: `send` (SendInterface), `receive` (RecvInterface), `files` (the
 * sandbox's file operations), `admin` (API tokens, the event log, bandwidth limits, garbage
 * collection, sandbox mappings). Every caller may log in, echo, describe the server and follow
 * requests.
 */
export type APIPermission = 'send' | 'receive' | 'files' | 'admin';

/** A login: the session token to send as `Authorization: Bearer` to a remote server. */
export interface AuthResult {
  sessionToken: string;
  userName: string;
  /** When the session ends (Unix µs). */
  expiryTime: number;
}

/** What `authToken` opens: a session that may download one shared token's manifest. */
export interface TokenSession {
  sessionToken: string;
  /** When the session ends (Unix µs). */
  expiryTime: number;
  /** The manifest the token shares. */
  manifestId: string;
}

/** An API token, as listed: never the secret itself. */
export interface APIToken {
  /** The token's public id (16 hex digits); names it to `getAPIToken`/`deleteAPIToken`. */
  tokenId: string;
  /** The user who created it; `null` for the embedding process. */
  userName: string | null;
  description: string | null;
  /** The directory of the server's sandbox that confines it; `/` for all of it. */
  sandboxPath: string;
  permissions: APIPermission[];
  creationTime: number;
  expiryTime: number | null;
}

/** A new API token: its secret, shown this once, and its record. */
export interface CreatedAPIToken extends APIToken {
  /** The bearer secret (64 hex digits). */
  token: string;
}

/** What a server says about itself. */
export interface ServerInfo {
  /** New at each start. */
  serverId: string;
  /** Stable across starts. */
  serverUid: string;
  serverName: string;
  hostName: string;
  version: string;
  apiVersion: string;
  publicKey: string;
  recvAddress: string;
  recvPort: number;
  apiControlPort: number | null;
  sandboxDir: string | null;
  minCipher: number;
  encryptionAvailable: boolean;
  multiplexAvailable: boolean;
  authRequired: boolean;
  /**
   * Only senders whose key is among the authorized clients are accepted: on until
   * `allowOnlyAuthorizedClientsAsync(false)` turns it off.
   */
  onlyAuthorizedClientsAllowed: boolean;
  /** The most destructive `OVERWRITE_*` mode a sender may ask of this receiver. */
  maxOverwriteMode: number;
  /** The server-wide caps on what all transfers send and receive together. */
  bandwidthLimits: BandwidthLimits;
}

/** Caps on the sum of the rates of all transfers, in kilobits per second; `null`: none. */
export interface BandwidthLimits {
  /** What the receiver accepts from all senders together. */
  incomingKbps: number | null;
  /** What all transfers sent from this server send together. */
  outgoingKbps: number | null;
}

/** What an event of the server's log is about. */
export type EventKind =
  | 'transferCreated'
  | 'transferStarted'
  | 'transferEnded'
  | 'receivedStarted'
  | 'receivedEnded'
  | 'authorizedClientAdded'
  | 'authorizedClientRemoved'
  | 'onlyAuthorizedClientsChanged'
  | 'bandwidthLimitsChanged'
  | 'garbageCollected'
  | 'fileChanged'
  | 'sandboxMappingChanged'
  | 'loggedIn'
  | 'loginFailed'
  | 'apiTokenChanged';

/** One entry of the server's event log (`ServerInterface.getEventLog`). */
export interface EventLogEntry {
  /** Positive, increasing, never reused: poll with `after`. */
  eventId: number;
  /** Unix microseconds. */
  time: number;
  /** What it is about; new kinds may appear. */
  kind: EventKind | (string & {});
  /** What happened, for people. */
  message: string;
  /** The transfer sent from this server it concerns. */
  transferId?: number;
  /** The received transfer it concerns (`ReceivedTransfer.receivedId`). */
  receivedId?: number;
  /** The sandbox path it concerns. */
  path?: string;
  /** The user who caused it. */
  userName?: string;
}

/** What `ServerInterface.garbageCollect` removed. */
export interface GarbageCollection {
  /** Destinations that were not permanent and had no transfer left. */
  destinations: number;
  /** Finished requests past their retention. */
  requests: number;
  /** Part files no session wrote, with nothing durable in them. */
  partFilesRemoved: number;
  /** Part files no session wrote, kept for the durable data a resumed transfer uses. */
  partFilesKept: number;
  /** Events beyond the log's bound. */
  events: number;
}

/** An entry of the caller's root, as the sandbox file operations describe it. */
export interface FileEntry {
  /** Its last component (for a root, the root directory's own name). */
  name: string;
  /** Relative to the caller's root; `''` is the root. */
  path: string;
  /** A symlink is never followed; `other` is a FIFO, socket or device. */
  type: 'file' | 'directory' | 'symlink' | 'other';
  /** Bytes (of the link itself for a symlink). */
  size: number;
  /** Unix microseconds. */
  modificationTime: number;
}

/** What `duAsync` found below a path. */
export interface DiskUsage {
  path: string;
  /** Bytes of every regular file below it. */
  size: number;
  files: number;
  /** Directories below it, itself included. */
  directories: number;
}

/** A user's root below the server's sandbox. */
export interface SandboxMapping {
  userName: string;
  /** Relative to the sandbox; `%u` stands for the user's name. */
  path: string;
}

/** A transfer as the receiving server saw it (`RecvInterface.getTransfersAsync`). */
export interface ReceivedTransfer {
  /** This receiver's id of it: positive, increasing. */
  receivedId: number;
  /** The sender's public key. */
  senderPublicKey: string;
  /** The sender's address and port. */
  senderAddress: string;
  /** The sender's id of the transfer. */
  transferId: number;
  /** Directory below the receiver's root that received it. */
  destinationPath: string;
  status: 'receiving' | 'complete' | 'error';
  errorMessage: string | null;
  totalFiles: number;
  totalBytes: number;
  filesComplete: number;
  bytesReceived: number;
  startTime: number;
  endTime: number | null;
  /** The account the sender logged in as (`createTransfer`'s userName), if it did. */
  userName: string | null;
  /** A download by one of the sender's shared tokens. */
  usesToken: boolean;
}

/** A sender this receiver has heard from (`RecvInterface.getSourcesAsync`). */
export interface Source {
  publicKey: string;
  /** The address and port it last sent from. */
  lastAddress: string;
  numTransfers: number;
  /** When its last transfer began. */
  lastSeenTime: number;
  /** Whether its key is among the authorized clients. */
  authorized: boolean;
}

/** The authorized sender keys, the result of the RecvInterface methods that change them. */
export interface AuthorizedClients {
  onlyAuthorizedClientsAllowed: boolean;
  authorizedClients: string[];
}

/** The handle of a queued asynchronous command. */
export interface Request {
  /** Positive, increasing. */
  requestId: number;
}

/** Where an asynchronous command stands. */
export interface RequestStatus {
  requestId: number;
  /** True while pending or processing. */
  processing: boolean;
  status: 'pending' | 'processing' | 'complete' | 'error';
  errorMessage: string | null;
}

/** A source of the I/O-free form of a manifest mapping. */
export interface ManifestSource {
  /** Source path; it must exist when the transfer starts. */
  src: string;
  /** Size in bytes. */
  size?: number;
  /** `FILETYPE_DIRECTORY` or `FILETYPE_REGULAR_FILE`. */
  flags?: number;
  /** `'x'` marks the file executable. */
  access?: string;
  /** Glob patterns of names to keep below `src`. */
  include?: string[];
  /** Glob patterns of names to leave out below `src`. */
  exclude?: string[];
}

/** Any structure that stands for its own id. */
export type Structure = Destination | Connection | Manifest | Transfer | Token | Request;

/**
 * An id or the structure holding it: integer ids for connections, transfers and requests,
 * strings for destinations, manifests and tokens. The engine normalises either form.
 */
export type IdOr<T extends Structure> =
  | T
  | (T extends Connection | Transfer | Request ? number : string);
