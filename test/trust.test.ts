// The safe defaults between two engines (embedded, or servers through the remote client): a receiver accepts only the senders it
// authorizes and replaces no existing file unless its maxOverwriteMode allows it, and a sender
// records each receiver's key at first contact and refuses the receiver once its key changes.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { constants, type JetStream, type Transfer } from '../ts/index.js';
import { authorize, closeAll, digests, engine, mode, pair, tempDir, tree } from './support/engines.js';
import { rejectsWith } from './support/probes.js';

afterAll(closeAll);

/** Sends a small tree from `sender` to `destinationId`; the ended transfer and its source. */
async function sendTree(
  sender: JetStream,
  destinationId: string,
  options: Record<string, unknown> = {},
): Promise<{ transfer: Transfer; src: string }> {
  const src = tree(tempDir(), { 'a.bin': 20_000, 'b/c.bin': 300 });
  const manifest = await sender.send.createManifest({ mappings: { t: src } });
  await sender.send.waitForManifest(manifest);
  const created = await sender.send.createTransfer(destinationId, manifest, options);
  return { transfer: await sender.send.waitForTransfer(created), src };
}

describe('a receiver', () => {
  it('accepts only the senders it authorizes, by default', async () => {
    const sender = await engine();
    const receiver = await engine();
    const info = await receiver.server.getServerInfo();
    expect(info.onlyAuthorizedClientsAllowed).toBe(true);
    const destination = await sender.send.createDestination('127.0.0.1', {
      destinationPort: info.recvPort,
    });
    const senderKey = (await sender.server.getServerInfo()).publicKey;
    const { transfer } = await sendTree(sender, destination.destinationId);
    expect(transfer).toMatchObject({ status: 'error', bytesAcked: 0 });
    expect(transfer.errorMessage).toBe(
      `AUTH_FAILED: receiver reported: sender key ${senderKey} is not authorized by the receiver`,
    );
    expect(readdirSync(info.sandboxDir ?? '')).toEqual([]);
  });

  it('refuses an overwrite mode above its maxOverwriteMode before writing anything', async () => {
    const { sender, receiver, destinationId, sandbox } = await pair(
      {},
      { maxOverwriteMode: constants.OVERWRITE_BACKUP },
    );
    expect((await receiver.server.getServerInfo()).maxOverwriteMode).toBe(constants.OVERWRITE_BACKUP);
    const refused = await sendTree(sender, destinationId, {
      destinationPath: 'refused',
      overwriteMode: constants.OVERWRITE_ALWAYS,
    });
    expect(refused.transfer).toMatchObject({ status: 'error', bytesAcked: 0 });
    expect(refused.transfer.errorMessage).toBe(
      "PERMISSION_DENIED: receiver reported: overwrite mode always is above this receiver's " +
        'maximum, backup',
    );
    expect(readdirSync(sandbox)).toEqual([]);
    for (const overwriteMode of [constants.OVERWRITE_BACKUP, constants.OVERWRITE_IN_PLACE_NEVER]) {
      const path = `mode${overwriteMode}`;
      const { transfer, src } = await sendTree(sender, destinationId, { destinationPath: path, overwriteMode });
      expect(transfer.status, transfer.errorMessage ?? '').toBe('complete');
      expect(digests(join(sandbox, path, 't'))).toEqual(digests(src));
    }
  });

  it('takes a maxOverwriteMode that is an OVERWRITE_* mode only', async () => {
    // A server's flag takes names, not numbers: only the embedded option can be out of range.
    if (mode === 'embedded') {
      await rejectsWith(engine({ maxOverwriteMode: 6 }), 'INVALID_ARGUMENT');
    }
    const open = await engine({ maxOverwriteMode: constants.OVERWRITE_IN_PLACE_SAME_SIZE });
    // Every in-place mode that replaces is the same level: reported as the widest.
    expect((await open.server.getServerInfo()).maxOverwriteMode).toBe(
      constants.OVERWRITE_IN_PLACE_ALWAYS,
    );
  });
});

describe('a sender', () => {
  it('records a receiver at first contact and refuses it once its key changes', async () => {
    const stateDir = tempDir();
    const { sender, receiver, destinationId } = await pair({ stateDir });
    const { recvPort, publicKey: firstKey } = await receiver.server.getServerInfo();
    const known = join(stateDir, 'known_receivers');
    expect((await sendTree(sender, destinationId)).transfer.status).toBe('complete');
    const line = `127.0.0.1:${recvPort} ${firstKey}\n`;
    expect(readFileSync(known, 'utf8')).toBe(line);

    // Another receiver, with another key, at the same address.
    await receiver.close();
    const other = await engine({ recvPort });
    await authorize(other, sender);
    const { publicKey: otherKey, sandboxDir } = await other.server.getServerInfo();
    const { transfer } = await sendTree(sender, destinationId);
    expect(transfer).toMatchObject({ status: 'error', bytesAcked: 0 });
    expect(transfer.errorMessage).toMatch(/^AUTH_FAILED: /);
    for (const part of [otherKey, firstKey, `line 1 of ${known}`, 'destinationPublicKey']) {
      expect(transfer.errorMessage).toContain(part);
    }
    expect((await sender.send.getDestination(destinationId)).lastError).toBe('AUTH_FAILED');
    expect(readdirSync(sandboxDir ?? '')).toEqual([]);
    expect(readFileSync(known, 'utf8')).toBe(line);

    // Pinned explicitly, the new key is trusted.
    const pinned = await sender.send.createDestination('127.0.0.1', {
      destinationPort: recvPort,
      authenticateDestination: true,
      destinationPublicKey: otherKey,
    });
    expect((await sendTree(sender, pinned.destinationId)).transfer.status).toBe('complete');
    expect(readFileSync(known, 'utf8')).toBe(line);
  });
});
