// Bad input for every method of SendInterface, RecvInterface and ServerInterface, against a
// real engine (embedded, or a server through the remote client): a missing required argument, a wrong type, an unknown id, an
// out-of-range number and an unknown option name each fail with a CommandError of the right
// code whose message names the parameter, and change nothing (the engine's objects, the
// receiver's settings and the request queue are the same before and after).
//
// Each case runs twice: through the interface classes (the calling convention may refuse it
// first) and as a raw command to the same engine (the engine's own checks). A method without a
// parameter of some kind has no case of that kind; the table says so explicitly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  RecvInterface,
  SendInterface,
  ServerInterface,
  toCommandError,
  type CommandError,
  type CommandTransport,
  type ErrorCode,
} from '../ts/index.js';
import { RECV_METHODS, SEND_METHODS, SERVER_METHODS, type MethodSpec } from '../ts/api/methods.js';
import { closeAll, engine, engineTransport, tempDir, tree } from './support/engines.js';
import { failure } from './support/probes.js';

/** The objects every case refers to, made once on one sender engine. */
interface Fixture {
  destinationId: string;
  manifestId: string;
  transferId: number;
  token: string;
  connectionId: number;
  requestId: number;
  /** A well-formed public key (the receiver's). */
  publicKey: string;
  /** An existing source file. */
  source: string;
}

/** An id of each kind that names nothing. */
const NO_STRING_ID = '0123456789abcdef0123456789abcdef';
const NO_INT_ID = 987_654_321;

/** One kind of bad input. */
type Kind = 'missing' | 'wrong type' | 'unknown id' | 'out of range' | 'unknown option';

/** One bad call: its parameters by name, and what the error must be. */
interface Case {
  kind: Kind;
  /** The parameter the message must name. */
  param: string;
  /** Complete parameters of the call, by name; `undefined` values are left out. */
  params: Record<string, unknown>;
  code: ErrorCode;
}

/** How to call one method well, and its bad variants beyond the generated ones. */
interface MethodCases {
  /** Valid parameters by name (required ones at least). */
  valid: (f: Fixture) => Record<string, unknown>;
  /** Parameter → a value of the wrong type. */
  wrongType: Record<string, unknown>;
  /** Parameters (merged over `valid`) naming an object that does not exist, and which. */
  unknownId?: [string, (f: Fixture) => Record<string, unknown>];
  /** Parameter → an out-of-range number. */
  outOfRange?: Record<string, unknown>;
  /** Why the method has no unknown-id or out-of-range case, when it has none. */
  none?: string;
}

