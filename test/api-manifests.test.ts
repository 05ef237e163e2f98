// Manifests against real engines (embedded, or servers): every mapping form, include/exclude globs, symlink
// options, pending → complete/error, waitForManifest, getManifestFiles and getManifests paging,
// and deleteManifest while a transfer uses it. What is sent is checked on disk.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import {
  constants,
  type CreateManifestOptions,
  type GetManifestsOptions,
  type JetStream,
  type Manifest,
} from '../ts/index.js';
import { bytes, closeAll, digests, engine, pair, tempDir, tree } from './support/engines.js';
import { rejectsWith, until } from './support/probes.js';

afterAll(closeAll);

/** SHA-256 of one file, as `digests` gives it. */
function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Creates a manifest and waits for its walk; the finished manifest. */
async function ready(api: JetStream, options: CreateManifestOptions): Promise<Manifest> {
  const manifest = await api.send.createManifest(options);
  expect(manifest.status).toBe('pending');
  expect(manifest.processing).toBe(true);
  return api.send.waitForManifest(manifest);
}

/** The destination paths of a manifest's entries, in order. */
async function destPaths(api: JetStream, manifest: Manifest): Promise<string[]> {
  return (await api.send.getManifestFiles(manifest)).fileMappings.map((f) => f.destPath);
}

/** Sends `manifest` into `path` below the receiver's root and waits for it. */
async function send(
  sender: JetStream,
  destinationId: string,
  manifest: Manifest,
  path: string,
): Promise<void> {
  const transfer = await sender.send.createTransfer(destinationId, manifest, { destinationPath: path });
  const done = await sender.send.waitForTransfer(transfer);
  expect(done.status, done.errorMessage ?? '').toBe('complete');
}

