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

/** A small tree of "photos" in a new temporary directory: 2 directories, 2 files. */
export function photos(): string {
  const source = join(mkdtempSync(join(tmpdir(), 'jetstream-quickstart-')), 'photos');
  mkdirSync(join(source, '2026'), { recursive: true });
  writeFileSync(join(source, 'index.txt'), 'holiday photos\n');
  writeFileSync(join(source, '2026', 'beach.raw'), Buffer.alloc(8 * 1024 * 1024, 7));
  return source;
}

/**
 * Sends the directory `source` from `sender` to `receiver`, into `incoming/` below the
 * receiver's sandbox. Embedded engines and clients of running servers are driven alike.
 */
export async function sendTree(
  sender: JetStream,
  receiver: JetStream,
  source: string,
): Promise<QuickstartResult> {
  const { recvPort, publicKey, sandboxDir } = await receiver.server.getServerInfo();

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
  const received = join(sandboxDir ?? '', 'incoming', 'photos');
  console.log(
    `transfer ${done.transferId}: ${done.status}, ${done.filesComplete}/${done.totalFiles} files,` +
      ` ${done.bytesAcked} bytes into ${received}`,
  );
  return { transfer: done, source, received };
}

/** Sends a small generated tree from one engine to another. */
export async function quickstart(): Promise<QuickstartResult> {
  const source = photos();
  // The receiving engine writes only below its sandbox directory.
  const receiver = await JetStream.embedded({ sandboxDir: join(source, '..', 'inbox') });
  const sender = await JetStream.embedded();
  try {
    return await sendTree(sender, receiver, source);
  } finally {
    await sender.close();
    await receiver.close();
  }
}

// Run when executed directly (not when imported by the test suite).
if (import.meta.url === `file://${process.argv[1]}`) {
  await quickstart();
}
