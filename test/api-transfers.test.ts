/**
 * Transfers through the SendInterface between two engines on loopback (embedded, or servers): every
 * createTransfer parameter and its effect at the receiver, defaults, live progress, listing,
 * waiting, suspend/resume, failing, deleting and per-transfer rate caps.
 */

import { existsSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { constants, type JetStream } from '../ts/index.js';
import {
  authorize,
  bytes,
  closeAll,
  digests,
  engine,
  measuresRates,
  mode,
  pair,
  tempDir,
  tree,
} from './support/engines.js';
import { blake3Hex } from './support/blake3.js';
import { rejectsWith } from './support/probes.js';
import {
  generatedManifest,
  kbps,
  measure,
  sendingTransfer,
  silentPort,
  sleep,
  until,
  untilTransfer,
} from './support/transfers.js';

afterAll(closeAll);

/** A receiver that lets senders replace existing files (OVERWRITE_BACKUP and ALWAYS too). */
const replacing = { maxOverwriteMode: constants.OVERWRITE_ALWAYS };

/** A complete manifest mapping `name` to `src`. */
async function manifestOf(api: JetStream, name: string, src: string): Promise<string> {
  const manifest = await api.send.createManifest({ mappings: { [name]: src } });
  const ready = await api.send.waitForManifest(manifest);
  expect(ready.status).toBe('complete');
  return ready.manifestId;
}

/** A sender whose state directory is known, a receiver, and a destination between them. */
async function pairWithState(): Promise<{
  sender: JetStream;
  stateDir: string;
  destinationId: string;
  sandbox: string;
}> {
  const stateDir = tempDir();
  return { stateDir, ...(await pair({ stateDir })) };
}

describe('createTransfer', () => {
  it('stores every parameter and files land below destinationPath', async () => {
    const { sender, destinationId, sandbox } = await pair({}, replacing);
    const src = tree(tempDir(), { 'a.bin': 300_000, 'd/b.txt': 5 });
    const manifestId = await manifestOf(sender, 'tree', src);
    const options = {
      destinationPath: 'deep/in',
      priority: 7,
      priorityLane: 'Low',
      sendRateMax: 500_000,
      overwriteMode: constants.OVERWRITE_ALWAYS,
      transferFlags: constants.TRANSFER_FLAG_DEFAULT | constants.TRANSFER_FLAG_WRITE_MTIME,
      minCipher: constants.MIN_CIPHER_ENCRYPTED_256,
      checkpointFrequencySeconds: 5,
      fileTimeResolutionMicroseconds: 2_000_000,
      timeoutSeconds: 12,
      userData: { owner: 'tests', run: '1' },
    };
    const created = await sender.send.createTransfer(destinationId, manifestId, options);
    expect(created).toMatchObject({ ...options, destinationId, manifestId, transferLog: false });
    expect(created.processing).toBe(true);
    const done = await sender.send.waitForTransfer(created);
    expect(done).toMatchObject({ ...options, status: 'complete', processing: false });
    expect(done.cipher).toBe(constants.MIN_CIPHER_ENCRYPTED_256);
    expect(done.bytesAcked).toBe(300_005);
    expect(digests(join(sandbox, 'deep', 'in', 'tree'))).toEqual(digests(src));
    // WRITE_MTIME: modification times follow the source.
    const landed = statSync(join(sandbox, 'deep', 'in', 'tree', 'a.bin'));
    expect(Math.trunc(landed.mtimeMs)).toBe(Math.trunc(statSync(join(src, 'a.bin')).mtimeMs));
  });

  it('sends only what changed: skipMode decides, filesSkipped and bytesSkipped count', async () => {
    const { sender, destinationId, sandbox } = await pair({}, replacing);
    const src = tree(tempDir(), { 'a.bin': 200_000, 'b.bin': 100_000, 'd/c.txt': 5 });
    const landed = join(sandbox, 'tree');
    const send = async (skipMode?: number) => {
      // A manifest holds the sizes and times of its walk: each send walks the tree anew.
      const manifestId = await manifestOf(sender, 'tree', src);
      const created = await sender.send.createTransfer(destinationId, manifestId, {
        overwriteMode: constants.OVERWRITE_ALWAYS,
        ...(skipMode === undefined ? {} : { skipMode }),
      });
      const done = await sender.send.waitForTransfer(created);
      expect(done.status).toBe('complete');
      expect(digests(landed)).toEqual(digests(src));
      return done;
    };
    const first = await send();
    expect(first).toMatchObject({ skipMode: constants.SKIP_SAME_SIZE_AND_TIME, filesSkipped: 0 });
    expect(first.bytesAcked).toBe(300_005);

    // Unchanged: no file data at all, every file skipped, and listed as skipped.
    const again = await send();
    expect(again).toMatchObject({ filesSkipped: 3, bytesSkipped: 300_005, bytesSent: 0 });
    const files = await sender.send.getTransferFiles(again.transferId);
    const regular = files.filter((f) => f.fileSize > 0);
    expect(regular.map((f) => f.status)).toEqual(['skipped', 'skipped', 'skipped']);

    // One file changed: only its bytes go.
    writeFileSync(join(src, 'b.bin'), bytes(100_001, 99));
    const changed = await send();
    expect(changed).toMatchObject({ filesSkipped: 2, bytesSkipped: 200_005 });
    // Its bytes (and a repair or two, on a loaded machine), none of the others.
    expect(changed.bytesSent).toBeGreaterThanOrEqual(100_001);
    expect(changed.bytesSent).toBeLessThan(200_000);

    // SKIP_NONE sends everything again.
    const whole = await send(constants.SKIP_NONE);
    expect(whole).toMatchObject({ skipMode: constants.SKIP_NONE, filesSkipped: 0 });
    expect(whole.bytesSent).toBeGreaterThanOrEqual(300_006);
  });

  it('records the cipher agreed, never below minCipher', async () => {
    const { sender, destinationId } = await pair();
    const manifestId = await manifestOf(sender, 'x.bin', tree(tempDir(), { 'x.bin': 1000 }) + '/x.bin');
    for (const minCipher of [constants.MIN_CIPHER_ENCRYPTED_128, constants.MIN_CIPHER_ENCRYPTED_256]) {
      const t = await sender.send.createTransfer(destinationId, manifestId, {
        minCipher,
        destinationPath: `c${minCipher}`,
      });
      const done = await sender.send.waitForTransfer(t);
      expect(done.status).toBe('complete');
      expect(done.minCipher).toBe(minCipher);
      expect(done.cipher).toBe(minCipher);
    }
  });

  it('refuses a lane the destination does not have, creating nothing', async () => {
    const { sender, destinationId } = await pair();
    const manifestId = await manifestOf(sender, 'x.bin', tree(tempDir(), { 'x.bin': 10 }) + '/x.bin');
    const before = await sender.send.getTransfers();
    await expect(
      sender.send.createTransfer(destinationId, manifestId, { priorityLane: 'Urgent' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await sender.send.getTransfers()).toEqual(before);
  });

  it('honours the overwrite modes: NEVER refuses, ALWAYS replaces, BACKUP keeps NAME.jetbak', async () => {
    const { sender, destinationId, sandbox } = await pair({}, replacing);
    const src = tree(tempDir(), { 'f.bin': 20_000 });
    const manifestId = await manifestOf(sender, 'f.bin', join(src, 'f.bin'));
    const old = bytes(777, 99);
    const target = (dir: string): string => join(sandbox, dir, 'f.bin');
    for (const dir of ['never', 'always', 'backup']) {
      tree(join(sandbox, dir), { 'f.bin': old });
    }
    const run = async (dir: string, overwriteMode: number) =>
      sender.send.waitForTransfer(
        await sender.send.createTransfer(destinationId, manifestId, {
          destinationPath: dir,
          overwriteMode,
        }),
      );

    const never = await run('never', constants.OVERWRITE_NEVER);
    expect(never.status).toBe('error');
    expect(never.errorMessage).toBeTruthy();
    expect(readFileSync(target('never'))).toEqual(old);
    expect(readdirSync(join(sandbox, 'never'))).toEqual(['f.bin']);

    expect((await run('always', constants.OVERWRITE_ALWAYS)).status).toBe('complete');
    expect(readFileSync(target('always'))).toEqual(readFileSync(join(src, 'f.bin')));
    expect(readdirSync(join(sandbox, 'always'))).toEqual(['f.bin']);

    expect((await run('backup', constants.OVERWRITE_BACKUP)).status).toBe('complete');
    expect(readFileSync(target('backup'))).toEqual(readFileSync(join(src, 'f.bin')));
    expect(readFileSync(join(sandbox, 'backup', 'f.bin.jetbak'))).toEqual(old);
  });

  it('honours transferFlags: nothing written without WRITE, generated bytes without READ', async () => {
    const { sender, destinationId, sandbox } = await pair();
    const src = tree(tempDir(), { 'f.bin': 50_000 });
    const manifestId = await manifestOf(sender, 'f.bin', join(src, 'f.bin'));
    const run = async (dir: string, transferFlags: number) =>
      sender.send.waitForTransfer(
        await sender.send.createTransfer(destinationId, manifestId, {
          destinationPath: dir,
          transferFlags,
        }),
      );
    for (const [dir, flags] of [
      ['none', constants.TRANSFER_FLAG_NONE],
      ['read', constants.TRANSFER_FLAG_READ],
    ] as const) {
      const done = await run(dir, flags);
      expect(done).toMatchObject({ status: 'complete', transferFlags: flags, bytesAcked: 50_000 });
      expect(existsSync(join(sandbox, dir, 'f.bin'))).toBe(false);
    }
    const written = await run('write', constants.TRANSFER_FLAG_WRITE);
    expect(written.status).toBe('complete');
    const generated = readFileSync(join(sandbox, 'write', 'f.bin'));
    expect(generated.length).toBe(50_000);
    expect(generated).not.toEqual(readFileSync(join(src, 'f.bin')));
    expect((await run('both', constants.TRANSFER_FLAG_DEFAULT)).status).toBe('complete');
    expect(digests(join(sandbox, 'both'))).toEqual(digests(src));
  });

  it('compares modification times within fileTimeResolutionMicroseconds', async () => {
    const { sender, destinationId, sandbox } = await pair({}, replacing);
    const src = tree(tempDir(), { 'f.bin': 4_000 });
    const srcTime = statSync(join(src, 'f.bin')).mtime;
    const manifestId = await manifestOf(sender, 'f.bin', join(src, 'f.bin'));
    const old = bytes(100, 5);
    // The receiver holds an older file, one second older than the source.
    const oneSecondOlder = new Date(srcTime.getTime() - 1000);
    for (const dir of ['coarse', 'fine']) {
      tree(join(sandbox, dir), { 'f.bin': old });
      utimesSync(join(sandbox, dir, 'f.bin'), oneSecondOlder, oneSecondOlder);
    }
    const run = async (dir: string, fileTimeResolutionMicroseconds: number) =>
      sender.send.waitForTransfer(
        await sender.send.createTransfer(destinationId, manifestId, {
          destinationPath: dir,
          fileTimeResolutionMicroseconds,
          transferFlags: constants.TRANSFER_FLAG_DEFAULT | constants.TRANSFER_FLAG_WRITE_ONLY_NEWER,
          overwriteMode: constants.OVERWRITE_ALWAYS,
        }),
      );
    // Within 2 s the times are equal: the file is not newer and stays.
    expect((await run('coarse', 2_000_000)).status).toBe('complete');
    expect(readFileSync(join(sandbox, 'coarse', 'f.bin'))).toEqual(old);
    // Exact comparison: the source is newer and replaces it.
    expect((await run('fine', 0)).status).toBe('complete');
    expect(readFileSync(join(sandbox, 'fine', 'f.bin'))).toEqual(readFileSync(join(src, 'f.bin')));
  });

  it('fails after timeoutSeconds when nothing answers', async () => {
    const sender = await engine();
    const silent = await silentPort();
    try {
      const destination = await sender.send.createDestination('127.0.0.1', {
        destinationPort: silent.port,
      });
      const manifestId = await manifestOf(sender, 'x.bin', tree(tempDir(), { 'x.bin': 10 }) + '/x.bin');
      const started = performance.now();
      const short = await sender.send.createTransfer(destination, manifestId, { timeoutSeconds: 1 });
      const long = await sender.send.createTransfer(destination, manifestId, { timeoutSeconds: 60 });
      const failed = await untilTransfer(sender, short.transferId, (t) => !t.processing, 20_000);
      const waited = performance.now() - started;
      expect(failed.status).toBe('error');
      expect(failed.timeoutSeconds).toBe(1);
      expect(waited).toBeGreaterThanOrEqual(950);
      // The one with a longer timeout is still waiting for its receiver.
      const other = await sender.send.getTransfer(long);
      expect(other.processing).toBe(true);
      expect(other.status).toBe('pending');
      await sender.send.failTransfer(long, 'done waiting');
    } finally {
      silent.socket.close();
    }
  });

  it('keeps a log file per transfer under transfer-logs/ only when transferLog is set', async () => {
    const { sender, stateDir, destinationId } = await pairWithState();
    const manifestId = await manifestOf(sender, 'x.bin', tree(tempDir(), { 'x.bin': 10_000 }) + '/x.bin');
    const logged = await sender.send.createTransfer(destinationId, manifestId, {
      transferLog: true,
      destinationPath: 'logged',
    });
    const quiet = await sender.send.createTransfer(destinationId, manifestId, {
      destinationPath: 'quiet',
    });
    expect(logged.transferLog).toBe(true);
    expect(quiet.transferLog).toBe(false);
    expect((await sender.send.waitForTransfer(logged)).status).toBe('complete');
    expect((await sender.send.waitForTransfer(quiet)).status).toBe('complete');
    const logs = join(stateDir, 'transfer-logs');
    expect(readdirSync(logs)).toEqual([`transfer-${logged.transferId}.log`]);
    const path = join(logs, `transfer-${logged.transferId}.log`);
    const events = logEvents(path, logged.transferId);
    expect(events.filter((e) => e !== 'file')).toEqual(['created', 'started', 'sending', 'complete']);
    // Each file, once complete, with the digest it was verified against.
    expect(readFileSync(path, 'utf8')).toMatch(/ file "x\.bin" complete blake3=[0-9a-f]{64} /);
  });

  // An option of the embedded engine only: jetstream server has no flag for it.
  it.skipIf(mode === 'remote')('writes the logs under the transferLogDir the engine was opened with', async () => {
    const stateDir = tempDir();
    const logDir = join(tempDir(), 'logs');
    const sender = await engine({ stateDir, transferLogDir: logDir });
    const receiver = await engine();
    await authorize(receiver, sender);
    const { recvPort } = await receiver.server.getServerInfo();
    const destination = await sender.send.createDestination('127.0.0.1', { destinationPort: recvPort });
    const manifestId = await manifestOf(sender, 'x.bin', tree(tempDir(), { 'x.bin': 1_000 }) + '/x.bin');
    const t = await sender.send.createTransfer(destination, manifestId, { transferLog: true });
    expect((await sender.send.waitForTransfer(t)).status).toBe('complete');
    expect(readdirSync(logDir)).toEqual([`transfer-${t.transferId}.log`]);
    expect(existsSync(join(stateDir, 'transfer-logs'))).toBe(false);
  });

  it('applies updateTransferDefaults to new transfers; explicit parameters win', async () => {
    const { sender, destinationId, sandbox } = await pair({}, replacing);
    const manifestId = await manifestOf(sender, 'x.bin', tree(tempDir(), { 'x.bin': 1000 }) + '/x.bin');
    const defaults = {
      priority: 9,
      transferFlags: constants.TRANSFER_FLAG_NONE,
      checkpointFrequencySeconds: 3,
      sendRateMax: 400_000,
      priorityLane: 'High',
      overwriteMode: constants.OVERWRITE_BACKUP,
      minCipher: constants.MIN_CIPHER_ENCRYPTED_256,
      fileTimeResolutionMicroseconds: 1000,
    };
    await sender.send.updateTransferDefaults(destinationId, defaults);
    const plain = await sender.send.createTransfer(destinationId, manifestId, {
      destinationPath: 'plain',
    });
    expect(plain).toMatchObject(defaults);
    const done = await sender.send.waitForTransfer(plain);
    expect(done.cipher).toBe(constants.MIN_CIPHER_ENCRYPTED_256);
    // TRANSFER_FLAG_NONE from the defaults: nothing was written.
    expect(existsSync(join(sandbox, 'plain'))).toBe(false);
    const own = await sender.send.createTransfer(destinationId, manifestId, {
      destinationPath: 'own',
      priority: 1,
      transferFlags: constants.TRANSFER_FLAG_DEFAULT,
    });
    expect(own).toMatchObject({ ...defaults, priority: 1, transferFlags: constants.TRANSFER_FLAG_DEFAULT });
    expect((await sender.send.waitForTransfer(own)).status).toBe('complete');
    expect(existsSync(join(sandbox, 'own', 'x.bin'))).toBe(true);
  });
});

/** The events of a transfer's log, in order. */
function logEvents(path: string, id: number): string[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const match = new RegExp(`^\\d+ transfer ${id} (\\w+)`).exec(line);
      expect(match, line).not.toBeNull();
      return match![1]!;
    });
}

describe('getTransfer, getTransfers, waitForTransfer', () => {
  it('shows live progress while sending and per-file completion flags', async () => {
    const { sender, destinationId, sandbox } = await pair();
    const files: Record<string, number> = {};
    for (let i = 0; i < 8; i++) {
      files[`f${i}.bin`] = 400_000;
    }
    const src = tree(tempDir(), files);
    const manifestId = await manifestOf(sender, 'many', src);
    // 3.2 MB at 8 Mbit/s: about 3 s of sending.
    const t = await sender.send.createTransfer(destinationId, manifestId, { sendRateMax: 8_000 });
    const seen: number[] = [];
    let partial: boolean[] | undefined;
    for (;;) {
      const now = await sender.send.getTransfer(t, { getCompleteFlags: true });
      if (!now.processing) {
        break;
      }
      if (now.status === 'sending') {
        if (seen.length === 0 || seen[seen.length - 1] !== now.bytesAcked) {
          seen.push(now.bytesAcked);
        }
        expect(now.bytesAcked).toBeLessThanOrEqual(now.bytesSent);
        expect(now.totalBytes).toBe(3_200_000);
        const flags = now.completeFlags!;
        // The directory `many` and its eight files.
        expect(now.totalFiles).toBe(9);
        expect(flags).toHaveLength(9);
        if (flags.some((f) => f) && flags.some((f) => !f)) {
          partial = flags;
        }
      }
      await sleep(50);
    }
    // The acknowledged count grew step by step while sending.
    expect(seen.length).toBeGreaterThanOrEqual(5);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    // Files complete in order while the others are still on their way.
    expect(partial).toBeDefined();
    const firstIncomplete = partial!.indexOf(false);
    expect(partial!.slice(firstIncomplete).every((f) => !f)).toBe(true);
    const done = await sender.send.getTransfer(t, { getCompleteFlags: true });
    expect(done.status).toBe('complete');
    expect(done.completeFlags).toEqual(Array(9).fill(true));
    expect(done.filesComplete).toBe(9);
    expect(digests(join(sandbox, 'many'))).toEqual(digests(src));
    // Without the option the flags are left out.
    expect((await sender.send.getTransfer(t)).completeFlags).toBeUndefined();
  });

  it('lists transfers filtered by destination and paged by before/after/limit', async () => {
    const sender = await engine();
    const receiver = await engine();
    await authorize(receiver, sender);
    const port = (await receiver.server.getServerInfo()).recvPort;
    const a = await sender.send.createDestination('127.0.0.1', { destinationPort: port });
    const b = await sender.send.createDestination('127.0.0.1', {
      destinationPort: port,
      exclusive: true,
    });
    expect(b.destinationId).not.toBe(a.destinationId);
    const manifestId = await manifestOf(sender, 'x.bin', tree(tempDir(), { 'x.bin': 10 }) + '/x.bin');
    const ids: Record<string, number[]> = { a: [], b: [] };
    for (const [i, which] of ['a', 'b', 'a', 'a', 'b'].entries()) {
      const dest = which === 'a' ? a : b;
      const t = await sender.send.createTransfer(dest, manifestId, { destinationPath: `${which}${i}` });
      ids[which]!.push(t.transferId);
    }
    await Promise.all([...ids.a!, ...ids.b!].map((id) => sender.send.waitForTransfer(id)));
    const idsOf = (list: { transferId: number }[]): number[] => list.map((t) => t.transferId);
    const all = [...ids.a!, ...ids.b!].sort((x, y) => x - y);
    expect(idsOf(await sender.send.getTransfers())).toEqual(all);
    expect(idsOf(await sender.send.getTransfers({ destinationId: a.destinationId }))).toEqual(ids.a);
    expect(idsOf(await sender.send.getTransfers({ destinationId: b }))).toEqual(ids.b);
    expect(idsOf(await sender.send.getTransfers({ limit: 2 }))).toEqual(all.slice(0, 2));
    expect(idsOf(await sender.send.getTransfers({ after: all[1] }))).toEqual(all.slice(2));
    expect(idsOf(await sender.send.getTransfers({ before: all[3] }))).toEqual(all.slice(0, 3));
    expect(idsOf(await sender.send.getTransfers({ before: all[4], limit: 2 }))).toEqual(all.slice(2, 4));
    expect(idsOf(await sender.send.getTransfers({ after: all[0], before: all[4] }))).toEqual(
      all.slice(1, 4),
    );
    expect(
      idsOf(await sender.send.getTransfers({ destinationId: a, after: ids.a![0], limit: 1 })),
    ).toEqual([ids.a![1]]);
  });

  it('waitForTransfer answers at the end, at once for a finished one, and for a failed one', async () => {
    const { sender, destinationId } = await pair();
    const manifestId = await manifestOf(sender, 'x.bin', tree(tempDir(), { 'x.bin': 200_000 }) + '/x.bin');
    const t = await sender.send.createTransfer(destinationId, manifestId, { sendRateMax: 4_000 });
    const waiting = sender.send.waitForTransfer(t);
    const done = await waiting;
    expect(done).toMatchObject({ status: 'complete', bytesAcked: 200_000, processing: false });
    expect(done.endTime).toBeGreaterThan(0);
    expect(await sender.send.waitForTransfer(t.transferId)).toEqual(done);
    const slow = await sender.send.createTransfer(destinationId, manifestId, {
      sendRateMax: 200,
      destinationPath: 'slow',
    });
    const failed = sender.send.waitForTransfer(slow);
    await sender.send.failTransfer(slow, 'given up');
    expect(await failed).toMatchObject({ status: 'error', errorMessage: 'given up' });
  });
});

describe('getTransferFiles', () => {
  it('lists every file with its outcome and the BLAKE3 digest of its source bytes', async () => {
    const { sender, destinationId, sandbox } = await pair();
    const src = tree(tempDir(), { 'a.bin': 300_000, 'held.txt': 40, 'd/b.txt': 5, zero: 0 });
    // The receiver already holds held.txt as an earlier transfer left it: same bytes and time.
    const time = 1_700_000_000;
    utimesSync(join(src, 'held.txt'), time, time);
    const landed = join(sandbox, 'in', 'tree');
    tree(landed, { 'held.txt': readFileSync(join(src, 'held.txt')) });
    utimesSync(join(landed, 'held.txt'), time, time);
    const manifestId = await manifestOf(sender, 'tree', src);
    // Digests compared: the held file is kept once its digest matches the source's.
    const t = await sender.send.createTransfer(destinationId, manifestId, {
      destinationPath: 'in',
      skipMode: constants.SKIP_SAME_CHECKSUM,
    });
    expect((await sender.send.waitForTransfer(t)).status).toBe('complete');

    const all = await sender.send.getTransferFiles(t);
    expect(all.map((f) => f.destPath).sort()).toEqual([
      'tree',
      'tree/a.bin',
      'tree/d',
      'tree/d/b.txt',
      'tree/held.txt',
      'tree/zero',
    ]);
    expect(all.map((f) => f.fileIndex)).toEqual([0, 1, 2, 3, 4, 5]);
    const dirs = all.filter((f) => f.destPath === 'tree' || f.destPath === 'tree/d');
    for (const dir of dirs) {
      expect(dir).toMatchObject({ status: 'complete', fileSize: 0, digest: null });
    }
    const files = all.filter((f) => !dirs.includes(f));
    for (const file of files) {
      const rel = file.destPath.slice('tree/'.length);
      const source = readFileSync(join(src, rel));
      expect(file).toMatchObject({
        transferId: t.transferId,
        status: rel === 'held.txt' ? 'skipped' : 'complete',
        fileSize: source.length,
        isEmptyDir: false,
        errorMessage: null,
      });
      expect(file.digest, rel).toBe(source.length > 0 ? blake3Hex(source) : null);
      expect(file.endTime).toBeGreaterThan(0);
      expect(readFileSync(join(landed, rel))).toEqual(source);
    }

    // Paged by fileIndex, the record or the number.
    expect(await sender.send.getTransferFiles(t, all[0], 2)).toEqual(all.slice(1, 3));
    expect(await sender.send.getTransferFiles(t.transferId, { after: 3 })).toEqual(all.slice(4));
    const missing = await rejectsWith(sender.send.getTransferFiles(987_654_321), 'NOT_FOUND');
    expect(missing.message).toContain('987654321');
  });

  it('marks a file skipped when only newer files are written and the receiver has it as new', async () => {
    const { sender, destinationId, sandbox } = await pair();
    const src = tree(tempDir(), { 'f.bin': 4_000, 'g.bin': 3_000 });
    const manifestId = await manifestOf(sender, 'in', src);
    const newer = new Date(statSync(join(src, 'f.bin')).mtime.getTime() + 60_000);
    tree(join(sandbox, 'in'), { 'f.bin': bytes(100, 9) });
    utimesSync(join(sandbox, 'in', 'f.bin'), newer, newer);
    const t = await sender.send.createTransfer(destinationId, manifestId, {
      transferFlags: constants.TRANSFER_FLAG_DEFAULT | constants.TRANSFER_FLAG_WRITE_ONLY_NEWER,
    });
    expect((await sender.send.waitForTransfer(t)).status).toBe('complete');
    const files = await sender.send.getTransferFiles(t);
    const outcomes = Object.fromEntries(files.map((f) => [f.destPath, [f.status, f.digest]]));
    // The receiver's own copy differs from the source: no digest was checked for it.
    expect(outcomes).toEqual({
      in: ['complete', null],
      'in/f.bin': ['skipped', null],
      'in/g.bin': ['complete', blake3Hex(readFileSync(join(src, 'g.bin')))],
    });
    expect(readFileSync(join(sandbox, 'in', 'f.bin'))).toEqual(bytes(100, 9));
  });
});

describe('suspend and resume', () => {
  it('stops the bytes while suspended and resumes without resending what was acknowledged', async () => {
    const { sender, stateDir, destinationId, sandbox } = await pairWithState();
    const src = tree(tempDir(), { 'big.bin': 6_000_000 });
    const manifestId = await manifestOf(sender, 'big.bin', join(src, 'big.bin'));
    // 6 MB at 16 Mbit/s (2 MB/s): about 3 s.
    const t = await sender.send.createTransfer(destinationId, manifestId, {
      sendRateMax: 16_000,
      transferLog: true,
    });
    await untilTransfer(sender, t.transferId, (x) => x.status === 'sending' && x.bytesAcked > 500_000);
    const suspend = await sender.send.suspendTransferAsync(t);
    await sender.server.getRequestResult(suspend);
    const suspended = await sender.send.getTransfer(t);
    expect(suspended).toMatchObject({ status: 'suspended', processing: false });
    // Once what was in flight has landed, nothing more goes.
    const last = await until(
      async () => {
        const before = await sender.send.getTransfer(t);
        await sleep(300);
        const after = await sender.send.getTransfer(t);
        return { before, after };
      },
      ({ before, after }) => before.bytesSent === after.bytesSent && after.bytesAcked === after.bytesSent,
      5_000,
      0,
    );
    await sleep(700);
    const still = await sender.send.getTransfer(t);
    expect(still.bytesSent).toBe(last.after.bytesSent);
    expect(still.bytesAcked).toBe(last.after.bytesAcked);
    expect(still.bytesAcked).toBeLessThan(6_000_000);
    expect(still.status).toBe('suspended');

    const resume = await sender.send.resumeTransferAsync(t);
    await sender.server.getRequestResult(resume);
    const resuming = await sender.send.getTransfer(t);
    expect(['resuming', 'sending']).toContain(resuming.status);
    expect(resuming.processing).toBe(true);
    const moving = await untilTransfer(sender, t.transferId, (x) => x.bytesSent > still.bytesSent);
    expect(['sending', 'complete']).toContain(moving.status);
    const done = await sender.send.waitForTransfer(t);
    expect(done.status).toBe('complete');
    expect(digests(sandbox)).toEqual(digests(src));
    // Nothing acknowledged was sent again: beyond the file, only repairs of losses.
    const repaired = done.bytesSent - done.totalBytes;
    expect(repaired).toBeGreaterThanOrEqual(0);
    expect(repaired).toBeLessThanOrEqual(done.blocksRetransmitted * done.blockSize);
    expect(repaired).toBeLessThan(done.totalBytes / 20);
    const events = logEvents(join(stateDir, 'transfer-logs', `transfer-${t.transferId}.log`), t.transferId);
    expect(events).toEqual(['created', 'started', 'sending', 'suspended', 'resuming', 'sending', 'file', 'complete']);
  });

  it('refuses to suspend a transfer that is not in progress, or resume one not suspended', async () => {
    const { sender, destinationId } = await pair();
    const manifestId = await manifestOf(sender, 'x.bin', tree(tempDir(), { 'x.bin': 10 }) + '/x.bin');
    const t = await sender.send.createTransfer(destinationId, manifestId);
    await expect(sender.send.resumeTransferAsync(t)).rejects.toMatchObject({ code: 'INVALID_STATE' });
    await sender.send.waitForTransfer(t);
    await expect(sender.send.suspendTransferAsync(t)).rejects.toMatchObject({ code: 'INVALID_STATE' });
    await expect(sender.send.resumeTransferAsync(t)).rejects.toMatchObject({ code: 'INVALID_STATE' });
    expect((await sender.send.getTransfer(t)).status).toBe('complete');
  });
});

describe('failTransfer and deleteTransfer', () => {
  it('fails a running transfer with its message, and refuses a finished one', async () => {
    const { sender, destinationId } = await pair();
    const manifestId = await generatedManifest(sender, 1_000_000_000);
    const t = await sendingTransfer(sender, destinationId, manifestId, { sendRateMax: 8_000 });
    await expect(sender.send.deleteTransfer(t)).rejects.toMatchObject({ code: 'INVALID_STATE' });
    expect((await sender.send.getTransfer(t)).processing).toBe(true);
    await sender.send.failTransfer(t, { errorMessage: 'stopped by the operator' });
    const failed = await sender.send.getTransfer(t);
    expect(failed).toMatchObject({
      status: 'error',
      processing: false,
      errorMessage: 'stopped by the operator',
    });
    // No more bytes go once failed.
    await sleep(300);
    expect((await sender.send.getTransfer(t)).bytesSent).toBe(failed.bytesSent);
    await expect(sender.send.failTransfer(t, 'again')).rejects.toMatchObject({ code: 'INVALID_STATE' });
    expect((await sender.send.getTransfer(t)).errorMessage).toBe('stopped by the operator');

    const small = await sender.send.createTransfer(destinationId, await generatedManifest(sender, 10), {
      transferFlags: constants.TRANSFER_FLAG_NONE,
    });
    expect((await sender.send.waitForTransfer(small)).status).toBe('complete');
    await expect(sender.send.failTransfer(small, 'late')).rejects.toMatchObject({ code: 'INVALID_STATE' });
    expect((await sender.send.getTransfer(small)).status).toBe('complete');

    await sender.send.deleteTransfer(t);
    await expect(sender.send.getTransfer(t)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await sender.send.deleteTransfer(small);
    await expect(sender.send.getTransfer(small)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('setTransferSendRateMaxAsync and setTransferPriorityAsync', () => {
  it.runIf(measuresRates)('the measured rate follows the new cap', async () => {
    const { sender, destinationId } = await pair();
    const manifestId = await generatedManifest(sender, 10_000_000_000);
    const t = await sendingTransfer(sender, destinationId, manifestId, { sendRateMax: 16_000 });
    for (const cap of [16_000, 40_000, 12_000]) {
      const request = await sender.send.setTransferSendRateMaxAsync(t, cap);
      expect(await sender.server.getRequestResult(request)).toEqual({ sendRateMax: cap });
      expect((await sender.send.getTransfer(t)).sendRateMax).toBe(cap);
      await sleep(700);
      const measured = (await measure(sender, [t.transferId], 2_500)).get(t.transferId)!;
      expect(measured.sendingThroughout).toBe(true);
      expect(measured.rate / kbps(cap)).toBeGreaterThan(0.9);
      expect(measured.rate / kbps(cap)).toBeLessThan(1.1);
    }
    // -1 lifts the cap.
    await sender.server.getRequestResult(await sender.send.setTransferSendRateMaxAsync(t, -1));
    expect((await sender.send.getTransfer(t)).sendRateMax).toBeNull();
    await sleep(700);
    const free = (await measure(sender, [t.transferId], 1_500)).get(t.transferId)!;
    expect(free.rate).toBeGreaterThan(kbps(40_000) * 1.5);
    await sender.send.failTransfer(t);
  });

  it('setTransferPriorityAsync stores the new priority and lane, and refuses an unknown lane', async () => {
    const { sender, destinationId } = await pair();
    const manifestId = await generatedManifest(sender, 10);
    const t = await sender.send.createTransfer(destinationId, manifestId);
    expect(t).toMatchObject({ priority: 100, priorityLane: 'Normal' });
    await sender.server.getRequestResult(
      await sender.send.setTransferPriorityAsync(t, { priority: 3, priorityLane: 'High' }),
    );
    expect(await sender.send.getTransfer(t)).toMatchObject({ priority: 3, priorityLane: 'High' });
    await sender.server.getRequestResult(await sender.send.setTransferPriorityAsync(t, 4));
    expect(await sender.send.getTransfer(t)).toMatchObject({ priority: 4, priorityLane: 'High' });
    await expect(
      sender.send.setTransferPriorityAsync(t, { priorityLane: 'Nowhere' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await sender.send.getTransfer(t)).toMatchObject({ priority: 4, priorityLane: 'High' });
    await sender.send.waitForTransfer(t);
  });
});
