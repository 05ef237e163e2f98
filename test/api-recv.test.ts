// The receiving side and the server description against real engines (embedded, or servers
// through the remote client): getServerInfo,
// the received transfers and sources a receiver records, the authorized sender keys, and the
// refusal of credentials a receiver without accounts cannot check.
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import {
  nativeVersion,
  toCommandError,
  type AuthorizedClients,
  type JetStream,
  type ReceivedTransfer,
  type Source,
  type Transfer,
} from '../ts/index.js';
import {
  closeAll,
  digests,
  engine,
  engineTransport,
  mode,
  pair,
  serverOf,
  tempDir,
  tree,
} from './support/engines.js';
import { rejectsWith, until } from './support/probes.js';

afterAll(closeAll);

/** Runs an asynchronous RecvInterface call to its result. */
async function result<T>(api: JetStream, request: Promise<{ requestId: number }>): Promise<T> {
  return api.server.getRequestResult<T>(await request);
}

/** Sends a small tree from `sender` to `destinationId` into `path`; the ended transfer. */
async function sendTree(
  sender: JetStream,
  destinationId: string,
  path: string,
  options: Record<string, unknown> = {},
): Promise<{ transfer: Transfer; src: string }> {
  const src = tree(tempDir(), { 'a.bin': 20_000, 'b/c.bin': 3_000 });
  const manifest = await sender.send.createManifest({ mappings: { t: src } });
  await sender.send.waitForManifest(manifest);
  const created = await sender.send.createTransfer(destinationId, manifest, {
    destinationPath: path,
    ...options,
  });
  return { transfer: await sender.send.waitForTransfer(created), src };
}

/** The receiver's records once none is still receiving. */
async function received(receiver: JetStream): Promise<ReceivedTransfer[]> {
  return until(
    () => result<ReceivedTransfer[]>(receiver, receiver.recv.getTransfersAsync()),
    (list) => list.every((r) => r.status !== 'receiving'),
  );
}

describe('getServerInfo', () => {
  it('describes the engine: ids, key, receive address, sandbox and security settings', async () => {
    const stateDir = tempDir();
    const sandboxDir = join(tempDir(), 'root');
    const first = await engine({ stateDir, sandboxDir });
    const info = await first.server.getServerInfo();
    expect(info).toMatchObject({
      version: nativeVersion(),
      recvAddress: '127.0.0.1',
      // An embedded engine has no control port; a server reports the one it serves.
      apiControlPort: mode === 'remote' ? serverOf(first).port : null,
      sandboxDir,
      minCipher: 2,
      encryptionAvailable: true,
      // A server requires logins unless told otherwise; its clients here log in.
      authRequired: mode === 'remote',
      onlyAuthorizedClientsAllowed: true,
      maxOverwriteMode: 3,
    });
    expect(info.serverId).toMatch(/^[0-9a-f]{32}$/);
    expect(info.publicKey).toMatch(/^[0-9a-f]{64}$/);
    expect(info.serverUid).toBe(info.publicKey.slice(0, 32));
    expect(info.recvPort).toBeGreaterThan(0);
    expect(info.hostName.length).toBeGreaterThan(0);
    expect(info.apiVersion.length).toBeGreaterThan(0);
    await first.close();

    // A new start: a new serverId, the same identity.
    const second = await engine({ stateDir, sandboxDir, minCipher: 3 });
    const again = await second.server.getServerInfo();
    expect(again.serverId).not.toBe(info.serverId);
    expect(again.serverUid).toBe(info.serverUid);
    expect(again.publicKey).toBe(info.publicKey);
    expect(again.minCipher).toBe(3);
  });
});