describe('mappings', () => {
  it('maps destination paths to source files and directories, leading slash or not', async () => {
    const { sender, destinationId, sandbox } = await pair();
    const src = tree(tempDir(), { 'docs/readme.txt': 500, 'docs/img/a.png': 2_000, 'x.bin': 70_000 });
    mkdirSync(join(src, 'docs/empty'));
    const manifest = await ready(sender, {
      mappings: {
        '/project/introduction.txt': join(src, 'docs/readme.txt'),
        'project/docs/': join(src, 'docs'),
        'solo.bin': join(src, 'x.bin'),
      },
    });
    expect(manifest).toMatchObject({ status: 'complete', processing: false, errorMessage: null });
    const files = (await sender.send.getManifestFiles(manifest)).fileMappings;
    expect(files.map((f) => f.destPath)).toEqual([
      'project/introduction.txt',
      'project/docs',
      'project/docs/empty',
      'project/docs/img',
      'project/docs/img/a.png',
      'project/docs/readme.txt',
      'solo.bin',
    ]);
    expect(manifest.totalFiles).toBe(7);
    expect(manifest.totalSize).toBe(500 + 2_000 + 500 + 70_000);
    const solo = files.find((f) => f.destPath === 'solo.bin');
    expect(solo).toMatchObject({
      srcPath: join(src, 'x.bin'),
      fileSize: 70_000,
      isEmptyDir: false,
      executable: false,
    });
    const mtimeUs = statSync(join(src, 'x.bin'), { bigint: true }).mtimeNs / 1000n;
    expect(solo?.modificationTime).toBe(Number(mtimeUs));
    expect(files.find((f) => f.destPath === 'project/docs/empty')?.isEmptyDir).toBe(true);

    await send(sender, destinationId, manifest, 'm');
    const landed = join(sandbox, 'm');
    expect(digests(join(landed, 'project/docs'))).toEqual(digests(join(src, 'docs')));
    expect(digests(join(landed, 'project'))['introduction.txt']).toBe(digests(src)['docs/readme.txt']);
    expect(digests(landed)['solo.bin']).toBe(digests(src)['x.bin']);
    expect(statSync(join(landed, 'project/docs/empty')).isDirectory()).toBe(true);
  });

  it('takes I/O-free sources as described, without touching the file system', async () => {
    const { sender, destinationId, sandbox } = await pair();
    const src = tree(tempDir(), { 'tool.sh': 3_000 });
    const manifest = await ready(sender, {
      mappings: {
        '/storage/tool.sh': { src: join(src, 'tool.sh'), size: 3_000, access: 'x' },
        'storage/ghost.bin': { src: '/does/not/exist', size: 123, flags: constants.FILETYPE_REGULAR_FILE },
        'storage/emptyDir': { src: '/no/such/dir' },
        'storage/dirFlag': { src: '/no/such/dir', size: 99, flags: constants.FILETYPE_DIRECTORY },
      },
    });
    expect(manifest.status).toBe('complete');
    const files = (await sender.send.getManifestFiles(manifest)).fileMappings;
    expect(files.sort((a, b) => a.destPath.localeCompare(b.destPath))).toEqual([
      { srcPath: '/no/such/dir', destPath: 'storage/dirFlag', fileSize: 0, isEmptyDir: true, executable: false, modificationTime: null },
      { srcPath: '/no/such/dir', destPath: 'storage/emptyDir', fileSize: 0, isEmptyDir: true, executable: false, modificationTime: null },
      { srcPath: '/does/not/exist', destPath: 'storage/ghost.bin', fileSize: 123, isEmptyDir: false, executable: false, modificationTime: null },
      { srcPath: join(src, 'tool.sh'), destPath: 'storage/tool.sh', fileSize: 3_000, isEmptyDir: false, executable: true, modificationTime: null },
    ]);
    expect(manifest.totalSize).toBe(3_123);

    // Only the entries whose source exists by then can be sent.
    const sendable = await ready(sender, {
      mappings: {
        'bin/tool.sh': { src: join(src, 'tool.sh'), size: 3_000, access: 'x' },
        'bin/cache': { src: '/nowhere' },
      },
    });
    await send(sender, destinationId, sendable, 'io-free');
    const tool = join(sandbox, 'io-free/bin/tool.sh');
    expect(digests(join(sandbox, 'io-free/bin'))['tool.sh']).toBe(digests(src)['tool.sh']);
    expect(statSync(tool).mode & 0o111).not.toBe(0);
    expect(statSync(join(sandbox, 'io-free/bin/cache')).isDirectory()).toBe(true);
  });

  it('filters a walked source with include and exclude globs', async () => {
    const api = await engine();
    const src = tree(tempDir(), {
      'a.mp3': 10,
      'b.png': 10,
      'c.PNG': 10,
      'd.txt': 10,
      'sub/e.mp3': 10,
      'sub/f.txt': 10,
    });
    const included = await ready(api, { mappings: { music: { src, include: ['*.mp3'] } } });
    expect(await destPaths(api, included)).toEqual(['music', 'music/a.mp3', 'music/sub', 'music/sub/e.mp3']);
    const excluded = await ready(api, { mappings: { pics: { src, exclude: ['*.png', '*.PNG'] } } });
    expect(await destPaths(api, excluded)).toEqual([
      'pics',
      'pics/a.mp3',
      'pics/d.txt',
      'pics/sub',
      'pics/sub/e.mp3',
      'pics/sub/f.txt',
    ]);
    const both = await ready(api, { mappings: { both: { src, include: ['*.mp3', '*.txt'], exclude: ['sub'] } } });
    expect(await destPaths(api, both)).toEqual(['both', 'both/a.mp3', 'both/d.txt']);
    expect(both.totalSize).toBe(20);
    // A glob that does not parse is refused with the call, naming where it is.
    const error = await rejectsWith(
      api.send.createManifest({ mappings: { bad: { src, include: ['[a-'] } } }),
      'INVALID_ARGUMENT',
    );
    expect(error.message).toContain('include');
  });

  it('accepts the deprecated fileMappings, source → destination', async () => {
    const { sender, destinationId, sandbox } = await pair();
    const src = tree(tempDir(), { 'one.bin': 4_000, 'dir/two.bin': 5_000 });
    const manifest = await ready(sender, {
      fileMappings: { [join(src, 'one.bin')]: 'old/first.bin', [join(src, 'dir')]: '/old/dir' },
    });
    expect(await destPaths(sender, manifest)).toEqual(['old/dir', 'old/dir/two.bin', 'old/first.bin']);
    await send(sender, destinationId, manifest, 'fm');
    expect(digests(join(sandbox, 'fm/old'))).toEqual({
      'first.bin': digests(src)['one.bin'],
      'dir/two.bin': digests(src)['dir/two.bin'],
    });
  });

  it('refuses a missing source at once, and destination paths that escape', async () => {
    const api = await engine();
    const src = tree(tempDir(), { 'f.bin': 1 });
    await rejectsWith(api.send.createManifest({ mappings: { a: join(src, 'nope') } }), 'NOT_FOUND');
    await rejectsWith(api.send.createManifest({ fileMappings: { [join(src, 'nope')]: 'a' } }), 'NOT_FOUND');
    for (const dest of ['../up', 'a/../../b', 'x\\y']) {
      const error = await rejectsWith(
        api.send.createManifest({ mappings: { [dest]: join(src, 'f.bin') } }),
        'INVALID_ARGUMENT',
      );
      expect(error.message).toContain('mappings');
      await rejectsWith(
        api.send.createManifest({ mappings: { [dest]: { src: '/x', size: 1 } } }),
        'INVALID_ARGUMENT',
      );
    }
    await rejectsWith(
      api.send.createManifest({ mappings: { a: join(src, 'f.bin') }, fileMappings: { [src]: 'b' } }),
      'INVALID_ARGUMENT',
    );
    await rejectsWith(api.send.createManifest(), 'INVALID_ARGUMENT');
    expect(await api.send.getManifests()).toEqual([]);
  });
});

