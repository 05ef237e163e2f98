/**
 * The method table of the API: for every method of `SendInterface`, `RecvInterface` and
 * `ServerInterface`, its required and optional parameter names in documented order. The
 * calling convention (`args.ts`), the option types (`options.ts`) and the interface classes
 * are all driven by this one table.
 *
 * @module
 */

/** The parameter lists of one method, in documented order. */
export interface MethodSpec {
  /** Parameters that must be given, positionally. */
  readonly required: readonly string[];
  /** Parameters that may be given positionally after the required ones, or by name. */
  readonly optional: readonly string[];
}

/** Request tracking, served by the send and server interfaces alike. */
const REQUEST_METHODS = {
  getRequestStatus: { required: ['requestId'], optional: [] },
  getRequestResult: { required: ['requestId'], optional: ['timeoutSeconds'] },
} as const satisfies Record<string, MethodSpec>;

/**
 * `SendInterface`: every method of the vendor's page, plus request tracking and two of ours:
 * `createDownload` (the holder of a shared token has its manifest sent to it) and
 * `getTransferFiles` (the vendor's page has only `getTransfer`'s completion flags).
 */
export const SEND_METHODS = {
  createDestination: {
    required: ['destinationAddress'],
    optional: [
      'sendRateMax',
      'destinationPort',
      'authenticateDestination',
      'destinationPublicKey',
      'relayAddress',
      'relayPort',
      'senderPort',
      'exclusive',
      'permanent',
    ],
  },
  createManifest: { required: [], optional: ['fileMappings', 'mappings', 'symlinkOptions'] },
  createDownload: {
    required: ['destinationPort'],
    optional: ['destinationAddress', 'destinationPublicKey', 'destinationPath'],
  },
  createSharedToken: {
    required: ['manifestId'],
    optional: ['password', 'downloadLimit', 'timeLimitSeconds', 'description'],
  },
  createTransfer: {
    required: ['destinationId', 'manifestId'],
    optional: [
      'destinationPath',
      'userName',
      'password',
      'priority',
      'transferFlags',
      'checkpointFrequencySeconds',
      'sendRateMax',
      'priorityLane',
      'overwriteMode',
      'minCipher',
      'fileTimeResolutionMicroseconds',
      'timeoutSeconds',
      'userData',
      'token',
      'transferLog',
      'skipMode',
    ],
  },
  deleteDestination: { required: ['destinationId'], optional: [] },
  deleteManifest: { required: ['manifestId'], optional: [] },
  deleteObjectUserData: { required: ['objId', 'key'], optional: [] },
  deleteSharedToken: { required: ['token'], optional: [] },
  deleteTransfer: { required: ['transferId'], optional: [] },
  failTransfer: { required: ['transferId'], optional: ['errorMessage'] },
  getConnection: { required: ['connectionId'], optional: [] },
  getConnections: { required: [], optional: ['limit'] },
  getDestination: { required: ['destinationId'], optional: [] },
  getDestinations: { required: [], optional: ['limit'] },
  getManifest: { required: ['manifestId'], optional: [] },
  getManifestFiles: { required: ['manifestId'], optional: ['limit'] },
  getManifests: { required: [], optional: ['before', 'after', 'limit'] },
  getSharedToken: { required: ['token'], optional: [] },
  getSharedTokens: { required: [], optional: ['limit'] },
  getTransfer: { required: ['transferId'], optional: ['getCompleteFlags'] },
  getTransfers: { required: [], optional: ['destinationId', 'before', 'after', 'limit'] },
  getTransferFiles: { required: ['transferId'], optional: ['after', 'limit'] },
  resumeTransferAsync: { required: ['transferId'], optional: [] },
  schedulePingAsync: { required: ['destinationId', 'pingCount'], optional: [] },
  setPriorityLanesAsync: { required: ['destinationId', 'priorityLanes'], optional: [] },
  setSendRateMaxAsync: { required: ['destinationId', 'sendRateMax'], optional: [] },
  setTransferPriorityAsync: { required: ['transferId'], optional: ['priority', 'priorityLane'] },
  setTransferSendRateMaxAsync: { required: ['transferId', 'sendRateMax'], optional: [] },
  suspendTransferAsync: { required: ['transferId'], optional: [] },
  updateConnectionParamsAsync: {
    required: ['connectionId'],
    optional: ['sendRateMin', 'sendRateMax', 'sendRate', 'rateControlEnabled', 'rateControlMethod'],
  },
  updateObjectUserData: { required: ['objId', 'key'], optional: ['value'] },
  updateSharedToken: { required: ['token'], optional: ['timeLimitSeconds', 'description'] },
  updateTransferDefaults: {
    required: ['destinationId'],
    optional: [
      'priority',
      'transferFlags',
      'checkpointFrequencySeconds',
      'sendRateMax',
      'priorityLane',
      'overwriteMode',
      'minCipher',
      'fileTimeResolutionMicroseconds',
    ],
  },
  waitForManifest: { required: ['manifestId'], optional: [] },
  waitForTransfer: { required: ['transferId'], optional: [] },
  ...REQUEST_METHODS,
} as const satisfies Record<string, MethodSpec>;

