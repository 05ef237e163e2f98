/**
 * Transfers that survive their receiver: a receiver engine closed mid-transfer and opened again
 * on the same port and state is reconnected to, and the transfer completes with identical
 * bytes; a transfer that gave up is retried by resumeTransferAsync.
 */

import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { authorize, closeAll, digests, engine, tempDir, tree } from './support/engines.js';
import { untilTransfer } from './support/transfers.js';

afterAll(closeAll);

/** A receiver engine on a port of its own choosing, and the sender's destination to it. */
async function receiverAndDestination() {
  const state = tempDir('jetstream-receiver-');
  const receiver = await engine({ stateDir: state });
  const info = await receiver.server.getServerInfo();
  const sender = await engine();
  // Kept in the receiver's state, so it holds when the receiver is opened again.
  await authorize(receiver, sender);
  const destination = await sender.send.createDestination('127.0.0.1', {
    destinationPort: info.recvPort,
  });
  return { sender, receiver, state, port: info.recvPort, destinationId: destination.destinationId, sandbox: info.sandboxDir ?? '' };
}

async function manifestOf(api: Awaited<ReturnType<typeof engine>>, src: string): Promise<string> {
  const manifest = await api.send.createManifest({ mappings: { tree: src } });
  return (await api.send.waitForManifest(manifest)).manifestId;
}

describe('a receiver that goes away', () => {
  it('is reconnected to once it is back, and the transfer completes identical', async () => {
    const { sender, receiver, state, port, destinationId, sandbox } = await receiverAndDestination();
    const src = tree(tempDir(), { 'a.bin': 3 << 20, 'b.bin': 3 << 20, 'c.bin': 1000 });
    const manifestId = await manifestOf(sender, src);
    // 16 Mbit/s: about 3 s for the tree, long enough to be cut.
    const created = await sender.send.createTransfer(destinationId, manifestId, {
      sendRateMax: 16_000,
      timeoutSeconds: 60,
    });
    await untilTransfer(sender, created.transferId, (t) => t.bytesAcked > 1 << 20);
    await receiver.close();
    const cut = await untilTransfer(sender, created.transferId, (t) => t.reconnects > 0, 20_000);
    expect(cut.status).toBe('sending');
    expect(cut.lastError).toMatch(/TIMED_OUT|UNAVAILABLE|answer/);
    await engine({ stateDir: state, recvPort: port });
    const done = await sender.send.waitForTransfer(created.transferId);
    expect(done.status, done.errorMessage ?? '').toBe('complete');
    expect(done.reconnects).toBeGreaterThan(0);
    expect(digests(join(sandbox, 'tree'))).toEqual(digests(src));
  });

  it('with timeoutSeconds 0 never gives up: it outlasts a timed transfer and completes once the receiver is back', async () => {
    const { sender, receiver, state, port, destinationId, sandbox } = await receiverAndDestination();
    await receiver.close();
    const src = tree(tempDir(), { 'x.bin': 200_000 });
    const manifestId = await manifestOf(sender, src);
    const patient = await sender.send.createTransfer(destinationId, manifestId, { timeoutSeconds: 0 });
    const brief = await sender.send.createTransfer(destinationId, manifestId, {
      timeoutSeconds: 2,
      destinationPath: 'brief',
    });
    expect((await sender.send.waitForTransfer(brief.transferId)).status).toBe('error');
    // The timed one gave up; the one without a timeout is still trying.
    expect(await sender.send.getTransfer(patient)).toMatchObject({
      processing: true,
      timeoutSeconds: 0,
    });
    await engine({ stateDir: state, recvPort: port });
    const done = await sender.send.waitForTransfer(patient.transferId);
    expect(done.status, done.errorMessage ?? '').toBe('complete');
    expect(digests(join(sandbox, 'tree'))).toEqual(digests(src));
  });

  it('leaves a transfer that gave up to resumeTransferAsync, which finishes it', async () => {
    const { sender, receiver, state, port, destinationId, sandbox } = await receiverAndDestination();
    await receiver.close();
    const src = tree(tempDir(), { 'x.bin': 200_000 });
    const manifestId = await manifestOf(sender, src);
    const created = await sender.send.createTransfer(destinationId, manifestId, { timeoutSeconds: 2 });
    const failed = await sender.send.waitForTransfer(created.transferId);
    expect(failed.status).toBe('error');
    await engine({ stateDir: state, recvPort: port });
    const { requestId } = await sender.send.resumeTransferAsync(created.transferId);
    await sender.server.getRequestResult(requestId);
    const done = await sender.send.waitForTransfer(created.transferId);
    expect(done.status, done.errorMessage ?? '').toBe('complete');
    expect(digests(join(sandbox, 'tree'))).toEqual(digests(src));
  });
});