describe('symlinkOptions', () => {
  /** A tree with a file, a directory, a link to each and a dangling link. */
  function linked(): string {
    const src = tree(tempDir(), { 'file.bin': 2_000, 'dir/inner.bin': 300 });
    symlinkSync(join(src, 'file.bin'), join(src, 'link-file'));
    symlinkSync(join(src, 'dir'), join(src, 'link-dir'));
    symlinkSync(join(src, 'gone'), join(src, 'dangling'));
    return src;
  }

  it('copies what links point to by default, and skips them as asked', async () => {
    const { sender, destinationId, sandbox } = await pair();
    const src = linked();
    const copied = await ready(sender, { mappings: { t: src } });
    expect(copied.symlinkOptions).toBe(constants.SYMLINKS_COPY_CONTENTS);
    expect(await destPaths(sender, copied)).toEqual([
      't',
      't/dir',
      't/dir/inner.bin',
      't/file.bin',
      't/link-dir',
      't/link-dir/inner.bin',
      't/link-file',
    ]);
    await send(sender, destinationId, copied, 'copy');
    const landed = join(sandbox, 'copy/t');
    expect(lstatSync(join(landed, 'link-file')).isFile()).toBe(true);
    expect(digests(landed)['link-file']).toBe(sha256(join(src, 'file.bin')));
    expect(digests(landed)['link-dir/inner.bin']).toBe(sha256(join(src, 'dir/inner.bin')));
    expect(existsSync(join(landed, 'dangling'))).toBe(false);

    const ignored = await ready(sender, { mappings: { t: src }, symlinkOptions: constants.SYMLINKS_IGNORE });
    expect(ignored.symlinkOptions).toBe(constants.SYMLINKS_IGNORE);
    expect(await destPaths(sender, ignored)).toEqual(['t', 't/dir', 't/dir/inner.bin', 't/file.bin']);
    await send(sender, destinationId, ignored, 'ignore');
    expect(existsSync(join(sandbox, 'ignore/t/link-file'))).toBe(false);
    expect(existsSync(join(sandbox, 'ignore/t/file.bin'))).toBe(true);

    const noFiles = await ready(sender, {
      mappings: { t: src },
      symlinkOptions: constants.SYMLINKS_IGNORE_FILES,
    });
    expect(await destPaths(sender, noFiles)).toContain('t/link-dir/inner.bin');
    expect(await destPaths(sender, noFiles)).not.toContain('t/link-file');
    const noDirs = await ready(sender, {
      mappings: { t: src },
      symlinkOptions: constants.SYMLINKS_IGNORE_DIRECTORIES,
    });
    expect(await destPaths(sender, noDirs)).toContain('t/link-file');
    expect(await destPaths(sender, noDirs)).not.toContain('t/link-dir');
  });
});

describe('manifest status', () => {
  it('goes from pending to complete, with waitForManifest resolving at the end', async () => {
    const api = await engine();
    const files: Record<string, number> = {};
    for (let i = 0; i < 2_000; i++) {
      files[`d${i % 20}/f${i}.bin`] = 1;
    }
    const src = tree(tempDir(), files);
    const manifest = await api.send.createManifest({ mappings: { many: src } });
    expect(manifest).toMatchObject({ status: 'pending', processing: true, totalFiles: 0 });
    const waiters = [api.send.waitForManifest(manifest), api.send.waitForManifest(manifest.manifestId)];
    const [done, alsoDone] = await Promise.all(waiters);
    expect(done).toMatchObject({ status: 'complete', processing: false, totalFiles: 2_021, totalSize: 2_000 });
    expect(alsoDone).toEqual(done);
    expect(await api.send.getManifest(manifest)).toEqual(done);
    // Waiting for a finished manifest answers at once.
    expect(await api.send.waitForManifest(manifest)).toEqual(done);
    await rejectsWith(api.send.waitForManifest('0'.repeat(32)), 'NOT_FOUND');
  });

  it('ends in error with the reason when the walk fails', async () => {
    const api = await engine();
    const src = tree(tempDir(), { 'ok.bin': 10 });
    // A name that is not UTF-8 cannot be sent: the walk finds it after the call returned.
    writeFileSync(Buffer.concat([Buffer.from(join(src, 'bad-')), Buffer.from([0xff, 0xfe])]), bytes(5, 9));
    const manifest = await api.send.createManifest({ mappings: { t: src } });
    const failed = await api.send.waitForManifest(manifest);
    expect(failed).toMatchObject({ status: 'error', processing: false });
    expect(failed.errorMessage).toBeTruthy();
    expect(await api.send.getManifest(manifest)).toEqual(failed);
    const destination = await api.send.createDestination('127.0.0.1', { destinationPort: 7501 });
    await rejectsWith(api.send.createTransfer(destination, manifest), 'INVALID_STATE');
  });

  it('answers waiters with NOT_FOUND when the manifest is deleted during its walk', async () => {
    const api = await engine();
    // Enough files that the walk is still going when the delete arrives, over the control
    // port too.
    const files: Record<string, number> = {};
    for (let i = 0; i < 20_000; i++) {
      files[`f${i}`] = 1;
    }
    const manifest = await api.send.createManifest({ mappings: { t: tree(tempDir(), files) } });
    const waiting = rejectsWith(api.send.waitForManifest(manifest), 'NOT_FOUND');
    await api.send.deleteManifest(manifest);
    await waiting;
    await rejectsWith(api.send.getManifest(manifest), 'NOT_FOUND');
  });
});

