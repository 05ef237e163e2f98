/**
 * The types of the named form: one options type per method with optional parameters, derived
 * from the method table so its keys are exactly the method's optional-parameter names.
 * A parameter name means the same thing, with the same type, in every method.
 *
 * @module
 */

import type { MethodSpec, RECV_METHODS, SEND_METHODS, SERVER_METHODS } from './methods.js';
import type {
  APIPermission,
  Destination,
  EventLogEntry,
  IdOr,
  Manifest,
  ManifestSource,
  ReceivedTransfer,
  Structure,
  Transfer,
  TransferFile,
  UserData,
} from './types.js';

/** The type of each optional parameter, by documented name. */
export interface ParamTypes {
  /** Maximum send rate, in kilobits per second. */
  sendRateMax: number;
  /** Receiver UDP port of a destination. */
  destinationPort: number;
  /** Only connect to a receiver proving `destinationPublicKey`. */
  authenticateDestination: boolean;
  /** Public key the receiver must prove. */
  destinationPublicKey: string;
  /** Host name or IP of a relay. */
  relayAddress: string;
  /** Port of the relay. */
  relayPort: number;
  /**
   * Local UDP port the destination's transfers send from. A fixed port carries one transfer at
   * a time: while it is held (by another transfer to the destination, or by another program) a
   * transfer waits for it, and fails after its `timeoutSeconds` with an error naming the port.
   * 0 picks a new port per transfer. -1 sends over this server's receive port, shared by all
   * such transfers and by those arriving on it, when the server receives
   * (`getServerInfo().multiplexAvailable`); otherwise it picks a new port per transfer, as 0
   * does.
   */
  senderPort: number;
  /** Create a new destination even if a matching one exists. */
  exclusive: boolean;
  /** Keep the destination once it has no transfers. */
  permanent: boolean;
  /** Deprecated: source path → destination path. */
  fileMappings: Record<string, string>;
  /** Destination path → source path, or → an I/O-free source description. */
  mappings: Record<string, string | ManifestSource>;
  /** How symbolic links are treated: a `SYMLINKS_*` constant. */
  symlinkOptions: number;
  /** Password protecting a token, or authenticating a transfer. */
  password: string;
  /** How many downloads a token allows. */
  downloadLimit: number;
  /** Seconds from now until a token expires. */
  timeLimitSeconds: number;
  /** What a token stands for. */
  description: string;
  /** Directory below the receiver's sandbox under which the manifest's paths are written. */
  destinationPath: string;
  /** Host name or IP of a receiver (of a download: the holder's own). */
  destinationAddress: string;
  /** User the receiver authenticates the transfer as. */
  userName: string;
  /** Lower goes first; 0 to 4294967295, 100 by default. */
  priority: number;
  /** `TRANSFER_FLAG_*` bits. */
  transferFlags: number;
  /** Seconds between checkpoints; 0 disables them. */
  checkpointFrequencySeconds: number;
  /** Name of a priority lane. */
  priorityLane: string;
  /**
   * An `OVERWRITE_*` constant; default `OVERWRITE_NEVER`. The receiver refuses a mode that
   * destroys more than its `maxOverwriteMode` allows.
   */
  overwriteMode: number;
  /** A `MIN_CIPHER_*` constant. */
  minCipher: number;
  /** Modification times this close, in microseconds, count as equal. */
  fileTimeResolutionMicroseconds: number;
  /**
   * Seconds to wait: without progress before failing a transfer (0: never give up; default
   * 30), or for a request's end.
   */
  timeoutSeconds: number;
  /** Initial user data of a transfer. */
  userData: UserData;
  /** Shared token authenticating a transfer (instead of `userName`). */
  token: string;
  /** Write a log of this transfer (the server must be configured for it). */
  transferLog: boolean;
  /**
   * A `SKIP_*` constant: which files the receiver keeps as they are, so that none of their
   * data is read or sent; default `SKIP_SAME_SIZE_AND_TIME`.
   */
  skipMode: number;
  /** Why a transfer is failed. */
  errorMessage: string;
  /** At most this many results. */
  limit: number;
  /** Include the per-file completion list. */
  getCompleteFlags: boolean;
  /** Only the transfers of this destination. */
  destinationId: IdOr<Destination>;
  /** Minimum send rate, in kilobits per second. */
  sendRateMin: number;
  /** Desired send rate, in kilobits per second. */
  sendRate: number;
  /** Turn the rate controller on or off. */
  rateControlEnabled: boolean;
  /** Rate-control method: `RATE_CONTROL_FILL` (0, the default) or `RATE_CONTROL_FAIR` (1). */
  rateControlMethod: number;
  /** Value stored under a user-data key. */
  value: string;
  /** Directory of the server's sandbox that confines an API token (`/` for all of it). */
  sandboxPath: string;
  /** What an API token may do. */
  permissions: APIPermission[];
  /** Server-wide cap on what the receiver accepts, in kilobits per second; `null`: none. */
  incomingKbps: number | null;
  /** Server-wide cap on what all transfers send together, in kilobits per second; `null`: none. */
  outgoingKbps: number | null;
  /** The content of a new file (UTF-8). */
  content: string;
}

