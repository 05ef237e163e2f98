// Type-level tests of the typed overloads: both calling forms type-check with the documented
// parameter types, the wrong ones do not, and results carry the structure types. The lines
// marked @ts-expect-error fail the type check if they ever start compiling. The calls also
// run, against a transport that records what it is sent.
import { describe, expect, expectTypeOf, it } from 'vitest';

import {
  constants,
  RecvInterface,
  SendInterface,
  ServerInterface,
  type CommandTransport,
  type CreateTransferOptions,
  type Destination,
  type IdOr,
  type Manifest,
  type Request,
  type RequestStatus,
  type ServerInfo,
  type Token,
  type Transfer,
} from '../ts/index.js';

/** Records the params of every command and resolves to `null`. */
function recorder(): { transport: CommandTransport; sent: Record<string, unknown>[] } {
  const sent: Record<string, unknown>[] = [];
  return {
    sent,
    transport: {
      execute: (_method, params) => {
        sent.push(params);
        return Promise.resolve(null);
      },
    },
  };
}

describe('typed overloads', () => {
  it('accept both forms of createTransfer with the same meaning', async () => {
    const { transport, sent } = recorder();
    const send = new SendInterface(transport);
    const destination = { destinationId: 'd' } as Destination;

    expectTypeOf(
      send.createTransfer(destination, 'm', {
        destinationPath: '/in',
        priority: 5,
        overwriteMode: constants.OVERWRITE_ALWAYS,
        userData: { owner: 'ops' },
      }),
    ).toEqualTypeOf<Promise<Transfer>>();
    expectTypeOf(
      send.createTransfer(destination, 'm', '/in', undefined, undefined, 5),
    ).toEqualTypeOf<Promise<Transfer>>();
    sent.length = 0;
    await send.createTransfer(destination, 'm', { destinationPath: '/in', priority: 5 });
    await send.createTransfer(destination, 'm', '/in', undefined, undefined, 5);
    expect(sent).toStrictEqual([
      { destinationId: destination, manifestId: 'm', destinationPath: '/in', priority: 5 },
      { destinationId: destination, manifestId: 'm', destinationPath: '/in', priority: 5 },
    ]);

    // @ts-expect-error unknown option name
    await send.createTransfer('d', 'm', { prority: 5 }).catch(() => null);
    // @ts-expect-error priority is a number
    await send.createTransfer('d', 'm', { priority: '5' }).catch(() => null);
    // @ts-expect-error a manifest id is a string, not a number
    await send.createTransfer('d', 1).catch(() => null);
    // @ts-expect-error the manifest is required
    await send.createTransfer('d').catch(() => null);
  });

  it('type the options from the method table', () => {
    expectTypeOf<CreateTransferOptions['priority']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<keyof CreateTransferOptions>().toEqualTypeOf<
      | 'destinationPath'
      | 'userName'
      | 'password'
      | 'priority'
      | 'transferFlags'
      | 'checkpointFrequencySeconds'
      | 'sendRateMax'
      | 'priorityLane'
      | 'overwriteMode'
      | 'minCipher'
      | 'fileTimeResolutionMicroseconds'
      | 'timeoutSeconds'
      | 'userData'
      | 'token'
      | 'transferLog'
      | 'skipMode'
    >();
  });

  it('accept an id or its structure', () => {
    expectTypeOf<IdOr<Transfer>>().toEqualTypeOf<Transfer | number>();
    expectTypeOf<IdOr<Destination>>().toEqualTypeOf<Destination | string>();
    expectTypeOf<IdOr<Token>>().toEqualTypeOf<Token | string>();
    expectTypeOf<IdOr<Request>>().toEqualTypeOf<Request | number>();
  });

  it('give every interface both forms and typed results', async () => {
    const { transport } = recorder();
    const send = new SendInterface(transport);
    const recv = new RecvInterface(transport);
    const server = new ServerInterface(transport);
    const manifest = { manifestId: 'm' } as Manifest;

    expectTypeOf(send.createManifest({ mappings: { '/a': '/b' } })).toEqualTypeOf<
      Promise<Manifest>
    >();
    expectTypeOf(send.createManifest(undefined, { '/a': { src: '/b', size: 1 } })).toEqualTypeOf<
      Promise<Manifest>
    >();
    expectTypeOf(send.getManifests({ after: manifest, limit: 10 })).toEqualTypeOf<
      Promise<Manifest[]>
    >();
    expectTypeOf(send.getManifests(undefined, manifest, 10)).toEqualTypeOf<Promise<Manifest[]>>();
    expectTypeOf(send.setTransferPriorityAsync(1, { priorityLane: 'High' })).toEqualTypeOf<
      Promise<Request>
    >();
    expectTypeOf(send.setTransferPriorityAsync(1, 5, 'High')).toEqualTypeOf<Promise<Request>>();
    expectTypeOf(send.getRequestStatus({ requestId: 1 })).toEqualTypeOf<Promise<RequestStatus>>();
    expectTypeOf(send.getRequestResult<Transfer>(1, { timeoutSeconds: 5 })).toEqualTypeOf<
      Promise<Transfer>
    >();
    expectTypeOf(server.getRequestResult(1, 5)).toEqualTypeOf<Promise<unknown>>();
    expectTypeOf(server.getServerInfo()).toEqualTypeOf<Promise<ServerInfo>>();
    expectTypeOf(recv.getTransfersAsync({ limit: 5 })).toEqualTypeOf<Promise<Request>>();
    expectTypeOf(recv.getTransfersAsync(undefined, 4, 5)).toEqualTypeOf<Promise<Request>>();
    expectTypeOf(recv.allowOnlyAuthorizedClientsAsync(true)).toEqualTypeOf<Promise<Request>>();

    // @ts-expect-error setPriorityLanesAsync has no optional parameters
    await send.setPriorityLanesAsync('d', { High: 1 }, {}).catch(() => null);
    // @ts-expect-error getRequestResult's option is timeoutSeconds
    await server.getRequestResult(1, { timeout: 5 }).catch(() => null);
    // @ts-expect-error getServerInfo takes nothing
    await server.getServerInfo(1).catch(() => null);
  });
});