describe('listing', () => {
  it('getManifestFiles returns the first limit entries in order', async () => {
    const api = await engine();
    const src = tree(tempDir(), { a: 1, b: 2, c: 3, d: 4, e: 5 });
    const manifest = await ready(api, { mappings: { t: src } });
    const all = (await api.send.getManifestFiles(manifest)).fileMappings;
    expect(all.map((f) => f.destPath)).toEqual(['t', 't/a', 't/b', 't/c', 't/d', 't/e']);
    const some = await api.send.getManifestFiles(manifest.manifestId, 3);
    expect(some).toEqual({ manifestId: manifest.manifestId, fileMappings: all.slice(0, 3) });
    expect((await api.send.getManifestFiles(manifest, { limit: 1 })).fileMappings).toEqual(all.slice(0, 1));
    await rejectsWith(api.send.getManifestFiles('0'.repeat(32)), 'NOT_FOUND');
  });

  it('getManifests pages by before, after and limit', async () => {
    const api = await engine();
    const src = tree(tempDir(), { f: 1 });
    const made: Manifest[] = [];
    for (let i = 0; i < 5; i++) {
      made.push(await ready(api, { mappings: { [`m${i}`]: join(src, 'f') } }));
    }
    const ids = made.map((m) => m.manifestId);
    const list = async (options: GetManifestsOptions): Promise<string[]> =>
      (await api.send.getManifests(options)).map((m) => m.manifestId);
    expect(await list({})).toEqual(ids);
    expect(await list({ after: ids[0] })).toEqual(ids.slice(1));
    expect(await list({ before: ids[4] })).toEqual(ids.slice(0, 4));
    expect(await list({ after: made[0], before: made[4] })).toEqual(ids.slice(1, 4));
    expect(await list({ limit: 2 })).toEqual(ids.slice(0, 2));
    expect(await list({ after: ids[1], limit: 2 })).toEqual(ids.slice(2, 4));
    // With only `before`, the nearest ones before it, still oldest first.
    expect(await list({ before: ids[4], limit: 2 })).toEqual(ids.slice(2, 4));
    expect((await api.send.getManifests(undefined, ids[2], 1)).map((m) => m.manifestId)).toEqual([ids[3]]);
    await rejectsWith(api.send.getManifests({ after: '0'.repeat(32) }), 'NOT_FOUND');
  });
});

describe('deleteManifest', () => {
  it('may delete a manifest a transfer is sending; the transfer still completes', async () => {
    const { sender, destinationId, sandbox } = await pair();
    const src = tree(tempDir(), { 'big.bin': 1_200_000, 'small.bin': 1_000 });
    const manifest = await ready(sender, { mappings: { d: src } });
    // 1.2 MB at 4 Mbit/s: over two seconds of sending.
    const transfer = await sender.send.createTransfer(destinationId, manifest, {
      sendRateMax: 4_000,
      destinationPath: 'del',
    });
    await until(
      () => sender.send.getTransfer(transfer),
      (t) => t.status === 'sending' && t.bytesSent > 0,
    );
    await sender.send.deleteManifest(manifest);
    await rejectsWith(sender.send.getManifest(manifest), 'NOT_FOUND');
    await rejectsWith(sender.send.deleteManifest(manifest), 'NOT_FOUND');
    const done = await sender.send.waitForTransfer(transfer);
    expect(done.status, done.errorMessage ?? '').toBe('complete');
    expect(done.manifestId).toBe(manifest.manifestId);
    expect(digests(join(sandbox, 'del/d'))).toEqual(digests(src));
    expect(await sender.send.getManifests()).toEqual([]);
  });
});
