import { readdirSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { CommandError, JetStream } from '../ts/index.js';
import { closeAll, digests, engine, pair, tempDir, tree } from './support/engines.js';

afterAll(closeAll);

describe('JetStream.embedded', () => {
  it('sends a tree between two engines and the receiver holds the same bytes', async () => {
    const { sender, destinationId, sandbox } = await pair();
    const src = tree(tempDir(), { 'a.bin': 1_000_000, 'd/b.bin': 70_000, 'd/e/c.txt': 1 });
    const manifest = await sender.send.createManifest({ mappings: { tree: src } });
    const ready = await sender.send.waitForManifest(manifest);
    expect(ready.status).toBe('complete');
    expect(ready.totalFiles).toBe(6);
    const transfer = await sender.send.createTransfer(destinationId, manifest, {
      destinationPath: 'in',
    });
    const done = await sender.send.waitForTransfer(transfer);
    expect(done.status).toBe('complete');
    expect(done.bytesAcked).toBe(1_070_001);
    expect(digests(join(sandbox, 'in', 'tree'))).toEqual(digests(src));
  });

  it('works with no options at all, and refuses commands once closed', async () => {
    const api = await JetStream.embedded();
    const info = await api.server.getServerInfo();
    expect(info.recvPort).toBeGreaterThan(0);
    expect(info.publicKey).toMatch(/^[0-9a-f]{64}$/);
    // connect() checks the engine answers, as it does for a server.
    expect(await api.connect()).toBe(api);
    await api.close();
    await expect(api.server.getServerInfo()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(api.connect()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('keeps every object when reopened on the same state directory', async () => {
    const stateDir = tempDir();
    const first = await engine({ stateDir });
    const destination = await first.send.createDestination('127.0.0.1', {
      destinationPort: 9,
      permanent: true,
    });
    const key = (await first.server.getServerInfo()).publicKey;
    await first.close();
    const second = await engine({ stateDir });
    expect((await second.server.getServerInfo()).publicKey).toBe(key);
    const again = await second.send.getDestination(destination.destinationId);
    expect(again.destinationPort).toBe(9);
    expect(again.permanent).toBe(true);
  });

  it('sends from an engine that only sends to a receiver that writes nothing', async () => {
    const { sender, destinationId, sandbox } = await pair({ receive: false }, { recvDiscard: true });
    expect((await sender.server.getServerInfo()).recvPort).toBe(0);
    const src = tree(tempDir(), { 'a.bin': 300_000, 'd/b.bin': 1 });
    const manifest = await sender.send.createManifest({ mappings: { tree: src } });
    await sender.send.waitForManifest(manifest);
    const transfer = await sender.send.createTransfer(destinationId, manifest);
    const done = await sender.send.waitForTransfer(transfer);
    expect(done.status).toBe('complete');
    expect(done.bytesAcked).toBe(300_001);
    expect(readdirSync(sandbox)).toEqual([]);
  });

  it('refuses a bad engine option with the option named', async () => {
    await expect(JetStream.embedded({ stateDir: tempDir(), mtu: 1000 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('mtu 1000'),
    });
  });

  it('takes a limit on the age of part files (0: no limit)', async () => {
    for (const partFileMaxAgeSeconds of [60, 0]) {
      const api = await engine({ stateDir: tempDir(), partFileMaxAgeSeconds });
      expect((await api.server.getServerInfo()).recvPort).toBeGreaterThan(0);
    }
  });

  it('refuses an unknown option', async () => {
    await expect(
      JetStream.embedded({ stateDir: tempDir(), colour: 'red' } as never),
    ).rejects.toBeInstanceOf(CommandError);
  });
});