const SEND: Record<keyof typeof SEND_METHODS, MethodCases> = {
  createDestination: {
    valid: () => ({ destinationAddress: '127.0.0.1', destinationPort: 7601 }),
    wrongType: { destinationAddress: 42, exclusive: 'yes', destinationPort: '7601' },
    outOfRange: { destinationPort: 70_000, sendRateMax: -5, senderPort: -2, relayPort: 65_536 },
    none: 'no id parameter',
  },
  createManifest: {
    valid: (f) => ({ mappings: { copy: f.source } }),
    wrongType: { mappings: 5, fileMappings: ['a'], symlinkOptions: 'ignore' },
    unknownId: ['mappings', () => ({ mappings: { copy: '/no/such/source/file' } })],
    outOfRange: { symlinkOptions: 5 },
  },
  createDownload: {
    valid: () => ({ destinationPort: 7601 }),
    wrongType: {
      destinationPort: '7601',
      destinationAddress: 5,
      destinationPublicKey: 3,
      destinationPath: [],
    },
    outOfRange: { destinationPort: 70_000 },
    none: 'no id parameter: the token is the session one logged in with',
  },
  createSharedToken: {
    valid: (f) => ({ manifestId: f.manifestId }),
    wrongType: { manifestId: 12, password: 5, description: true },
    unknownId: ['manifestId', () => ({ manifestId: NO_STRING_ID })],
    outOfRange: { downloadLimit: -1, timeLimitSeconds: -1 },
  },
  createTransfer: {
    valid: (f) => ({ destinationId: f.destinationId, manifestId: f.manifestId }),
    wrongType: { destinationId: 1, manifestId: false, userData: { a: 1 }, transferLog: 'on' },
    unknownId: ['destinationId', () => ({ destinationId: NO_STRING_ID })],
    outOfRange: {
      priority: 2 ** 32,
      overwriteMode: 6,
      minCipher: 4,
      transferFlags: 0x100,
      timeoutSeconds: -1,
      checkpointFrequencySeconds: -1,
      sendRateMax: -2,
      fileTimeResolutionMicroseconds: -1,
    },
  },
  deleteDestination: {
    valid: (f) => ({ destinationId: f.destinationId }),
    wrongType: { destinationId: 7 },
    unknownId: ['destinationId', () => ({ destinationId: NO_STRING_ID })],
    none: 'no number parameter',
  },
  deleteManifest: {
    valid: (f) => ({ manifestId: f.manifestId }),
    wrongType: { manifestId: [] },
    unknownId: ['manifestId', () => ({ manifestId: NO_STRING_ID })],
    none: 'no number parameter',
  },
  deleteObjectUserData: {
    valid: (f) => ({ objId: f.destinationId, key: 'k' }),
    wrongType: { objId: true, key: 5 },
    unknownId: ['objId', () => ({ objId: NO_INT_ID })],
    outOfRange: { objId: 0 },
  },
  deleteSharedToken: {
    valid: (f) => ({ token: f.token }),
    wrongType: { token: 3 },
    unknownId: ['token', () => ({ token: NO_STRING_ID })],
    none: 'no number parameter',
  },
  deleteTransfer: {
    valid: (f) => ({ transferId: f.transferId }),
    wrongType: { transferId: 'one' },
    unknownId: ['transferId', () => ({ transferId: NO_INT_ID })],
    outOfRange: { transferId: 0 },
  },
  failTransfer: {
    valid: (f) => ({ transferId: f.transferId }),
    wrongType: { transferId: {}, errorMessage: 5 },
    unknownId: ['transferId', () => ({ transferId: NO_INT_ID })],
    outOfRange: { transferId: -1 },
  },
  getConnection: {
    valid: (f) => ({ connectionId: f.connectionId }),
    wrongType: { connectionId: 'c' },
    unknownId: ['connectionId', () => ({ connectionId: NO_INT_ID })],
    outOfRange: { connectionId: 0 },
  },
  getConnections: {
    valid: () => ({}),
    wrongType: { limit: '5' },
    outOfRange: { limit: -1 },
    none: 'no id parameter',
  },
  getDestination: {
    valid: (f) => ({ destinationId: f.destinationId }),
    wrongType: { destinationId: 3.5 },
    unknownId: ['destinationId', () => ({ destinationId: NO_STRING_ID })],
    none: 'no number parameter',
  },
  getDestinations: {
    valid: () => ({}),
    wrongType: { limit: true },
    outOfRange: { limit: 1.5 },
    none: 'no id parameter',
  },
  getManifest: {
    valid: (f) => ({ manifestId: f.manifestId }),
    wrongType: { manifestId: 1 },
    unknownId: ['manifestId', () => ({ manifestId: NO_STRING_ID })],
    none: 'no number parameter',
  },
  getManifestFiles: {
    valid: (f) => ({ manifestId: f.manifestId }),
    wrongType: { manifestId: 1, limit: 'all' },
    unknownId: ['manifestId', () => ({ manifestId: NO_STRING_ID })],
    outOfRange: { limit: -1 },
  },
  getManifests: {
    // With a real option beside it, an unknown name is a misspelt option, not a structure.
    valid: () => ({ limit: 10 }),
    wrongType: { before: 5, limit: 'x' },
    unknownId: ['after', () => ({ after: NO_STRING_ID })],
    outOfRange: { limit: -3 },
  },
  getSharedToken: {
    valid: (f) => ({ token: f.token }),
    wrongType: { token: false },
    unknownId: ['token', () => ({ token: NO_STRING_ID })],
    none: 'no number parameter',
  },
  getSharedTokens: {
    valid: () => ({}),
    wrongType: { limit: [] },
    outOfRange: { limit: -1 },
    none: 'no id parameter',
  },
  getTransfer: {
    valid: (f) => ({ transferId: f.transferId }),
    wrongType: { transferId: 'x', getCompleteFlags: 1 },
    unknownId: ['transferId', () => ({ transferId: NO_INT_ID })],
    outOfRange: { transferId: 1.5 },
  },
  getTransfers: {
    valid: () => ({ limit: 10 }),
    wrongType: { destinationId: 5, before: 'x', limit: false },
    unknownId: ['destinationId', () => ({ destinationId: NO_STRING_ID })],
    outOfRange: { limit: -1, after: 0 },
  },
  getTransferFiles: {
    valid: (f) => ({ transferId: f.transferId, limit: 10 }),
    wrongType: { transferId: 'x', after: 'first', limit: false },
    unknownId: ['transferId', () => ({ transferId: NO_INT_ID })],
    outOfRange: { transferId: 0, after: -1, limit: -1 },
  },
  resumeTransferAsync: {
    valid: (f) => ({ transferId: f.transferId }),
    wrongType: { transferId: [1] },
    unknownId: ['transferId', () => ({ transferId: NO_INT_ID })],
    outOfRange: { transferId: 0 },
  },
  schedulePingAsync: {
    valid: (f) => ({ destinationId: f.destinationId, pingCount: 1 }),
    wrongType: { destinationId: 1, pingCount: '3' },
    unknownId: ['destinationId', () => ({ destinationId: NO_STRING_ID })],
    outOfRange: { pingCount: 0 },
  },
  setPriorityLanesAsync: {
    valid: (f) => ({ destinationId: f.destinationId, priorityLanes: { Only: 1 } }),
    wrongType: { destinationId: 2, priorityLanes: 'High' },
    unknownId: ['destinationId', () => ({ destinationId: NO_STRING_ID })],
    outOfRange: { priorityLanes: { A: 1.5, B: -0.5 } },
  },
  setSendRateMaxAsync: {
    valid: (f) => ({ destinationId: f.destinationId, sendRateMax: 100 }),
    wrongType: { destinationId: 2, sendRateMax: 'fast' },
    unknownId: ['destinationId', () => ({ destinationId: NO_STRING_ID })],
    outOfRange: { sendRateMax: -1 },
  },
  setTransferPriorityAsync: {
    valid: (f) => ({ transferId: f.transferId, priority: 1 }),
    wrongType: { transferId: 'x', priority: '1', priorityLane: 3 },
    unknownId: ['transferId', () => ({ transferId: NO_INT_ID })],
    outOfRange: { priority: -1 },
  },
  setTransferSendRateMaxAsync: {
    valid: (f) => ({ transferId: f.transferId, sendRateMax: 100 }),
    wrongType: { transferId: 'x', sendRateMax: 'max' },
    unknownId: ['transferId', () => ({ transferId: NO_INT_ID })],
    outOfRange: { sendRateMax: -2 },
  },
  suspendTransferAsync: {
    valid: (f) => ({ transferId: f.transferId }),
    wrongType: { transferId: true },
    unknownId: ['transferId', () => ({ transferId: NO_INT_ID })],
    outOfRange: { transferId: 0 },
  },
  updateConnectionParamsAsync: {
    valid: (f) => ({ connectionId: f.connectionId }),
    wrongType: { connectionId: 'c', rateControlEnabled: 1, sendRate: 'x' },
    unknownId: ['connectionId', () => ({ connectionId: NO_INT_ID })],
    outOfRange: { sendRateMin: -1, sendRateMax: -1, rateControlMethod: -1 },
  },
  updateObjectUserData: {
    valid: (f) => ({ objId: f.destinationId, key: 'k', value: 'v' }),
    wrongType: { objId: [], key: 1, value: 2 },
    unknownId: ['objId', () => ({ objId: NO_STRING_ID })],
    outOfRange: { objId: -3 },
  },
  updateSharedToken: {
    valid: (f) => ({ token: f.token, description: 'd' }),
    wrongType: { token: 1, description: 5, timeLimitSeconds: '60' },
    unknownId: ['token', () => ({ token: NO_STRING_ID })],
    outOfRange: { timeLimitSeconds: -1 },
  },
  updateTransferDefaults: {
    valid: (f) => ({ destinationId: f.destinationId, priority: 5 }),
    wrongType: { destinationId: 1, priorityLane: 5, minCipher: 'high' },
    unknownId: ['destinationId', () => ({ destinationId: NO_STRING_ID })],
    outOfRange: { overwriteMode: 9, priority: 2 ** 32, minCipher: -1 },
  },
  waitForManifest: {
    valid: (f) => ({ manifestId: f.manifestId }),
    wrongType: { manifestId: 5 },
    unknownId: ['manifestId', () => ({ manifestId: NO_STRING_ID })],
    none: 'no number parameter',
  },
  waitForTransfer: {
    valid: (f) => ({ transferId: f.transferId }),
    wrongType: { transferId: 'x' },
    unknownId: ['transferId', () => ({ transferId: NO_INT_ID })],
    outOfRange: { transferId: 0 },
  },
  getRequestStatus: {
    valid: (f) => ({ requestId: f.requestId }),
    wrongType: { requestId: 'r' },
    unknownId: ['requestId', () => ({ requestId: NO_INT_ID })],
    outOfRange: { requestId: 0 },
  },
  getRequestResult: {
    valid: (f) => ({ requestId: f.requestId }),
    wrongType: { requestId: 'r', timeoutSeconds: '1' },
    unknownId: ['requestId', () => ({ requestId: NO_INT_ID })],
    outOfRange: { timeoutSeconds: -1, requestId: -1 },
  },
};

