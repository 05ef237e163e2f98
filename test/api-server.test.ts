// ServerInterface against real embedded engines: echo, the event log (polled by event id), the
// server-wide bandwidth limits (kept across restarts, shown in getServerInfo, and holding the
// sum of two transfers' rates), garbage collection, the sandbox file operations (refusing every
// escape and touching nothing outside the root) and the sandbox mappings.
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import type {
  DiskUsage,
  EventLogEntry,
  FileEntry,
  JetStream,
  Request,
  Transfer,
} from '../ts/index.js';
import { closeAll, engine, pair, tempDir } from './support/engines.js';
import { rejectsWith, until } from './support/probes.js';

afterAll(closeAll);

/** Runs a queued ServerInterface call to its result. */
async function result<T>(api: JetStream, request: Promise<Request>): Promise<T> {
  return api.server.getRequestResult<T>(await request);
}

/** The sandbox directory of `api`. */
async function sandboxOf(api: JetStream): Promise<string> {
  const dir = (await api.server.getServerInfo()).sandboxDir;
  if (dir === null) {
    throw new Error('an embedded engine has a sandbox');
  }
  return dir;
}

describe('echo', () => {
  it('returns any JSON value as it was sent', async () => {
    const api = await engine();
    const value = { a: [1, 2.5, 'x', null, { b: true }], c: 'ü' };
    expect(await api.server.echo(value)).toStrictEqual(value);
    expect(await api.server.echo('text')).toBe('text');
    await rejectsWith(api.server.echo(undefined), 'INVALID_ARGUMENT');
  });
});

describe('getServerInfo', () => {
  it('fills every field with a real value, bandwidth limits included', async () => {
    const api = await engine();
    const info = await api.server.getServerInfo();
    for (const field of ['serverId', 'serverUid', 'serverName', 'hostName', 'version', 'apiVersion', 'publicKey', 'recvAddress'] as const) {
      expect(info[field].length, field).toBeGreaterThan(0);
    }
    expect(info.recvPort).toBeGreaterThan(0);
    expect(info.sandboxDir).not.toBeNull();
    expect(info.bandwidthLimits).toStrictEqual({ incomingKbps: null, outgoingKbps: null });
  });
});

describe('bandwidth limits', () => {
  it('are kept across a restart, a cap left out unchanged and a null one removed', async () => {
    const stateDir = tempDir();
    const first = await engine({ stateDir });
    expect(await first.server.updateBandwidthLimits({ incomingKbps: 1000, outgoingKbps: 2000 })).toStrictEqual({
      incomingKbps: 1000,
      outgoingKbps: 2000,
    });
    expect(await first.server.updateBandwidthLimits(undefined, null)).toStrictEqual({
      incomingKbps: 1000,
      outgoingKbps: null,
    });
    await rejectsWith(first.server.updateBandwidthLimits({ outgoingKbps: -5 }), 'INVALID_ARGUMENT');
    await first.close();
    const again = await engine({ stateDir });
    expect((await again.server.getServerInfo()).bandwidthLimits).toStrictEqual({
      incomingKbps: 1000,
      outgoingKbps: null,
    });
  });

  it('hold the sum of two transfers under the outgoing cap', async () => {
    const { sender, destinationId } = await pair();
    // 16,000 kbit/s: 2 MB/s for both together.
    const cap = 2_000_000;
    await sender.server.updateBandwidthLimits({ outgoingKbps: 16_000 });
    const manifest = await sender.send.createManifest({
      mappings: { 'gen.bin': { src: '/nonexistent', size: 200_000_000 } },
    });
    await sender.send.waitForManifest(manifest);
    const ids: number[] = [];
    for (const path of ['one', 'two']) {
      const t = await sender.send.createTransfer(destinationId, manifest, {
        destinationPath: path,
        transferFlags: 0,
      });
      ids.push(t.transferId);
    }
    for (const id of ids) {
      await until(
        () => sender.send.getTransfer(id),
        (t: Transfer) => t.status === 'sending',
      );
    }
    await new Promise((r) => setTimeout(r, 500));
    const sent = async (): Promise<number[]> =>
      Promise.all(ids.map(async (id) => (await sender.send.getTransfer(id)).bytesSent));
    const before = await sent();
    const start = performance.now();
    await new Promise((r) => setTimeout(r, 3000));
    const after = await sent();
    const seconds = (performance.now() - start) / 1000;
    const rates = after.map((bytes, i) => (bytes - (before[i] ?? 0)) / seconds);
    const sum = rates.reduce((a, b) => a + b, 0);
    expect(sum, `${sum} B/s: ${rates.join(', ')}`).toBeLessThan(cap * 1.2);
    expect(sum, `${sum} B/s: ${rates.join(', ')}`).toBeGreaterThan(cap * 0.5);
    for (const id of ids) {
      await sender.send.failTransfer(id);
    }
  });
});

