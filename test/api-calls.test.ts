// The calling convention of the interface classes, against a recording transport: what each
// call sends, which calls are refused before anything is sent, and how transport errors
// surface. The engine behind the transport is tested elsewhere.
import { describe, expect, it } from 'vitest';

import {
  CommandError,
  jsonTransport,
  RecvInterface,
  SendInterface,
  ServerInterface,
  type CommandTransport,
  type Destination,
} from '../ts/index.js';
import {
  RECV_METHODS,
  SEND_METHODS,
  SERVER_METHODS,
  type MethodSpec,
} from '../ts/api/methods.js';

/** One command the transport was asked to run. */
interface Recorded {
  method: string;
  params: Record<string, unknown>;
}

/** A transport that records every command and resolves to `result`, or rejects with `error`. */
class RecordingTransport implements CommandTransport {
  readonly calls: Recorded[] = [];

  constructor(
    private readonly result: unknown = { ok: true },
    private readonly error?: unknown,
  ) {}

  execute(method: string, params: Record<string, unknown>): Promise<unknown> {
    this.calls.push({ method, params });
    return this.error === undefined ? Promise.resolve(this.result) : Promise.reject(this.error);
  }
}

/** An interface class, seen as a table of methods by name (to drive every method alike). */
type Dynamic = Record<string, (...args: unknown[]) => Promise<unknown>>;

const INTERFACES = [
  {
    name: 'SendInterface',
    table: SEND_METHODS,
    make: (t: CommandTransport) => new SendInterface(t),
  },
  {
    name: 'RecvInterface',
    table: RECV_METHODS,
    make: (t: CommandTransport) => new RecvInterface(t),
  },
  {
    name: 'ServerInterface',
    table: SERVER_METHODS,
    make: (t: CommandTransport) => new ServerInterface(t),
  },
] as const;

/** A structure standing for its destination id: it has keys that are no option names. */
const DESTINATION = { destinationId: '0123456789abcdef0123456789abcdef', destinationPort: 8886 };

/** A distinct value for each parameter name, of the kind the parameter takes. */
function sample(name: string, index: number): unknown {
  switch (name) {
    case 'destinationId':
      return DESTINATION;
    case 'fileMappings':
      return { '/src/a': '/dst/a' };
    case 'mappings':
      return { '/dst/b': { src: '/src/b', size: 100 } };
    case 'userData':
      return { owner: 'ops' };
    case 'priorityLanes':
      return { High: 0.75, Low: 0.25 };
    default:
      return `${name}-${index}`;
  }
}

/** The positional arguments, the named-form arguments and the params both must send. */
function forms(spec: MethodSpec): {
  positional: unknown[];
  named: unknown[];
  params: Record<string, unknown>;
} {
  const required = spec.required.map(sample);
  const optional = spec.optional.map((name, i) => sample(name, spec.required.length + i));
  const params = Object.fromEntries(
    [...spec.required, ...spec.optional].map((name, i) => [name, [...required, ...optional][i]]),
  );
  const options = Object.fromEntries(spec.optional.map((name, i) => [name, optional[i]]));
  return {
    positional: [...required, ...optional],
    named: spec.optional.length > 0 ? [...required, options] : required,
    params,
  };
}

/** Calls `method` of `iface` with `args`, as a JavaScript caller would. */
function invoke(iface: object, method: string, args: unknown[]): Promise<unknown> {
  const fn = (iface as Dynamic)[method];
  if (fn === undefined) {
    throw new Error(`no method ${method}`);
  }
  return fn.apply(iface, args);
}

/** The method names a class instance offers, its base classes included. */
function methodsOf(iface: object): string[] {
  const names = new Set<string>();
  for (let p = Object.getPrototypeOf(iface) as object | null; p; p = Object.getPrototypeOf(p)) {
    if (p === Object.prototype) {
      break;
    }
    for (const name of Object.getOwnPropertyNames(p)) {
      if (name !== 'constructor' && name !== 'call') {
        names.add(name);
      }
    }
  }
  return [...names].sort();
}