const RECV: Record<keyof typeof RECV_METHODS, MethodCases> = {
  getSourcesAsync: {
    valid: () => ({}),
    wrongType: { limit: 'ten' },
    outOfRange: { limit: -1 },
    none: 'no id parameter',
  },
  getTransfersAsync: {
    valid: () => ({ limit: 10 }),
    wrongType: { before: 'x', limit: {} },
    outOfRange: { after: 0, limit: -1 },
    none: 'received ids are bounds of an order, like transfer ids: no unknown-id case',
  },
  addAuthorizedClientAsync: {
    valid: (f) => ({ clientPublicKey: f.publicKey }),
    wrongType: { clientPublicKey: 12 },
    none: 'no id and no number parameter (a new key is what it adds)',
  },
  removeAuthorizedClientAsync: {
    valid: (f) => ({ clientPublicKey: f.publicKey }),
    wrongType: { clientPublicKey: false },
    unknownId: ['clientPublicKey', () => ({ clientPublicKey: 'ab'.repeat(32) })],
    none: 'no number parameter',
  },
  allowOnlyAuthorizedClientsAsync: {
    valid: () => ({ onlyAuthorizedClientsAllowed: true }),
    wrongType: { onlyAuthorizedClientsAllowed: 'true' },
    none: 'no id and no number parameter',
  },
};

