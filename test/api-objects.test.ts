// SendInterface objects against real engines (embedded, or servers) on loopback: destinations (matching,
// exclusive, permanent and garbage collection, rates, ports, limits, deletion), connections,
// pings, user data, shared tokens and the asynchronous request model.
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import type { Connection, Destination, JetStream, Transfer } from '../ts/index.js';
import { closeAll, digests, engine, pair, tempDir, tree } from './support/engines.js';
import { blackHole, closedPort, closeProbes, rejectsWith, until } from './support/probes.js';
import { generatedManifest, sendingTransfer, untilTransfer } from './support/transfers.js';

afterAll(async () => {
  await closeAll();
  await closeProbes();
});

/** A manifest of one small tree, ready to send; its source directory. */
async function smallManifest(api: JetStream, size = 10_000): Promise<{ manifestId: string; src: string }> {
  const src = tree(tempDir(), { 'a.bin': size, 'sub/b.bin': 1_000 });
  const manifest = await api.send.createManifest({ mappings: { data: src } });
  expect((await api.send.waitForManifest(manifest)).status).toBe('complete');
  return { manifestId: manifest.manifestId, src };
}

let sent = 0;

/**
 * Sends a small tree to `destinationId`, into a directory of its own, and waits for the end;
 * the finished transfer.
 */
async function sendOnce(api: JetStream, destinationId: string): Promise<Transfer> {
  const { manifestId } = await smallManifest(api);
  const transfer = await api.send.createTransfer(destinationId, manifestId, {
    destinationPath: `once-${++sent}`,
  });
  const done = await api.send.waitForTransfer(transfer);
  expect(done.status, done.errorMessage ?? '').toBe('complete');
  return done;
}

describe('createDestination', () => {
  it('returns the matching destination unless exclusive, ignoring sendRateMax on a match', async () => {
    const api = await engine();
    const first = await api.send.createDestination('127.0.0.1', {
      destinationPort: 7001,
      sendRateMax: 5_000,
    });
    expect(first.destinationId).toMatch(/^[0-9a-f]{32}$/);
    expect(first.sendRateMax).toBe(5_000);

    const same = await api.send.createDestination('127.0.0.1', {
      destinationPort: 7001,
      sendRateMax: 9_000,
    });
    expect(same.destinationId).toBe(first.destinationId);
    expect(same.sendRateMax).toBe(5_000);

    const exclusive = await api.send.createDestination('127.0.0.1', {
      destinationPort: 7001,
      exclusive: true,
    });
    expect(exclusive.destinationId).not.toBe(first.destinationId);
    expect(exclusive.exclusive).toBe(true);
    // An exclusive destination is never handed to a later non-exclusive call.
    const again = await api.send.createDestination('127.0.0.1', { destinationPort: 7001 });
    expect(again.destinationId).toBe(first.destinationId);

    const otherPort = await api.send.createDestination('127.0.0.1', { destinationPort: 7002 });
    expect(otherPort.destinationId).not.toBe(first.destinationId);
    expect((await api.send.getDestinations()).map((d) => d.destinationId)).toEqual([
      first.destinationId,
      exclusive.destinationId,
      otherPort.destinationId,
    ]);
  });

  it('keeps the ports it is given, with UDP 8886 as the default receiver port', async () => {
    const api = await engine();
    const plain = await api.send.createDestination('127.0.0.1');
    expect(plain.destinationPort).toBe(8886);
    expect(plain.senderPort).toBe(0);
    expect(plain.destinationIP).toBe('127.0.0.1');
    const ports = await api.send.createDestination('127.0.0.1', {
      destinationPort: 40_001,
      senderPort: -1,
    });
    expect(ports.destinationPort).toBe(40_001);
    expect(ports.senderPort).toBe(-1);
    // The positional form reaches the same parameters.
    const positional = await api.send.createDestination('127.0.0.1', 700, 40_002, false);
    expect(positional).toMatchObject({ destinationPort: 40_002, sendRateMax: 700 });
    expect(await api.send.getDestination(positional)).toEqual(positional);
  });

  it('changes sendRateMax with setSendRateMaxAsync', async () => {
    const api = await engine();
    const destination = await api.send.createDestination('127.0.0.1', {
      destinationPort: 7003,
      sendRateMax: 1_000,
    });
    const request = await api.send.setSendRateMaxAsync(destination, 2_500);
    expect(await api.send.getRequestResult(request)).toEqual({ sendRateMax: 2_500 });
    expect((await api.send.getDestination(destination.destinationId)).sendRateMax).toBe(2_500);
  });
});

