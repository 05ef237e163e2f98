/**
 * Quick start: two engines in this process, one sending a directory to the other over
 * loopback, driven through the SendInterface exactly as an application would.
 *
 * Run it with `npm run example` (after `npm install`).
 */

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { JetStream, type Transfer } from 'jetstream';

/** What the quick start did: the finished transfer, and where the tree came from and went. */
export interface QuickstartResult {
  transfer: Transfer;
  source: string;
  received: string;
}

/** Sends a small generated tree from one engine to another. */
export async function quickstart(): Promise<QuickstartResult> {
  const work = mkdtempSync(join(tmpdir(), 'jetstream-quickstart-'));
  const source = join(work, 'photos');
  mkdirSync(join(source, '2026'), { recursive: true });
  writeFileSync(join(source, 'index.txt'), 'holiday photos\n');
  writeFileSync(join(source, '2026', 'beach.raw'), Buffer.alloc(8 * 1024 * 1024, 7));

  // The receiving engine writes only below its sandbox directory.
  const receiver = await JetStream.embedded({ sandboxDir: join(work, 'inbox') });
  const sender = await JetStream.embedded();
  try {
    const { recvPort, publicKey } = await receiver.server.getServerInfo();

    // A receiver accepts only the senders whose keys it authorizes.
    const { publicKey: senderKey } = await sender.server.getServerInfo();
    await receiver.server.getRequestResult(await receiver.recv.addAuthorizedClientAsync(senderKey));

    // A destination is a receiver's address and UDP port; its key authenticates it.
    const destination = await sender.send.createDestination('127.0.0.1', {
      destinationPort: recvPort,
      authenticateDestination: true,
      destinationPublicKey: publicKey,
    });
    // A manifest maps destination paths to sources; it is walked in the background.
    const manifest = await sender.send.createManifest({ mappings: { photos: source } });
    await sender.send.waitForManifest(manifest);

    const transfer = await sender.send.createTransfer(destination, manifest, {
      destinationPath: 'incoming',
    });
    const done = await sender.send.waitForTransfer(transfer);
    const received = join(work, 'inbox', 'incoming', 'photos');
    console.log(
      `transfer ${done.transferId}: ${done.status}, ${done.filesComplete}/${done.totalFiles} files,` +
        ` ${done.bytesAcked} bytes into ${received}`,
    );
    return { transfer: done, source, received };
  } finally {
    await sender.close();
    await receiver.close();
  }
}

// Run when executed directly (not when imported by the test suite).
if (import.meta.url === `file://${process.argv[1]}`) {
  await quickstart();
}
