// Symbolic links through the SendInterface between two engines on loopback (embedded, or
// servers): with SYMLINKS_PRESERVE a link is sent as itself and recreated when its target stays
// inside the destination directory; one leading out is refused with nothing written, and the
// transfer places everything else and fails naming it. The default copies what links name.
import { lstatSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { constants, type JetStream } from '../ts/index.js';
import { closeAll, digests, pair, tempDir, tree } from './support/engines.js';

afterAll(closeAll);

/** Sends `src` (mapped to `t`) with `symlinkOptions` into `path`; the ended transfer. */
async function send(
  sender: JetStream,
  destinationId: string,
  src: string,
  symlinkOptions: number,
  path: string,
) {
  const manifest = await sender.send.createManifest({ mappings: { t: src }, symlinkOptions });
  expect((await sender.send.waitForManifest(manifest)).status).toBe('complete');
  const created = await sender.send.createTransfer(destinationId, manifest, { destinationPath: path });
  return sender.send.waitForTransfer(created);
}

describe('SYMLINKS_PRESERVE', () => {
  it('recreates links that stay inside and refuses, counting and naming, those leading out', async () => {
    const { sender, destinationId, sandbox } = await pair();
    const src = tree(tempDir(), { 'f.txt': 1_000, 'sub/g.txt': 2_000 });
    symlinkSync('f.txt', join(src, 'inside'));
    symlinkSync('../f.txt', join(src, 'sub/up'));
    symlinkSync('../../../../etc/passwd', join(src, 'sub/escape'));

    const mixed = await send(sender, destinationId, src, constants.SYMLINKS_PRESERVE, 'mixed');
    expect(mixed.status).toBe('error');
    expect(mixed.errorMessage).toMatch(/^PERMISSION_DENIED: .*1 entry refused: link "t\/sub\/escape"/);
    const root = join(sandbox, 'mixed/t');
    expect(readlinkSync(join(root, 'inside'))).toBe('f.txt');
    expect(readlinkSync(join(root, 'sub/up'))).toBe('../f.txt');
    expect(readFileSync(join(root, 'sub/up'))).toEqual(readFileSync(join(src, 'f.txt')));
    expect(readdirSync(join(root, 'sub')).sort()).toEqual(['g.txt', 'up']);
    expect(readFileSync(join(root, 'sub/g.txt'))).toEqual(readFileSync(join(src, 'sub/g.txt')));

    // The default copies the contents of the links that resolve.
    rmSync(join(src, 'sub/escape'));
    const copied = await send(sender, destinationId, src, constants.SYMLINKS_COPY_CONTENTS, 'copied');
    expect(copied.status, copied.errorMessage ?? '').toBe('complete');
    expect(lstatSync(join(sandbox, 'copied/t/inside')).isFile()).toBe(true);
    expect(digests(join(sandbox, 'copied/t'))).toMatchObject({
      inside: digests(src)['f.txt'],
      'sub/up': digests(src)['f.txt'],
    });
  });
});