describe('getDestination(s)', () => {
  it('lists destinations in creation order, at most limit of them', async () => {
    const api = await engine();
    const made: Destination[] = [];
    for (const port of [7101, 7102, 7103]) {
      made.push(await api.send.createDestination('127.0.0.1', { destinationPort: port }));
    }
    const ids = made.map((d) => d.destinationId);
    expect((await api.send.getDestinations()).map((d) => d.destinationId)).toEqual(ids);
    expect((await api.send.getDestinations(2)).map((d) => d.destinationId)).toEqual(ids.slice(0, 2));
    expect((await api.send.getDestinations({ limit: 1 })).map((d) => d.destinationId)).toEqual(
      ids.slice(0, 1),
    );
    // The documented default, limit=0, means every destination.
    expect(await api.send.getDestinations(0)).toHaveLength(3);
    expect(await api.send.getDestination(ids[1] ?? '')).toEqual(made[1]);
    await rejectsWith(api.send.getDestination('0'.repeat(32)), 'NOT_FOUND');
  });
});

describe('destination lifetime', () => {
  it('collects a non-permanent destination with its last transfer, keeps a permanent one', async () => {
    const { sender, receiver } = await pair();
    const port = (await receiver.server.getServerInfo()).recvPort;
    const passing = await sender.send.createDestination('127.0.0.1', { destinationPort: port });
    const kept = await sender.send.createDestination('127.0.0.1', {
      destinationPort: port,
      exclusive: true,
      permanent: true,
    });
    const first = await sendOnce(sender, passing.destinationId);
    const second = await sendOnce(sender, kept.destinationId);

    await sender.send.deleteTransfer(first);
    await rejectsWith(sender.send.getTransfer(first), 'NOT_FOUND');
    await rejectsWith(sender.send.getDestination(passing), 'NOT_FOUND');

    await sender.send.deleteTransfer(second);
    const still = await sender.send.getDestination(kept);
    expect(still.permanent).toBe(true);
    expect(await sender.send.getTransfers({ destinationId: kept })).toEqual([]);
  });

  it('deleteDestination deletes its transfers', async () => {
    const { sender, destinationId } = await pair();
    const transfer = await sendOnce(sender, destinationId);
    await sender.send.deleteDestination(destinationId);
    await rejectsWith(sender.send.getDestination(destinationId), 'NOT_FOUND');
    await rejectsWith(sender.send.getTransfer(transfer), 'NOT_FOUND');
    expect(await sender.send.getTransfers()).toEqual([]);
    await rejectsWith(sender.send.deleteDestination(destinationId), 'NOT_FOUND');
  });

  it('deleteDestination refuses while a transfer is active, and deletes once it ended', async () => {
    const api = await engine();
    const silent = await blackHole();
    const destination = await api.send.createDestination('127.0.0.1', { destinationPort: silent });
    const { manifestId } = await smallManifest(api);
    const transfer = await api.send.createTransfer(destination, manifestId, { timeoutSeconds: 60 });
    expect(transfer.processing).toBe(true);

    await rejectsWith(api.send.deleteDestination(destination), 'INVALID_STATE');
    expect((await api.send.getDestination(destination)).numTransfersQueued).toBe(1);
    expect((await api.send.getTransfer(transfer)).processing).toBe(true);

    await api.send.failTransfer(transfer, 'stopped by the test');
    const failed = await api.send.getTransfer(transfer);
    expect(failed.status).toBe('error');
    await api.send.deleteDestination(destination);
    await rejectsWith(api.send.getTransfer(transfer), 'NOT_FOUND');
  });

  it('deleteDestination with a suspended transfer deletes it and answers its waiters', async () => {
    const api = await engine();
    const silent = await blackHole();
    const destination = await api.send.createDestination('127.0.0.1', { destinationPort: silent });
    const { manifestId } = await smallManifest(api);
    const transfer = await api.send.createTransfer(destination, manifestId, { timeoutSeconds: 60 });
    await api.send.getRequestResult(await api.send.suspendTransferAsync(transfer));
    const waiting = rejectsWith(api.send.waitForTransfer(transfer), 'NOT_FOUND');
    await api.send.deleteDestination(destination);
    await waiting;
    await rejectsWith(api.send.getTransfer(transfer), 'NOT_FOUND');
  });
});