const SERVER: Record<keyof typeof SERVER_METHODS, MethodCases> = {
  getServerInfo: {
    valid: () => ({}),
    wrongType: {},
    none: 'no parameter at all: only the unknown option applies',
  },
  auth: {
    valid: () => ({ userName: 'nobody', password: 'secret' }),
    wrongType: { userName: 7, password: false },
    none: 'an unknown user is refused with AUTH_FAILED, like a wrong password; no number',
  },
  authAsync: {
    valid: () => ({ userName: 'nobody', password: 'secret' }),
    wrongType: { userName: [], password: 3 },
    none: 'an unknown user is refused with AUTH_FAILED, like a wrong password; no number',
  },
  authToken: {
    valid: () => ({ token: 'ab'.repeat(16), password: 'secret' }),
    wrongType: { token: 5, password: 7 },
    none: 'an unknown token is refused with AUTH_FAILED, like a wrong password; no number',
  },
  createAPIToken: {
    valid: () => ({ description: 'd' }),
    wrongType: { description: 5, sandboxPath: {}, permissions: 'send', timeLimitSeconds: 'x' },
    outOfRange: { timeLimitSeconds: -1 },
    none: 'no id parameter',
  },
  deleteAPIToken: {
    valid: () => ({ token: 'ab'.repeat(8) }),
    wrongType: { token: 12 },
    unknownId: ['token', () => ({ token: 'cd'.repeat(32) })],
    none: 'no number parameter',
  },
  getAPIToken: {
    valid: () => ({ token: 'ab'.repeat(8) }),
    wrongType: { token: true },
    unknownId: ['token', () => ({ token: 'cd'.repeat(8) })],
    none: 'no number parameter',
  },
  getAPITokens: {
    valid: () => ({}),
    wrongType: { limit: 'ten' },
    outOfRange: { limit: -1 },
    none: 'no id parameter',
  },
  echo: {
    valid: () => ({ value: 1 }),
    wrongType: {},
    none: 'any JSON value is one to echo: only the missing value and the unknown option apply',
  },
  getEventLog: {
    valid: () => ({ limit: 10 }),
    wrongType: { limit: 'ten', after: 'x' },
    outOfRange: { limit: -1, after: 0 },
    none: 'event ids are bounds of an order, like transfer ids: no unknown-id case',
  },
  updateBandwidthLimits: {
    valid: () => ({}),
    wrongType: { incomingKbps: 'fast', outgoingKbps: true },
    outOfRange: { incomingKbps: -1, outgoingKbps: -8 },
    none: 'no id parameter',
  },
  garbageCollect: {
    valid: () => ({}),
    wrongType: {},
    none: 'no parameter at all: only the unknown option applies',
  },
  lsAsync: {
    valid: () => ({ path: '' }),
    wrongType: { path: 5 },
    none: 'no id and no number parameter',
  },
  lsListAsync: {
    valid: () => ({ paths: [''] }),
    wrongType: { paths: 'a' },
    none: 'no id and no number parameter',
  },
  lsRootsAsync: {
    valid: () => ({}),
    wrongType: {},
    none: 'no parameter at all: only the unknown option applies',
  },
  duAsync: {
    valid: () => ({ path: '' }),
    wrongType: { path: [] },
    none: 'no id and no number parameter',
  },
  mkdirAsync: {
    valid: () => ({ path: 'made' }),
    wrongType: { path: {} },
    none: 'no id and no number parameter',
  },
  mkFileAsync: {
    valid: () => ({ path: 'made.txt' }),
    wrongType: { path: 1, content: 2 },
    none: 'no id and no number parameter',
  },
  mvAsync: {
    valid: () => ({ src: 'a', dst: 'b' }),
    wrongType: { src: 1, dst: false },
    none: 'no id and no number parameter',
  },
  getSandboxMappings: {
    valid: () => ({}),
    wrongType: {},
    none: 'no parameter at all: only the unknown option applies',
  },
  createSandboxMapping: {
    valid: () => ({ userName: 'ann', path: 'users/%u' }),
    wrongType: { userName: 3, path: {} },
    none: 'no id and no number parameter (a new mapping is what it makes)',
  },
  deleteSandboxMapping: {
    valid: () => ({ name: 'ann' }),
    wrongType: { name: 1 },
    unknownId: ['name', () => ({ name: 'nobody' })],
    none: 'no number parameter',
  },
  getRequestStatus: SEND.getRequestStatus,
  getRequestResult: SEND.getRequestResult,
};