describe('received transfers and sources', () => {
  it('records what arrived and from whom', async () => {
    const { sender, receiver, destinationId, sandbox } = await pair();
    const senderKey = (await sender.server.getServerInfo()).publicKey;
    expect(await result(receiver, receiver.recv.getTransfersAsync())).toEqual([]);
    expect(await result(receiver, receiver.recv.getSourcesAsync())).toEqual([]);

    const one = await sendTree(sender, destinationId, 'first');
    const two = await sendTree(sender, destinationId, 'second');
    expect(one.transfer.status).toBe('complete');
    expect(two.transfer.status).toBe('complete');
    expect(digests(join(sandbox, 'second/t'))).toEqual(digests(two.src));

    const list = await received(receiver);
    expect(list).toHaveLength(2);
    expect(list[0]).toMatchObject({
      senderPublicKey: senderKey,
      transferId: one.transfer.transferId,
      destinationPath: 'first',
      status: 'complete',
      errorMessage: null,
      totalBytes: 23_000,
      bytesReceived: 23_000,
      filesComplete: one.transfer.totalFiles,
    });
    expect(list[0]?.senderAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(list[0]?.endTime).toBeGreaterThanOrEqual(list[0]?.startTime ?? Infinity);
    expect(list[1]).toMatchObject({ transferId: two.transfer.transferId, destinationPath: 'second' });
    const [a, b] = list.map((r) => r.receivedId);
    expect(b).toBeGreaterThan(a ?? Infinity);

    // Pages by receivedId, and limit.
    expect(await result(receiver, receiver.recv.getTransfersAsync({ limit: 1 }))).toEqual([list[0]]);
    expect(await result(receiver, receiver.recv.getTransfersAsync({ after: a }))).toEqual([list[1]]);
    expect(await result(receiver, receiver.recv.getTransfersAsync({ before: list[1] }))).toEqual([list[0]]);

    const sources = await result<Source[]>(receiver, receiver.recv.getSourcesAsync());
    expect(sources).toEqual([
      {
        publicKey: senderKey,
        lastAddress: list[1]?.senderAddress,
        numTransfers: 2,
        lastSeenTime: list[1]?.startTime,
        authorized: true,
      },
    ]);
    expect(await result(receiver, receiver.recv.getSourcesAsync(1))).toEqual(sources);
    // The sender received nothing.
    expect(await result(sender, sender.recv.getTransfersAsync())).toEqual([]);
  });
});

describe('authorized clients', () => {
  it('with only authorized clients allowed (the default), refuses an unknown sender until its key is added', async () => {
    const { sender, receiver, destinationId, sandbox } = await pair();
    const senderKey = (await sender.server.getServerInfo()).publicKey;
    await result(receiver, receiver.recv.removeAuthorizedClientAsync(senderKey));
    const only = await result<AuthorizedClients>(
      receiver,
      receiver.recv.allowOnlyAuthorizedClientsAsync(true),
    );
    expect(only).toEqual({ onlyAuthorizedClientsAllowed: true, authorizedClients: [] });
    expect((await receiver.server.getServerInfo()).onlyAuthorizedClientsAllowed).toBe(true);

    const refused = await sendTree(sender, destinationId, 'refused');
    expect(refused.transfer).toMatchObject({ status: 'error', processing: false, bytesAcked: 0 });
    expect(refused.transfer.errorMessage).toMatch(/^AUTH_FAILED: /);
    expect((await sender.send.getDestination(destinationId)).lastError).toBe('AUTH_FAILED');
    expect(digests(sandbox)).toEqual({});

    const added = await result<AuthorizedClients>(
      receiver,
      receiver.recv.addAuthorizedClientAsync(senderKey),
    );
    expect(added.authorizedClients).toEqual([senderKey]);
    const accepted = await sendTree(sender, destinationId, 'accepted');
    expect(accepted.transfer.status, accepted.transfer.errorMessage ?? '').toBe('complete');
    expect(digests(join(sandbox, 'accepted/t'))).toEqual(digests(accepted.src));
    const sources = await result<Source[]>(receiver, receiver.recv.getSourcesAsync());
    expect(sources.find((s) => s.publicKey === senderKey)?.authorized).toBe(true);

    const removed = await result<AuthorizedClients>(
      receiver,
      receiver.recv.removeAuthorizedClientAsync(senderKey),
    );
    expect(removed).toEqual({ onlyAuthorizedClientsAllowed: true, authorizedClients: [] });
    expect((await sendTree(sender, destinationId, 'again')).transfer).toMatchObject({
      status: 'error',
      errorMessage: expect.stringMatching(/^AUTH_FAILED: /),
    });
    await rejectsWith(receiver.recv.removeAuthorizedClientAsync(senderKey), 'NOT_FOUND');
    await rejectsWith(receiver.recv.addAuthorizedClientAsync('not-a-key'), 'INVALID_ARGUMENT');

    // Switched off, any sender is accepted.
    await result(receiver, receiver.recv.allowOnlyAuthorizedClientsAsync(false));
    expect((await receiver.server.getServerInfo()).onlyAuthorizedClientsAllowed).toBe(false);
    expect((await sendTree(sender, destinationId, 'open')).transfer.status).toBe('complete');
  });

  it('keeps the keys and the switch across a restart', async () => {
    const stateDir = tempDir();
    const first = await engine({ stateDir });
    const key = (await (await engine()).server.getServerInfo()).publicKey;
    await result(first, first.recv.addAuthorizedClientAsync(key));
    await result(first, first.recv.allowOnlyAuthorizedClientsAsync(false));
    await first.close();
    const second = await engine({ stateDir });
    expect((await second.server.getServerInfo()).onlyAuthorizedClientsAllowed).toBe(false);
    const list = await result<AuthorizedClients>(second, second.recv.addAuthorizedClientAsync(key));
    expect(list.authorizedClients).toEqual([key]);
  });
});

describe('authorized client parameter names', () => {
  it("are the vendor's, and a raw command may still use the older publicKey and enabled", async () => {
    const transport = await engineTransport();
    const key = (await (await engine()).server.getServerInfo()).publicKey;
    const run = async (method: string, params: Record<string, unknown>): Promise<unknown> => {
      try {
        const request = (await transport.execute(method, params)) as { requestId: number };
        return await transport.execute('getRequestResult', { requestId: request.requestId });
      } catch (error) {
        throw toCommandError(error);
      }
    };
    expect(await run('addAuthorizedClientAsync', { publicKey: key })).toMatchObject({
      authorizedClients: [key],
    });
    expect(await run('allowOnlyAuthorizedClientsAsync', { enabled: false })).toEqual({
      onlyAuthorizedClientsAllowed: false,
      authorizedClients: [key],
    });
    expect(
      await run('allowOnlyAuthorizedClientsAsync', { onlyAuthorizedClientsAllowed: true }),
    ).toEqual({ onlyAuthorizedClientsAllowed: true, authorizedClients: [key] });
    expect(await run('removeAuthorizedClientAsync', { clientPublicKey: key })).toEqual({
      onlyAuthorizedClientsAllowed: true,
      authorizedClients: [],
    });
    // Both names at once could disagree: refused before anything changes.
    const both = await rejectsWith(
      run('addAuthorizedClientAsync', { clientPublicKey: key, publicKey: key }),
      'INVALID_ARGUMENT',
    );
    expect(both.message).toContain('clientPublicKey');
    const missing = await rejectsWith(run('allowOnlyAuthorizedClientsAsync', {}), 'INVALID_ARGUMENT');
    expect(missing.message).toContain('onlyAuthorizedClientsAllowed');
  });
});

describe('credentials', () => {
  it('a receiver refuses a user it does not know and a token it did not issue', async () => {
    const { sender, destinationId, sandbox } = await pair();
    const { transfer } = await sendTree(sender, destinationId, 'creds', {
      userName: 'alice',
      password: 'secret',
    });
    expect(transfer).toMatchObject({ status: 'error', processing: false, bytesAcked: 0 });
    expect(transfer.errorMessage).toMatch(/^AUTH_FAILED: /);
    expect(transfer.userName).toBe('alice');
    expect(JSON.stringify(transfer)).not.toContain('secret');
    expect(digests(sandbox)).toEqual({});
    const token = await sendTree(sender, destinationId, 'token', { token: 'f'.repeat(32) });
    expect(token.transfer).toMatchObject({ status: 'error', usesToken: true, bytesAcked: 0 });
    expect(token.transfer.errorMessage).toMatch(/^AUTH_FAILED: /);
    // Without credentials the same receiver accepts.
    expect((await sendTree(sender, destinationId, 'anon')).transfer.status).toBe('complete');
  });
});