describe('connections', () => {
  it('show live figures while sending and keep the totals after', async () => {
    const { sender, destinationId, sandbox } = await pair();
    const destination = await sender.send.getDestination(destinationId);
    const connectionId = destination.connectionId;
    expect(connectionId).toBeGreaterThan(0);
    const before = await sender.send.getConnection(connectionId ?? 0);
    expect(before).toMatchObject({ bytesSent: 0, packetsSent: 0, encryptedConnectionState: 'disconnected' });

    // 1.5 MB at 4 Mbit/s: about three seconds of sending to look at.
    const { manifestId, src } = await smallManifest(sender, 1_500_000);
    const transfer = await sender.send.createTransfer(destinationId, manifestId, {
      sendRateMax: 4_000,
      destinationPath: 'live',
    });
    const live = await until(
      () => sender.send.getConnection(connectionId ?? 0),
      (c) => c.encryptedConnectionState === 'connected' && c.bytesSent > 0 && c.sendRate > 0,
    );
    expect(live.numTransfersQueued).toBe(1);
    expect(live.roundTripTimeMs).toBeGreaterThan(0);

    const done = await sender.send.waitForTransfer(transfer);
    expect(done.status).toBe('complete');
    expect(digests(join(sandbox, 'live', 'data'))).toEqual(digests(src));
    const after = await until(
      () => sender.send.getConnection({ connectionId } as Connection),
      (c) => c.encryptedConnectionState === 'disconnected',
    );
    expect(after.bytesSent).toBeGreaterThanOrEqual(1_501_000);
    expect(after.packetsSent).toBeGreaterThan(0);
    expect(after.roundTripTimeMs).toBeGreaterThan(0);
    expect(after.numTransfersQueued).toBe(0);
    expect(after.destinationIP).toBe('127.0.0.1');
    expect(after.destinationPort).toBe(destination.destinationPort);

    const all = await sender.send.getConnections();
    expect(all.map((c) => c.connectionId)).toEqual([connectionId]);
    expect(await sender.send.getConnections({ limit: 1 })).toHaveLength(1);
    await rejectsWith(sender.send.getConnection(9_999), 'NOT_FOUND');
  });

  it('are shared by destinations of the same receiver address and port', async () => {
    const api = await engine();
    const a = await api.send.createDestination('127.0.0.1', { destinationPort: 7201 });
    const b = await api.send.createDestination('127.0.0.1', { destinationPort: 7201, exclusive: true });
    const c = await api.send.createDestination('127.0.0.1', { destinationPort: 7202 });
    expect(b.connectionId).toBe(a.connectionId);
    expect(c.connectionId).not.toBe(a.connectionId);
    expect(await api.send.getConnections()).toHaveLength(2);
  });

  it('updateConnectionParamsAsync stores the bounds and the controller switch', async () => {
    const api = await engine();
    const destination = await api.send.createDestination('127.0.0.1', { destinationPort: 7301 });
    const id = destination.connectionId ?? 0;
    const request = await api.send.updateConnectionParamsAsync(id, {
      sendRateMin: 100,
      sendRateMax: 20_000,
      sendRate: 5_000,
      rateControlEnabled: false,
    });
    const result = await api.send.getRequestResult<Connection>(request);
    expect(result).toMatchObject({
      connectionId: id,
      sendRateMin: 100,
      sendRateMax: 20_000,
      sendRate: 5_000,
      rateControllerActive: false,
      rateControlMethod: 0,
    });
    expect(await api.send.getConnection(id)).toEqual(result);
    // Only what is given changes.
    const on = await api.send.getRequestResult<Connection>(
      await api.send.updateConnectionParamsAsync(id, { rateControlEnabled: true }),
    );
    expect(on).toMatchObject({ sendRateMin: 100, sendRateMax: 20_000, rateControllerActive: true });
    // A maximum below the stored minimum is refused at once, and nothing changes.
    await rejectsWith(api.send.updateConnectionParamsAsync(id, { sendRateMax: 50 }), 'INVALID_ARGUMENT');
    await rejectsWith(
      api.send.updateConnectionParamsAsync(id, { rateControlMethod: 7 }),
      'INVALID_ARGUMENT',
    );
    expect(await api.send.getConnection(id)).toEqual(on);
  });
});