/**
 * `RecvInterface`: sources, received transfers and the authorized sender keys. The parameter
 * names are the vendor's; the engine also accepts the older names `publicKey` (for
 * `clientPublicKey`) and `enabled` (for `onlyAuthorizedClientsAllowed`) from raw commands.
 */
export const RECV_METHODS = {
  getSourcesAsync: { required: [], optional: ['limit'] },
  getTransfersAsync: { required: [], optional: ['before', 'after', 'limit'] },
  addAuthorizedClientAsync: { required: ['clientPublicKey'], optional: [] },
  removeAuthorizedClientAsync: { required: ['clientPublicKey'], optional: [] },
  allowOnlyAuthorizedClientsAsync: { required: ['onlyAuthorizedClientsAllowed'], optional: [] },
} as const satisfies Record<string, MethodSpec>;

/**
 * `ServerInterface`: the server's description, logins and API tokens, its event log,
 * bandwidth limits, garbage collection, the sandbox's file operations and per-user mappings,
 * and request tracking. `createSandboxMapping` is ours (the vendor's page lists and deletes
 * mappings only).
 */
export const SERVER_METHODS = {
  getServerInfo: { required: [], optional: [] },
  auth: { required: ['userName', 'password'], optional: [] },
  authAsync: { required: ['userName', 'password'], optional: [] },
  authToken: { required: ['token'], optional: ['password'] },
  createAPIToken: {
    required: [],
    optional: ['description', 'sandboxPath', 'permissions', 'timeLimitSeconds'],
  },
  deleteAPIToken: { required: ['token'], optional: [] },
  getAPIToken: { required: ['token'], optional: [] },
  getAPITokens: { required: [], optional: ['limit'] },
  echo: { required: ['value'], optional: [] },
  getEventLog: { required: [], optional: ['limit', 'after'] },
  updateBandwidthLimits: { required: [], optional: ['incomingKbps', 'outgoingKbps'] },
  garbageCollect: { required: [], optional: [] },
  lsAsync: { required: ['path'], optional: [] },
  lsListAsync: { required: ['paths'], optional: [] },
  lsRootsAsync: { required: [], optional: [] },
  duAsync: { required: ['path'], optional: [] },
  mkdirAsync: { required: ['path'], optional: [] },
  mkFileAsync: { required: ['path'], optional: ['content'] },
  mvAsync: { required: ['src', 'dst'], optional: [] },
  getSandboxMappings: { required: [], optional: [] },
  createSandboxMapping: { required: ['userName', 'path'], optional: [] },
  deleteSandboxMapping: { required: ['name'], optional: [] },
  ...REQUEST_METHODS,
} as const satisfies Record<string, MethodSpec>;

/** A method name of `SendInterface`. */
export type SendMethod = keyof typeof SEND_METHODS;
/** A method name of `RecvInterface`. */
export type RecvMethod = keyof typeof RECV_METHODS;
/** A method of request tracking, served by `SendInterface` and `ServerInterface`. */
export type RequestMethod = keyof typeof REQUEST_METHODS;
/** A method name of `ServerInterface`. */
export type ServerMethod = keyof typeof SERVER_METHODS;

/**
 * Parameters whose value may itself be a plain object (a structure standing for an id, a
 * mapping or user data). A trailing plain object with keys that are not option names is
 * taken positionally only when it lands on one of these.
 */
export const OBJECT_PARAMETERS: ReadonlySet<string> = new Set([
  'destinationId',
  'before',
  'after',
  'fileMappings',
  'mappings',
  'userData',
]);