/** The bad calls of one method, generated from its parameter lists and its table entry. */
function casesOf(spec: MethodSpec, table: MethodCases, f: Fixture): Case[] {
  const valid = table.valid(f);
  const cases: Case[] = spec.required.map((param) => ({
    kind: 'missing',
    param,
    params: { ...valid, [param]: undefined },
    code: 'INVALID_ARGUMENT',
  }));
  for (const [param, value] of Object.entries(table.wrongType)) {
    cases.push({ kind: 'wrong type', param, params: { ...valid, [param]: value }, code: 'INVALID_ARGUMENT' });
  }
  if (table.unknownId !== undefined) {
    const [param, make] = table.unknownId;
    cases.push({ kind: 'unknown id', param, params: { ...valid, ...make(f) }, code: 'NOT_FOUND' });
  }
  for (const [param, value] of Object.entries(table.outOfRange ?? {})) {
    cases.push({ kind: 'out of range', param, params: { ...valid, [param]: value }, code: 'INVALID_ARGUMENT' });
  }
  cases.push({
    kind: 'unknown option',
    param: 'bogusOption',
    params: { ...valid, bogusOption: 1 },
    code: 'INVALID_ARGUMENT',
  });
  return cases;
}

/**
 * The arguments of a facade call with `params`: required ones positionally, optional ones in
 * a trailing named object (unknown names too: they are what the calling convention checks).
 */
function argsOf(spec: MethodSpec, params: Record<string, unknown>): unknown[] {
  const args: unknown[] = spec.required.map((name) => params[name]);
  const named = Object.fromEntries(
    Object.entries(params).filter(([name, value]) => !spec.required.includes(name) && value !== undefined),
  );
  if (Object.keys(named).length > 0) {
    args.push(named);
  }
  return args;
}

/** The raw command's parameters: `undefined` required values become `null`, as JSON has it. */
function rawOf(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v === undefined ? null : v]));
}

let transport: CommandTransport;
let ifaces: { send: SendInterface; recv: RecvInterface; server: ServerInterface };
let fixture: Fixture;
/** The highest request id so far: a refused call must not make a new one. */
let lastRequestId = 0;