/** Runs `call`, expecting it to reject with `INVALID_ARGUMENT` and never reach the transport. */
async function expectShapeError(
  call: (iface: SendInterface) => Promise<unknown>,
  ...fragments: string[]
): Promise<void> {
  const transport = new RecordingTransport();
  const promise = call(new SendInterface(transport));
  expect(promise).toBeInstanceOf(Promise);
  const error: unknown = await promise.then(
    () => new Error('resolved'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CommandError);
  expect((error as CommandError).code).toBe('INVALID_ARGUMENT');
  for (const fragment of fragments) {
    expect((error as CommandError).message).toContain(fragment);
  }
  expect(transport.calls).toStrictEqual([]);
}

/** The documented signatures (optional parameters marked `?`), as the vendor's page gives them. */
const DOCUMENTED: Record<string, string> = {
  createDestination:
    'destinationAddress, sendRateMax?, destinationPort?, authenticateDestination?, ' +
    'destinationPublicKey?, relayAddress?, relayPort?, senderPort?, exclusive?, permanent?',
  createManifest: 'fileMappings?, mappings?, symlinkOptions?',
  // Ours: the holder of a shared token has its manifest sent to it.
  createDownload: 'destinationPort, destinationAddress?, destinationPublicKey?, destinationPath?',
  createSharedToken: 'manifestId, password?, downloadLimit?, timeLimitSeconds?, description?',
  createTransfer:
    'destinationId, manifestId, destinationPath?, userName?, password?, priority?, ' +
    'transferFlags?, checkpointFrequencySeconds?, sendRateMax?, priorityLane?, overwriteMode?, ' +
    'minCipher?, fileTimeResolutionMicroseconds?, timeoutSeconds?, userData?, token?, ' +
    'transferLog?, skipMode?',
  deleteDestination: 'destinationId',
  deleteManifest: 'manifestId',
  deleteObjectUserData: 'objId, key',
  deleteSharedToken: 'token',
  deleteTransfer: 'transferId',
  failTransfer: 'transferId, errorMessage?',
  getConnection: 'connectionId',
  getConnections: 'limit?',
  getDestination: 'destinationId',
  getDestinations: 'limit?',
  getManifest: 'manifestId',
  getManifestFiles: 'manifestId, limit?',
  getManifests: 'before?, after?, limit?',
  getSharedToken: 'token',
  getSharedTokens: 'limit?',
  getTransfer: 'transferId, getCompleteFlags?',
  getTransfers: 'destinationId?, before?, after?, limit?',
  getTransferFiles: 'transferId, after?, limit?',
  resumeTransferAsync: 'transferId',
  schedulePingAsync: 'destinationId, pingCount',
  setPriorityLanesAsync: 'destinationId, priorityLanes',
  setSendRateMaxAsync: 'destinationId, sendRateMax',
  setTransferPriorityAsync: 'transferId, priority?, priorityLane?',
  setTransferSendRateMaxAsync: 'transferId, sendRateMax',
  suspendTransferAsync: 'transferId',
  updateConnectionParamsAsync:
    'connectionId, sendRateMin?, sendRateMax?, sendRate?, rateControlEnabled?, rateControlMethod?',
  updateObjectUserData: 'objId, key, value?',
  updateSharedToken: 'token, timeLimitSeconds?, description?',
  updateTransferDefaults:
    'destinationId, priority?, transferFlags?, checkpointFrequencySeconds?, sendRateMax?, ' +
    'priorityLane?, overwriteMode?, minCipher?, fileTimeResolutionMicroseconds?',
  waitForManifest: 'manifestId',
  waitForTransfer: 'transferId',
  getRequestStatus: 'requestId',
  getRequestResult: 'requestId, timeoutSeconds?',
};

describe('method table', () => {
  it('has the documented parameters of every SendInterface method, in order', () => {
    const table = Object.fromEntries(
      Object.entries(SEND_METHODS as Record<string, MethodSpec>).map(([method, spec]) => [
        method,
        [...spec.required, ...spec.optional.map((name) => `${name}?`)].join(', '),
      ]),
    );
    expect(table).toStrictEqual(DOCUMENTED);
  });
});

describe.each(INTERFACES)('$name', ({ table, make }) => {
  it('offers exactly the methods of its table', () => {
    expect(methodsOf(make(new RecordingTransport()))).toStrictEqual(Object.keys(table).sort());
  });

  it.each(Object.entries(table) as [string, MethodSpec][])(
    '%s sends the same params in positional and named form',
    async (method, spec) => {
      const { positional, named, params } = forms(spec);
      const transport = new RecordingTransport();
      const iface = make(transport);
      await expect(invoke(iface, method, positional)).resolves.toStrictEqual({ ok: true });
      await expect(invoke(iface, method, named)).resolves.toStrictEqual({ ok: true });
      expect(transport.calls).toStrictEqual([
        { method, params },
        { method, params },
      ]);
    },
  );

  it.each(Object.entries(table) as [string, MethodSpec][])(
    '%s sends only the required params when no option is given',
    async (method, spec) => {
      const { params } = forms(spec);
      const transport = new RecordingTransport();
      const required = spec.required.map((name) => params[name]);
      await invoke(make(transport), method, required);
      expect(transport.calls[0]?.params).toStrictEqual(
        Object.fromEntries(spec.required.map((name) => [name, params[name]])),
      );
    },
  );
});

describe('arguments', () => {
  it('passes the structure form of an id through untouched', async () => {
    const transport = new RecordingTransport();
    const send = new SendInterface(transport);
    const destination = { ...DESTINATION, userData: { a: 'b' } } as unknown as Destination;
    const manifest = { manifestId: 'fedcba9876543210fedcba9876543210', totalFiles: 1 };
    await send.createTransfer(destination, manifest as never, { priority: 5 });
    const params = transport.calls[0]?.params;
    expect(params?.['destinationId']).toBe(destination);
    expect(params?.['manifestId']).toBe(manifest);
    expect(params).toStrictEqual({ destinationId: destination, manifestId: manifest, priority: 5 });
  });

  it('takes a trailing structure positionally where the parameter accepts one', async () => {
    const transport = new RecordingTransport();
    const send = new SendInterface(transport);
    await send.getTransfers(DESTINATION as unknown as Destination);
    await send.getTransfers({ destinationId: 'abc', limit: 3 });
    expect(transport.calls.map((c) => c.params)).toStrictEqual([
      { destinationId: DESTINATION },
      { destinationId: 'abc', limit: 3 },
    ]);
  });

  it('takes a mapping positionally and options by name for createManifest', async () => {
    const transport = new RecordingTransport();
    const send = new SendInterface(transport);
    await send.createManifest({ '/src/readme.txt': '/docs/intro.txt' });
    await send.createManifest({ mappings: { '/docs/intro.txt': '/src/readme.txt' } });
    expect(transport.calls.map((c) => c.params)).toStrictEqual([
      { fileMappings: { '/src/readme.txt': '/docs/intro.txt' } },
      { mappings: { '/docs/intro.txt': '/src/readme.txt' } },
    ]);
  });

  it('accepts leading optionals positionally followed by the rest by name', async () => {
    const transport = new RecordingTransport();
    await invoke(new SendInterface(transport), 'createTransfer', [
      'd',
      'm',
      '/in',
      { priority: 5, token: 't' },
    ]);
    expect(transport.calls[0]?.params).toStrictEqual({
      destinationId: 'd',
      manifestId: 'm',
      destinationPath: '/in',
      priority: 5,
      token: 't',
    });
  });

  it('leaves out undefined optionals, positional or named, and keeps null', async () => {
    const transport = new RecordingTransport();
    const send = new SendInterface(transport);
    await send.createTransfer('d', 'm', undefined, 'alice', undefined, 7);
    await send.createTransfer('d', 'm', { destinationPath: undefined, userName: 'alice' });
    await invoke(send, 'failTransfer', [3, null]);
    expect(transport.calls.map((c) => c.params)).toStrictEqual([
      { destinationId: 'd', manifestId: 'm', userName: 'alice', priority: 7 },
      { destinationId: 'd', manifestId: 'm', userName: 'alice' },
      { transferId: 3, errorMessage: null },
    ]);
  });

  it('leaves value checks to the engine', async () => {
    const transport = new RecordingTransport();
    await invoke(new SendInterface(transport), 'getTransfer', ['not a number', 'yes']);
    expect(transport.calls[0]?.params).toStrictEqual({
      transferId: 'not a number',
      getCompleteFlags: 'yes',
    });
  });
});

describe('shape errors', () => {
  it('rejects a missing required parameter', async () => {
    await expectShapeError(
      (s) => invoke(s, 'getDestination', []),
      'getDestination',
      'destinationId',
    );
    await expectShapeError(
      (s) => invoke(s, 'createTransfer', ['d']),
      'createTransfer',
      'manifestId',
    );
    await expectShapeError(
      (s) => invoke(s, 'schedulePingAsync', [undefined, 3]),
      'schedulePingAsync',
      'destinationId',
    );
  });

  it('rejects too many arguments', async () => {
    await expectShapeError(
      (s) => invoke(s, 'getDestination', ['d', 'extra']),
      'getDestination',
      'destinationId',
    );
    await expectShapeError(
      (s) => invoke(s, 'deleteTransfer', [1, {}]),
      'deleteTransfer',
      'transferId',
    );
    await expectShapeError(
      (s) => invoke(s, 'getTransfer', [1, true, false]),
      'getTransfer',
      'getCompleteFlags',
    );
  });

  it('rejects an unknown option name', async () => {
    await expectShapeError(
      (s) => invoke(s, 'createTransfer', ['d', 'm', { priority: 1, prority: 2 }]),
      'createTransfer',
      "'prority'",
    );
    await expectShapeError(
      (s) => invoke(s, 'getTransfer', [1, { completeFlags: true }]),
      'getTransfer',
      "'completeFlags'",
    );
  });

  it('rejects a required parameter given by name', async () => {
    await expectShapeError(
      (s) => invoke(s, 'setTransferPriorityAsync', [1, { transferId: 2, priority: 3 }]),
      'setTransferPriorityAsync',
      "'transferId'",
    );
  });

  it('rejects a parameter given both positionally and by name', async () => {
    await expectShapeError(
      (s) => invoke(s, 'createTransfer', ['d', 'm', '/in', { destinationPath: '/out' }]),
      'createTransfer',
      "'destinationPath'",
    );
  });
});

describe('transport errors', () => {
  it('become a CommandError with the code and the original as cause', async () => {
    const native = Object.assign(new Error('no destination abc'), { code: 'NOT_FOUND' });
    const send = new SendInterface(new RecordingTransport(undefined, native));
    const error: unknown = await send.getDestination('abc').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).code).toBe('NOT_FOUND');
    expect((error as CommandError).message).toBe('no destination abc');
    expect((error as CommandError).cause).toBe(native);
  });

  it('without a known code become INTERNAL, and a CommandError stays as it is', async () => {
    const odd = new Error('boom');
    const server = new ServerInterface(new RecordingTransport(undefined, odd));
    const error: unknown = await server.getServerInfo().catch((e: unknown) => e);
    expect((error as CommandError).code).toBe('INTERNAL');
    expect((error as CommandError).cause).toBe(odd);

    const own = new CommandError('TIMED_OUT', 'request 7 still running');
    const recv = new RecvInterface(new RecordingTransport(undefined, own));
    await expect(recv.getSourcesAsync()).rejects.toBe(own);
  });
});

describe('jsonTransport', () => {
  it('sends {method, params} as JSON and parses the JSON result', async () => {
    const requests: string[] = [];
    const transport = jsonTransport((request) => {
      requests.push(request);
      return Promise.resolve('{"requestId":7}');
    });
    const send = new SendInterface(transport);
    await expect(send.suspendTransferAsync(13)).resolves.toStrictEqual({ requestId: 7 });
    expect(requests.map((r) => JSON.parse(r) as unknown)).toStrictEqual([
      { method: 'suspendTransferAsync', params: { transferId: 13 } },
    ]);
  });

  it('lets the interface turn a coded failure into a CommandError', async () => {
    const native = Object.assign(new Error('transfer 13 is complete'), { code: 'INVALID_STATE' });
    const send = new SendInterface(jsonTransport(() => Promise.reject(native)));
    const error: unknown = await send.resumeTransferAsync(13).catch((e: unknown) => e);
    expect((error as CommandError).code).toBe('INVALID_STATE');
    expect((error as CommandError).cause).toBe(native);
  });
});