describe('schedulePingAsync', () => {
  it('fills the round trip and the receiver key of the destination', async () => {
    const { sender, receiver, destinationId } = await pair();
    const key = (await receiver.server.getServerInfo()).publicKey;
    const request = await sender.send.schedulePingAsync(destinationId, 3);
    expect(request.requestId).toBeGreaterThan(0);
    const result = await sender.send.getRequestResult(request);
    expect(result).toMatchObject({ destinationId, lastReceiverDestinationId: key });
    const destination = await sender.send.getDestination(destinationId);
    expect(destination.lastReceiverDestinationId).toBe(key);
    expect(destination.roundTripTimeMs).toBeGreaterThan(0);
    expect(destination.lastError).toBeNull();
    expect(await sender.send.getRequestStatus(request)).toEqual({
      requestId: request.requestId,
      processing: false,
      status: 'complete',
      errorMessage: null,
    });
  });

  it('pings inside the session of a transfer running to the destination', async () => {
    const { sender, receiver, destinationId } = await pair();
    const key = (await receiver.server.getServerInfo()).publicKey;
    const manifestId = await generatedManifest(sender, 1_000_000_000);
    // 8 Mbit/s: still running when the pings are answered.
    const running = await sendingTransfer(sender, destinationId, manifestId, {
      sendRateMax: 8_000,
      timeoutSeconds: 60,
    });
    await untilTransfer(sender, running.transferId, (t) => t.bytesAcked > 0);
    const request = await sender.send.schedulePingAsync(destinationId, 2);
    const result = await sender.send.getRequestResult<Record<string, unknown>>(request);
    // The transfer's session carried them: no handshake of their own.
    expect(result).toMatchObject({
      destinationId,
      lastReceiverDestinationId: key,
      transferId: running.transferId,
    });
    expect(result.roundTripTimeMs).toBeGreaterThan(0);
    await sender.send.failTransfer(running, 'enough');
    // With nothing running, the pings are handshakes.
    const alone = await sender.send.getRequestResult<Record<string, unknown>>(
      await sender.send.schedulePingAsync(destinationId, 1),
    );
    expect(alone).toMatchObject({ destinationId, transferId: null });
  });

  it('fails its request with UNAVAILABLE when nothing listens', async () => {
    const api = await engine();
    const destination = await api.send.createDestination('127.0.0.1', {
      destinationPort: await closedPort(),
    });
    const request = await api.send.schedulePingAsync(destination, 1);
    await rejectsWith(api.send.getRequestResult(request), 'UNAVAILABLE');
    const status = await api.send.getRequestStatus(request);
    expect(status).toMatchObject({ status: 'error', processing: false });
    expect(status.errorMessage).toBeTruthy();
    const after = await api.send.getDestination(destination);
    expect(after.lastError).toBe('UNAVAILABLE');
    expect(after.lastReceiverDestinationId).toBeNull();
    await rejectsWith(api.send.schedulePingAsync('f'.repeat(32), 1), 'NOT_FOUND');
  });
});