describe('event log', () => {
  it('records transfers and settings changes, and is polled by event id', async () => {
    const { sender, receiver, destinationId } = await pair();
    const manifest = await sender.send.createManifest({
      mappings: { 'gen.bin': { src: '/nonexistent', size: 10_000 } },
    });
    await sender.send.waitForManifest(manifest);
    const created = await sender.send.createTransfer(destinationId, manifest, { transferFlags: 0 });
    const ended = await sender.send.waitForTransfer(created);
    expect(ended.status).toBe('complete');
    const log = await sender.server.getEventLog();
    const ofTransfer = log.filter((e) => e.transferId === created.transferId).map((e) => e.kind);
    expect(ofTransfer).toStrictEqual(['transferCreated', 'transferStarted', 'transferEnded']);
    const received = await until(
      () => receiver.server.getEventLog(),
      (events: EventLogEntry[]) => events.some((e) => e.kind === 'receivedEnded'),
    );
    expect(received.map((e) => e.kind)).toContain('receivedStarted');
    // Before it, only the logins of a remote client.
    const first = received.find((e) => e.kind !== 'loggedIn');
    expect(first?.kind).toBe('authorizedClientAdded');

    const last = log.at(-1);
    if (last === undefined) {
      throw new Error('the log is empty');
    }
    await sender.server.updateBandwidthLimits({ incomingKbps: 5000 });
    await sender.server.updateBandwidthLimits({ incomingKbps: null });
    const newer = await sender.server.getEventLog({ after: last });
    expect(newer.map((e) => e.kind)).toStrictEqual(['bandwidthLimitsChanged', 'bandwidthLimitsChanged']);
    expect(newer.every((e) => e.eventId > last.eventId && e.time > 0 && e.message.length > 0)).toBe(true);
    expect(await sender.server.getEventLog(1)).toStrictEqual(newer.slice(-1));
    expect(await sender.server.getEventLog({ after: newer[1]?.eventId })).toStrictEqual([]);
  });
});

describe('garbage collection', () => {
  it('removes unused destinations and orphaned part files, and counts them', async () => {
    const api = await engine();
    const sandbox = await sandboxOf(api);
    mkdirSync(join(sandbox, 'd'));
    writeFileSync(join(sandbox, 'd', 'half.bin.jetpart'), Buffer.alloc(4096));
    writeFileSync(join(sandbox, 'd', 'kept.bin'), 'data');
    const unused = await api.send.createDestination('127.0.0.1', { destinationPort: 9 });
    const permanent = await api.send.createDestination('127.0.0.1', { destinationPort: 10, permanent: true });
    const collected = await api.server.garbageCollect();
    expect(collected).toMatchObject({ destinations: 1, partFilesRemoved: 1, partFilesKept: 0 });
    expect(existsSync(join(sandbox, 'd', 'half.bin.jetpart'))).toBe(false);
    expect(readFileSync(join(sandbox, 'd', 'kept.bin'), 'utf8')).toBe('data');
    await rejectsWith(api.send.getDestination(unused), 'NOT_FOUND');
    expect((await api.send.getDestination(permanent)).permanent).toBe(true);
    expect(await api.server.garbageCollect()).toMatchObject({ destinations: 0, partFilesRemoved: 0 });
    const kinds = (await api.server.getEventLog()).map((e) => e.kind);
    expect(kinds.filter((k) => k === 'garbageCollected')).toHaveLength(2);
  });
});