beforeAll(async () => {
  transport = await engineTransport();
  ifaces = {
    send: new SendInterface(transport),
    recv: new RecvInterface(transport),
    server: new ServerInterface(transport),
  };
  const { send, server } = ifaces;
  const receiver = await engine();
  const info = await receiver.server.getServerInfo();
  const { publicKey: senderKey } = await server.getServerInfo();
  await receiver.server.getRequestResult(await receiver.recv.addAuthorizedClientAsync(senderKey));
  const destination = await send.createDestination('127.0.0.1', {
    destinationPort: info.recvPort,
    permanent: true,
  });
  const source = tree(tempDir(), { 'f.bin': 5_000 });
  const manifest = await send.createManifest({ mappings: { t: source } });
  await send.waitForManifest(manifest);
  const transfer = await send.waitForTransfer(await send.createTransfer(destination, manifest));
  expect(transfer.status).toBe('complete');
  const token = await send.createSharedToken(manifest, { description: 'kept' });
  await send.updateObjectUserData(destination, 'k', 'v');
  const request = await send.setSendRateMaxAsync(destination, 1_000);
  await server.getRequestResult(request);
  lastRequestId = request.requestId;
  fixture = {
    destinationId: destination.destinationId,
    manifestId: manifest.manifestId,
    transferId: transfer.transferId,
    token: token.token,
    connectionId: destination.connectionId ?? 0,
    requestId: request.requestId,
    publicKey: info.publicKey,
    source: `${source}/f.bin`,
  };
});

afterAll(closeAll);

/** Everything a refused call must leave as it was. */
async function snapshot(): Promise<unknown> {
  const { send, server } = ifaces;
  return {
    destinations: await send.getDestinations(),
    connections: await send.getConnections(),
    manifests: await send.getManifests(),
    files: await send.getManifestFiles(fixture.manifestId),
    transfers: await send.getTransfers(),
    tokens: await send.getSharedTokens(),
    onlyAuthorized: (await server.getServerInfo()).onlyAuthorizedClientsAllowed,
  };
}

/** Runs `call`, which must fail as `bad` says, and checks that nothing changed. */
async function refused(bad: Case, call: () => Promise<unknown>): Promise<CommandError> {
  const before = await snapshot();
  const error = await failure(call());
  expect(error.code, error.message).toBe(bad.code);
  expect(error.message).toContain(bad.param);
  expect(await snapshot()).toEqual(before);
  // No request was queued for a refused call.
  expect((await failure(ifaces.server.getRequestStatus(lastRequestId + 1))).code).toBe('NOT_FOUND');
  return error;
}

const INTERFACES = [
  { name: 'send', specs: SEND_METHODS, tables: SEND },
  { name: 'recv', specs: RECV_METHODS, tables: RECV },
  { name: 'server', specs: SERVER_METHODS, tables: SERVER },
] as const;

for (const { name, specs, tables } of INTERFACES) {
  describe(`${name} interface`, () => {
    for (const [method, spec] of Object.entries(specs) as [string, MethodSpec][]) {
      const table = (tables as Record<string, MethodCases>)[method];
      it(`${method}: every kind of bad input is refused and changes nothing`, async () => {
        expect(table, `${method} has a row in the table`).toBeDefined();
        if (table === undefined) {
          return;
        }
        const cases = casesOf(spec, table, fixture);
        const kinds = new Set(cases.map((c) => c.kind));
        // Every kind is covered, or the table says why the method has no parameter of it.
        for (const kind of ['unknown id', 'out of range'] as const) {
          if (!kinds.has(kind)) {
            expect(table.none, `${method} lacks a ${kind} case`).toBeTruthy();
          }
        }
        const iface = ifaces[name] as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
        for (const bad of cases) {
          const label = `${method} ${bad.kind} ${bad.param}`;
          const viaFacade = await refused(bad, () => {
            const fn = iface[method];
            if (fn === undefined) {
              throw new Error(`${label}: no such method`);
            }
            return fn.apply(iface, argsOf(spec, bad.params));
          }).catch((e: unknown) => {
            throw new Error(`${label} (facade): ${String(e)}`);
          });
          expect(viaFacade.code, label).toBe(bad.code);
          const viaEngine = await refused(bad, async () => {
            try {
              return await transport.execute(method, rawOf(bad.params));
            } catch (error) {
              throw toCommandError(error);
            }
          }).catch((e: unknown) => {
            throw new Error(`${label} (engine): ${String(e)}`);
          });
          expect(viaEngine.code, label).toBe(bad.code);
        }
      });
    }
  });
}

describe('createManifest', () => {
  it('with neither mappings nor fileMappings names both and changes nothing', async () => {
    const bad: Case = { kind: 'missing', param: 'mappings', params: {}, code: 'INVALID_ARGUMENT' };
    const error = await refused(bad, () => ifaces.send.createManifest());
    expect(error.message).toContain('fileMappings');
  });
});
