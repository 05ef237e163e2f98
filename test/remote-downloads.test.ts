// Downloads by shared token over the control port: a client that holds only a token logs in
// with `server.authToken` and has the token's manifest sent to its own receiver with
// `send.createDownload`; the token's limits hold.
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { JetStream } from '../ts/index.js';
import { bytes, closeAll, digests, serverProcess, tempDir, tree } from './support/engines.js';
import { rejectsWith } from './support/probes.js';

afterAll(closeAll);

describe('a shared token', () => {
  it('downloads its manifest to the holder, once, and then is refused', async () => {
    const server = await serverProcess();
    const owner = await JetStream.connect(server.host, server.port, server.clientOptions);
    const source = tree(tempDir(), { 'a.txt': bytes(1_000, 1), 'sub/b.bin': bytes(400_000, 2) });
    const manifest = await owner.send.createManifest({ mappings: { shared: source } });
    await owner.send.waitForManifest(manifest);
    const { token } = await owner.send.createSharedToken(manifest, {
      password: 'open sesame',
      downloadLimit: 1,
    });

    // The holder: its own engine, accepting the token server's key, and a client of the
    // token server that knows nothing but the token.
    const holder = await JetStream.embedded({ stateDir: tempDir() });
    const holderInfo = await holder.server.getServerInfo();
    const serverKey = (await owner.server.getServerInfo()).publicKey;
    await holder.server.getRequestResult(await holder.recv.addAuthorizedClientAsync(serverKey));
    const client = await JetStream.connect(server.host, server.port, {
      fingerprint: server.fingerprint!,
    });
    try {
      await rejectsWith(client.server.authToken(token, 'guess'), 'AUTH_FAILED');
      const session = await client.server.authToken(token, 'open sesame');
      expect(session.manifestId).toBe(manifest.manifestId);
      // The session downloads and does nothing else.
      await rejectsWith(client.send.getTransfers(), 'PERMISSION_DENIED');

      const download = await client.send.createDownload(holderInfo.recvPort, {
        destinationPublicKey: holderInfo.publicKey,
        destinationPath: 'dl',
      });
      const done = await owner.send.waitForTransfer(download);
      expect(done.status).toBe('complete');
      expect(digests(join(holderInfo.sandboxDir!, 'dl', 'shared'))).toEqual(digests(source));
      expect((await owner.send.getSharedToken(token)).downloadCount).toBe(1);

      const again = await rejectsWith(
        client.send.createDownload(holderInfo.recvPort, { destinationPath: 'again' }),
        'AUTH_FAILED',
      );
      expect(again.message).toContain('download limit');
    } finally {
      await client.close();
      await holder.close();
      await owner.close();
    }
  });
});