describe('sandbox file operations', () => {
  it('list, measure, create and move inside the sandbox', async () => {
    const api = await engine();
    const sandbox = await sandboxOf(api);
    const { server } = api;
    const dir = await result<FileEntry>(api, server.mkdirAsync('a/b'));
    expect(dir).toMatchObject({ name: 'b', path: 'a/b', type: 'directory' });
    const file = await result<FileEntry>(api, server.mkFileAsync('a/b/f.txt', { content: 'hello' }));
    expect(file).toMatchObject({ name: 'f.txt', path: 'a/b/f.txt', type: 'file', size: 5 });
    expect(readFileSync(join(sandbox, 'a/b/f.txt'), 'utf8')).toBe('hello');
    await rejectsWith(result(api, server.mkFileAsync('a/b/f.txt', 'other')), 'ALREADY_EXISTS');
    expect(readFileSync(join(sandbox, 'a/b/f.txt'), 'utf8')).toBe('hello');
    const listed = await result<FileEntry[]>(api, server.lsAsync('a/b'));
    expect(listed.map((e) => e.name)).toStrictEqual(['f.txt']);
    expect(listed[0]?.modificationTime).toBeGreaterThan(0);
    const several = await result<FileEntry[]>(api, server.lsListAsync(['a', 'a/b/f.txt']));
    expect(several.map((e) => e.type)).toStrictEqual(['directory', 'file']);
    const usage = await result<DiskUsage>(api, server.duAsync(''));
    expect(usage).toStrictEqual({ path: '', size: 5, files: 1, directories: 3 });
    const roots = await result<FileEntry[]>(api, server.lsRootsAsync());
    expect(roots).toHaveLength(1);
    expect(roots[0]).toMatchObject({ path: '', type: 'directory' });
    const moved = await result<FileEntry>(api, server.mvAsync('a/b/f.txt', 'a/g.txt'));
    expect(moved).toMatchObject({ path: 'a/g.txt', size: 5 });
    expect(readFileSync(join(sandbox, 'a/g.txt'), 'utf8')).toBe('hello');
    expect(existsSync(join(sandbox, 'a/b/f.txt'))).toBe(false);
    const changes = (await server.getEventLog()).filter((e) => e.kind === 'fileChanged');
    expect(changes.map((e) => e.path)).toStrictEqual(['a/b', 'a/b/f.txt', 'a/g.txt']);
  });

  it('refuse paths that leave the sandbox and touch nothing outside it', async () => {
    const api = await engine();
    const sandbox = await sandboxOf(api);
    const outside = tempDir();
    writeFileSync(join(outside, 'secret'), 'secret');
    symlinkSync(outside, join(sandbox, 'link'));
    writeFileSync(join(sandbox, 'mine.txt'), 'mine');
    const { server } = api;
    // Refused at once: `..` and absolute paths.
    for (const call of [
      () => server.lsAsync('..'),
      () => server.lsAsync('a/../..'),
      () => server.lsAsync(outside),
      () => server.duAsync('../'),
      () => server.mkdirAsync('../escaped'),
      () => server.mkFileAsync('/tmp/escaped.txt', 'x'),
      () => server.mvAsync('mine.txt', '../mine.txt'),
      () => server.lsListAsync(['mine.txt', '../x']),
    ]) {
      await rejectsWith(call(), 'PERMISSION_DENIED');
    }
    // Through a symlink: the request fails.
    for (const call of [
      () => server.lsAsync('link'),
      () => server.lsListAsync(['link/secret']),
      () => server.mkdirAsync('link/made'),
      () => server.mkFileAsync('link/made.txt', 'x'),
      () => server.mvAsync('mine.txt', 'link/mine.txt'),
      () => server.mvAsync('link/secret', 'stolen'),
    ]) {
      await rejectsWith(result(api, call()), 'PERMISSION_DENIED');
    }
    await rejectsWith(server.lsAsync('a\\b'), 'INVALID_ARGUMENT');
    expect(readdirSync(outside)).toStrictEqual(['secret']);
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('secret');
    expect(readFileSync(join(sandbox, 'mine.txt'), 'utf8')).toBe('mine');
    expect(existsSync(join(sandbox, 'stolen'))).toBe(false);
    // The symlink itself is listed, never followed.
    const top = await result<FileEntry[]>(api, server.lsAsync(''));
    expect(top.map((e) => [e.name, e.type])).toStrictEqual([
      ['link', 'symlink'],
      ['mine.txt', 'file'],
    ]);
  });
});

describe('sandbox mappings', () => {
  it('are created, listed, kept across a restart and deleted', async () => {
    const stateDir = tempDir();
    const first = await engine({ stateDir });
    expect(await first.server.getSandboxMappings()).toStrictEqual([]);
    expect(await first.server.createSandboxMapping('ann', 'users/%u')).toStrictEqual({
      userName: 'ann',
      path: 'users/%u',
    });
    await first.server.createSandboxMapping('bob', 'shared');
    await rejectsWith(first.server.createSandboxMapping('eve', '../up'), 'INVALID_ARGUMENT');
    await first.close();
    const again = await engine({ stateDir });
    expect(await again.server.getSandboxMappings()).toStrictEqual([
      { userName: 'ann', path: 'users/%u' },
      { userName: 'bob', path: 'shared' },
    ]);
    await again.server.deleteSandboxMapping('ann');
    await rejectsWith(again.server.deleteSandboxMapping('ann'), 'NOT_FOUND');
    expect(await again.server.getSandboxMappings()).toStrictEqual([{ userName: 'bob', path: 'shared' }]);
  });
});