/** The paging parameters of a list of `T`: results strictly before or after the given one. */
export interface Paging<T extends Structure> {
  /** Only results before this one (excluded). */
  before: IdOr<T>;
  /** Only results after this one (excluded). */
  after: IdOr<T>;
}

/**
 * The named form of a method's optional parameters; `undefined` values count as not given.
 * Every optional-parameter name of `Spec` must have a type in `Types` (checked when compiled).
 */
export type OptionsOf<
  Spec extends MethodSpec & { readonly optional: readonly (keyof Types)[] },
  Types = ParamTypes,
> = {
  [K in keyof Pick<Types, Spec['optional'][number]>]?: Types[K] | undefined;
};

type Send = typeof SEND_METHODS;
type Recv = typeof RECV_METHODS;
type Server = typeof SERVER_METHODS;

/** Options of `createDestination`. */
export type CreateDestinationOptions = OptionsOf<Send['createDestination']>;
/** Options of `createManifest`. */
export type CreateManifestOptions = OptionsOf<Send['createManifest']>;
/** Options of `createSharedToken`. */
/** Options of `createDownload`. */
export type CreateDownloadOptions = OptionsOf<Send['createDownload']>;
export type CreateSharedTokenOptions = OptionsOf<Send['createSharedToken']>;
/** Options of `createTransfer`. */
export type CreateTransferOptions = OptionsOf<Send['createTransfer']>;
/** Options of `failTransfer`. */
export type FailTransferOptions = OptionsOf<Send['failTransfer']>;
/**
 * Options of `getConnections`, `getDestinations`, `getSharedTokens`, `getManifestFiles` and
 * `getSourcesAsync`.
 */
export type LimitOptions = OptionsOf<Send['getConnections']>;
/** Options of `getManifests`. */
export type GetManifestsOptions = OptionsOf<
  Send['getManifests'],
  ParamTypes & Paging<Manifest>
>;
/** Options of `getTransfer`. */
export type GetTransferOptions = OptionsOf<Send['getTransfer']>;
/** Options of `getTransfers`. */
export type GetTransfersOptions = OptionsOf<
  Send['getTransfers'],
  ParamTypes & Paging<Transfer>
>;
/** Options of `getTransferFiles`: `after` is a file, by `fileIndex` or record. */
export type GetTransferFilesOptions = OptionsOf<
  Send['getTransferFiles'],
  ParamTypes & { after: number | TransferFile }
>;
/** Options of `setTransferPriorityAsync`. */
export type SetTransferPriorityOptions = OptionsOf<
  Send['setTransferPriorityAsync']
>;
/** Options of `updateConnectionParamsAsync`. */
export type UpdateConnectionParamsOptions = OptionsOf<
  Send['updateConnectionParamsAsync']
>;
/** Options of `updateObjectUserData`. */
export type UpdateObjectUserDataOptions = OptionsOf<Send['updateObjectUserData']>;
/** Options of `updateSharedToken`. */
export type UpdateSharedTokenOptions = OptionsOf<Send['updateSharedToken']>;
/** Options of `updateTransferDefaults`. */
export type UpdateTransferDefaultsOptions = OptionsOf<
  Send['updateTransferDefaults']
>;
/** Options of `createAPIToken`. */
export type CreateAPITokenOptions = OptionsOf<Server['createAPIToken']>;
/** Options of `getRequestResult`. */
export type GetRequestResultOptions = OptionsOf<Server['getRequestResult']>;
/** A received transfer, by `receivedId` or record. */
export type ReceivedTransferRef = number | ReceivedTransfer;

/** Options of `RecvInterface.getTransfersAsync`: pages by `receivedId`. */
export type GetReceivedTransfersOptions = OptionsOf<
  Recv['getTransfersAsync'],
  ParamTypes & { before: ReceivedTransferRef; after: ReceivedTransferRef }
>;

/** Options of `ServerInterface.getEventLog`: `after` is an event, by `eventId` or entry. */
export type GetEventLogOptions = OptionsOf<
  Server['getEventLog'],
  ParamTypes & { after: number | EventLogEntry }
>;
/** Options of `ServerInterface.updateBandwidthLimits`: a cap left out stays as it is. */
export type UpdateBandwidthLimitsOptions = OptionsOf<Server['updateBandwidthLimits']>;
/** Options of `ServerInterface.mkFileAsync`. */
export type MkFileOptions = OptionsOf<Server['mkFileAsync']>;