describe('user data', () => {
  it('is set, shown and removed on destinations, manifests, transfers and tokens', async () => {
    const { sender, destinationId } = await pair();
    const { manifestId } = await smallManifest(sender);
    const transfer = await sender.send.createTransfer(destinationId, manifestId, {
      userData: { origin: 'test' },
    });
    expect(transfer.userData).toEqual({ origin: 'test' });
    await sender.send.waitForTransfer(transfer);
    const token = await sender.send.createSharedToken(manifestId);

    const objects = [
      { id: destinationId, get: () => sender.send.getDestination(destinationId) },
      { id: manifestId, get: () => sender.send.getManifest(manifestId) },
      { id: transfer.transferId, get: () => sender.send.getTransfer(transfer) },
      { id: token.token, get: () => sender.send.getSharedToken(token) },
    ];
    for (const { id, get } of objects) {
      // As the seed documents, the calls return nothing; the data is read back with get.
      expect(await sender.send.updateObjectUserData(id, 'owner', 'ops')).toBeNull();
      // The structure stands for its id as well.
      await sender.send.updateObjectUserData(await get(), 'stage', 'one', );
      await sender.send.updateObjectUserData(id, 'stage', 'two');
      const set = (await get()).userData;
      expect(set).toMatchObject({ owner: 'ops', stage: 'two' });
      expect(await sender.send.deleteObjectUserData(await get(), 'owner')).toBeNull();
      const left = (await get()).userData;
      expect(left.owner).toBeUndefined();
      expect(left.stage).toBe('two');
      await rejectsWith(sender.send.deleteObjectUserData(id, 'owner'), 'NOT_FOUND');
    }
    expect((await sender.send.getTransfer(transfer)).userData).toEqual({ origin: 'test', stage: 'two' });
    await rejectsWith(sender.send.updateObjectUserData('0'.repeat(32), 'k', 'v'), 'NOT_FOUND');
    await rejectsWith(sender.send.updateObjectUserData(987_654, 'k', 'v'), 'NOT_FOUND');
  });
});

describe('shared tokens', () => {
  it('are records with expiry and counts, never their password', async () => {
    const api = await engine();
    const { manifestId } = await smallManifest(api);
    const before = Date.now() * 1000;
    const locked = await api.send.createSharedToken(manifestId, {
      password: 'hunter2',
      downloadLimit: 3,
      timeLimitSeconds: 3_600,
      description: 'for the auditors',
    });
    expect(locked).toMatchObject({
      manifestId,
      description: 'for the auditors',
      passwordRequired: true,
      downloadLimit: 3,
      downloadCount: 0,
      userData: {},
    });
    expect(locked.token).toMatch(/^[0-9a-f]{32}$/);
    expect(locked.creationTime).toBeGreaterThanOrEqual(before);
    expect(locked.expiryTime).toBe(locked.creationTime + 3_600_000_000);
    expect(JSON.stringify(locked)).not.toContain('hunter2');
    expect(Object.keys(locked)).not.toContain('password');

    const open = await api.send.createSharedToken({ manifestId } as never);
    expect(open).toMatchObject({ passwordRequired: false, downloadLimit: null, expiryTime: null });
    const positional = await api.send.createSharedToken(manifestId, undefined, 1, undefined, 'one');
    expect(positional).toMatchObject({ downloadLimit: 1, description: 'one', passwordRequired: false });

    expect(await api.send.getSharedToken(locked.token)).toEqual(locked);
    expect(await api.send.getSharedToken(locked)).toEqual(locked);
    const all = await api.send.getSharedTokens();
    expect(all.map((t) => t.token)).toEqual([locked.token, open.token, positional.token]);
    expect(await api.send.getSharedTokens({ limit: 2 })).toEqual(all.slice(0, 2));
    expect(JSON.stringify(all)).not.toContain('hunter2');

    const beforeUpdate = Date.now() * 1000;
    expect(
      await api.send.updateSharedToken(open, { timeLimitSeconds: 60, description: 'renamed' }),
    ).toBeNull();
    const updated = await api.send.getSharedToken(open.token);
    expect(updated.description).toBe('renamed');
    expect(updated.expiryTime).toBeGreaterThanOrEqual(beforeUpdate + 60_000_000);
    expect(updated.expiryTime).toBeLessThanOrEqual((Date.now() + 1) * 1000 + 60_000_000);
    expect(updated.creationTime).toBe(open.creationTime);
    await api.send.updateSharedToken(open.token, undefined, 'again');
    expect(await api.send.getSharedToken(open)).toMatchObject({
      description: 'again',
      expiryTime: updated.expiryTime,
    });

    await api.send.deleteSharedToken(locked);
    await rejectsWith(api.send.getSharedToken(locked.token), 'NOT_FOUND');
    await rejectsWith(api.send.deleteSharedToken(locked.token), 'NOT_FOUND');
    await rejectsWith(api.send.updateSharedToken(locked.token, { description: 'x' }), 'NOT_FOUND');
    expect((await api.send.getSharedTokens()).map((t) => t.token)).toEqual([
      open.token,
      positional.token,
    ]);
    await rejectsWith(api.send.createSharedToken('0'.repeat(32)), 'NOT_FOUND');
    // A manifest's tokens go with it.
    await api.send.deleteManifest(manifestId);
    expect(await api.send.getSharedTokens()).toEqual([]);
  });
});

describe('requests', () => {
  it('report success with the stored result, through either interface', async () => {
    const api = await engine();
    const destination = await api.send.createDestination('127.0.0.1', { destinationPort: 7401 });
    const first = await api.send.setSendRateMaxAsync(destination, 300);
    const second = await api.send.setSendRateMaxAsync(destination, 400);
    expect(second.requestId).toBeGreaterThan(first.requestId);
    const status = await api.server.getRequestStatus(first);
    expect(status).toEqual({
      requestId: first.requestId,
      processing: false,
      status: 'complete',
      errorMessage: null,
    });
    expect(await api.server.getRequestResult(first.requestId)).toEqual({ sendRateMax: 300 });
    expect(await api.send.getRequestResult(second, { timeoutSeconds: 5 })).toEqual({
      sendRateMax: 400,
    });
  });

  it('report a failure and getRequestResult throws its stored CommandError', async () => {
    const api = await engine();
    const destination = await api.send.createDestination('127.0.0.1', {
      destinationPort: await closedPort(),
    });
    const request = await api.send.schedulePingAsync(destination, 1);
    const error = await rejectsWith(api.send.getRequestResult(request), 'UNAVAILABLE');
    const status = await api.send.getRequestStatus(request);
    expect(status.status).toBe('error');
    expect(status.errorMessage).toBe(error.message);
    // Asked again later, the stored error comes back the same.
    const again = await rejectsWith(api.server.getRequestResult(request), 'UNAVAILABLE');
    expect(again.message).toBe(error.message);
  });

  it('stay processing until they end; waiting can time out', async () => {
    const api = await engine();
    const destination = await api.send.createDestination('127.0.0.1', {
      destinationPort: await blackHole(),
    });
    const request = await api.send.schedulePingAsync(destination, 1);
    const status = await api.send.getRequestStatus(request);
    expect(status).toMatchObject({ processing: true, status: 'processing', errorMessage: null });
    await rejectsWith(api.send.getRequestResult(request, { timeoutSeconds: 0.2 }), 'TIMED_OUT');
    await rejectsWith(api.send.getRequestResult(request), 'UNAVAILABLE');
  });

  it('an unknown request id is NOT_FOUND', async () => {
    const api = await engine();
    await rejectsWith(api.send.getRequestStatus(424_242), 'NOT_FOUND');
    await rejectsWith(api.send.getRequestResult(424_242), 'NOT_FOUND');
    await rejectsWith(api.server.getRequestStatus({ requestId: 424_242 }), 'NOT_FOUND');
    await rejectsWith(api.server.getRequestResult(424_242), 'NOT_FOUND');
  });
});
