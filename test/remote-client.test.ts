// The remote client itself, against `jetstream server` child processes: its options, how it
// fails when the server is missing, gone or not a control port, how it recovers when the server
// is back, and what closing it does. What the commands do is the parity suites' subject.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { constants, JetStream, type RemoteOptions } from '../ts/index.js';
import { closeAll, serverProcess, tempDir, TEST_LOGIN } from './support/engines.js';
import { blackHole, closeProbes, rejectsWith } from './support/probes.js';

afterAll(async () => {
  await closeAll();
  await closeProbes();
});

/** A TCP port of 127.0.0.1 where nothing listens: bound once to pick it, then closed. */
async function closedTcpPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('JetStream.api options', () => {
  const refused: [string, RemoteOptions | Record<string, unknown>][] = [
    ['an unknown option', { colour: 'red' }],
    ['tls that is not a boolean', { tls: 'yes' }],
    ['a fingerprint without sha256:', { fingerprint: 'ab'.repeat(32) }],
    ['a fingerprint of the wrong length', { fingerprint: `sha256:${'ab'.repeat(31)}` }],
    ['a fingerprint with tls: false', { tls: false, fingerprint: `sha256:${'ab'.repeat(32)}` }],
    ['a CA with tls: false', { tls: false, ca: '-----BEGIN CERTIFICATE-----' }],
    ['both a fingerprint and a CA', { fingerprint: `sha256:${'ab'.repeat(32)}`, ca: '-----BEGIN CERTIFICATE-----' }],
    ['a CA path instead of PEM text', { ca: '/etc/ssl/certs/ca.pem' }],
    ['a user without a password', { userName: 'me' }],
    ['a token and a user', { token: 't', userName: 'me', password: 'pw' }],
    ['an empty token', { token: '' }],
    ['a connect timeout of 0', { connectTimeoutSeconds: 0 }],
  ];
  it.each(refused)('refuses %s with INVALID_ARGUMENT', async (_, options) => {
    const error = await rejectsWith(
      (async () => JetStream.api('127.0.0.1', 8886, options as RemoteOptions))(),
      'INVALID_ARGUMENT',
    );
    expect(error.message).toMatch(/JetStream\.api/);
  });

  it('refuses a port out of range and an empty host', async () => {
    await rejectsWith((async () => JetStream.api('127.0.0.1', 70_000))(), 'INVALID_ARGUMENT');
    await rejectsWith((async () => JetStream.api('127.0.0.1', 0))(), 'INVALID_ARGUMENT');
    await rejectsWith((async () => JetStream.api('', 8886))(), 'INVALID_ARGUMENT');
  });

  it('takes a fingerprint in upper case with colons between the pairs', () => {
    const pairs = 'AB'.repeat(32).match(/../g)!.join(':');
    expect(() => JetStream.api('127.0.0.1', 8886, { fingerprint: `SHA256:${pairs}` })).not.toThrow();
  });
});

describe('a server that is not there', () => {
  it('fails connect with UNAVAILABLE when nothing listens', async () => {
    const port = await closedTcpPort();
    const error = await rejectsWith(JetStream.connect('127.0.0.1', port, { tls: false }), 'UNAVAILABLE');
    expect(error.message).toContain(`127.0.0.1:${port}`);
  });

  it('fails with TIMED_OUT when the connection is not made within connectTimeoutSeconds', async () => {
    // Accepts the connection, reads what comes and never answers the TLS handshake.
    const mute = createTcpServer((socket) => socket.resume());
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = mute.address() as AddressInfo;
      const options = { fingerprint: `sha256:${'0'.repeat(64)}`, connectTimeoutSeconds: 0.2 };
      await rejectsWith(JetStream.connect('127.0.0.1', port, options), 'TIMED_OUT');
    } finally {
      await new Promise<void>((resolve) => mute.close(() => resolve()));
    }
  });

  it('fails with PROTOCOL when what answers is not a control port', async () => {
    const web = createHttpServer((_, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>no</h1>'));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = web.address() as AddressInfo;
      await rejectsWith(JetStream.connect('127.0.0.1', port, { tls: false }), 'PROTOCOL');
    } finally {
      web.closeAllConnections();
      await new Promise<void>((resolve) => web.close(() => resolve()));
    }
  });
});

describe('the server certificate', () => {
  it('is pinned by its fingerprint: any other certificate is refused with AUTH_FAILED', async () => {
    const server = await serverProcess();
    expect(server.tls).toBe(true);
    expect(server.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    const pinned = await JetStream.connect(server.host, server.port, {
      ...TEST_LOGIN,
      fingerprint: server.fingerprint!,
    });
    expect((await pinned.server.getServerInfo()).apiControlPort).toBe(server.port);
    await pinned.close();
    const other = `sha256:${'0'.repeat(64)}`;
    const error = await rejectsWith(
      JetStream.connect(server.host, server.port, { fingerprint: other }),
      'AUTH_FAILED',
    );
    expect(error.message).toContain(server.fingerprint!.slice('sha256:'.length));
  });

  it('is trusted through a CA file, or refused without one as the system roots do not know it', async () => {
    const stateDir = tempDir();
    const server = await serverProcess({ stateDir });
    const ca = readFileSync(join(stateDir, 'api-tls', 'cert.pem'));
    for (const host of ['127.0.0.1', 'localhost']) {
      const api = await JetStream.connect(host, server.port, { ...TEST_LOGIN, ca });
      expect((await api.server.getServerInfo()).apiControlPort).toBe(server.port);
      await api.close();
    }
    await rejectsWith(JetStream.connect(server.host, server.port), 'AUTH_FAILED');
  });

  it('makes a plain client and a TLS server, or the reverse, fail with PROTOCOL', async () => {
    const tls = await serverProcess();
    const plainToTls = await rejectsWith(
      JetStream.connect(tls.host, tls.port, { tls: false }),
      'PROTOCOL',
    );
    expect(plainToTls.message).toContain('tls left on');
    const plain = await serverProcess({}, 0, ['--api-plain']);
    expect(plain.tls).toBe(false);
    const error = await rejectsWith(
      JetStream.connect(plain.host, plain.port, { fingerprint: tls.fingerprint! }),
      'PROTOCOL',
    );
    expect(error.message).toContain('tls: false');
    const api = await JetStream.connect(plain.host, plain.port, plain.clientOptions);
    expect((await api.server.getServerInfo()).apiControlPort).toBe(plain.port);
    await api.close();
  });
});

describe('a connected client', () => {
  it('answers as the server it reached, over as many connections as calls in flight', async () => {
    const server = await serverProcess();
    const api = await JetStream.connect(server.host, server.port, server.clientOptions);
    const infos = await Promise.all(Array.from({ length: 40 }, () => api.server.getServerInfo()));
    expect(new Set(infos.map((info) => info.serverId)).size).toBe(1);
    expect(infos[0]?.apiControlPort).toBe(server.port);
    expect(infos[0]?.recvPort).toBe(server.recvPort);
    await api.close();
  });

  it('fails with UNAVAILABLE while the server is gone, and reconnects once it is back', async () => {
    const stateDir = tempDir();
    const first = await serverProcess({ stateDir });
    const api = await JetStream.connect(first.host, first.port, first.clientOptions);
    const before = await api.server.getServerInfo();
    expect(await first.stop()).toBe(0);
    await rejectsWith(api.server.getServerInfo(), 'UNAVAILABLE');
    await serverProcess({ stateDir }, first.port);
    const after = await api.server.getServerInfo();
    expect(after.serverUid).toBe(before.serverUid);
    expect(after.serverId).not.toBe(before.serverId);
    await api.close();
  });

  it('fails a wait in flight and every later call with UNAVAILABLE once closed', async () => {
    const server = await serverProcess();
    const api = await JetStream.connect(server.host, server.port, server.clientOptions);
    const destination = await api.send.createDestination('127.0.0.1', { destinationPort: await blackHole() });
    const manifest = await api.send.createManifest({
      mappings: { 'x.bin': { src: '/nonexistent/x.bin', size: 1000, flags: constants.FILETYPE_REGULAR_FILE } },
    });
    await api.send.waitForManifest(manifest);
    const transfer = await api.send.createTransfer(destination, manifest, {
      transferFlags: constants.TRANSFER_FLAG_NONE,
      timeoutSeconds: 600,
    });
    const waiting = api.send.waitForTransfer(transfer);
    expect((await api.send.getTransfer(transfer)).processing).toBe(true);
    await api.close();
    expect((await rejectsWith(waiting, 'UNAVAILABLE')).message).toContain('closed');
    await rejectsWith(api.server.getServerInfo(), 'UNAVAILABLE');
  });
});

describe('logins', () => {
  it('connects without credentials, is refused every command, and keeps the session of server.auth', async () => {
    const server = await serverProcess();
    const anonymous = { fingerprint: server.fingerprint! };
    const api = await JetStream.connect(server.host, server.port, anonymous);
    await rejectsWith(api.server.getServerInfo(), 'AUTH_FAILED');
    await rejectsWith(api.server.auth(TEST_LOGIN.userName, 'not the password'), 'AUTH_FAILED');
    await rejectsWith(api.send.getDestinations(), 'AUTH_FAILED');
    const session = await api.server.auth(TEST_LOGIN.userName, TEST_LOGIN.password);
    expect(session.userName).toBe(TEST_LOGIN.userName);
    expect(session.sessionToken.length).toBeGreaterThan(0);
    expect((await api.server.getServerInfo()).authRequired).toBe(true);
    expect(await api.send.getDestinations()).toEqual([]);
    await api.close();
  });

  it('refuses a wrong password when connecting', async () => {
    const server = await serverProcess();
    const options = { fingerprint: server.fingerprint!, userName: TEST_LOGIN.userName, password: 'wrong' };
    await rejectsWith(JetStream.connect(server.host, server.port, options), 'AUTH_FAILED');
  });

  it('logs in again by itself, once, when the server no longer knows its session', async () => {
    const stateDir = tempDir();
    const first = await serverProcess({ stateDir });
    // One client given the user's password, one that logged in with server.auth.
    const given = await JetStream.connect(first.host, first.port, first.clientOptions);
    const loggedIn = await JetStream.connect(first.host, first.port, { fingerprint: first.fingerprint! });
    await loggedIn.server.auth(TEST_LOGIN.userName, TEST_LOGIN.password);
    const before = await given.server.getServerInfo();
    expect(await first.stop()).toBe(0);
    // Sessions live in the server's memory: the new process knows none of them.
    await serverProcess({ stateDir }, first.port);
    for (const api of [given, loggedIn]) {
      const after = await api.server.getServerInfo();
      expect(after.serverUid).toBe(before.serverUid);
      expect(after.serverId).not.toBe(before.serverId);
      await api.close();
    }
  });

  it('sends an API token, with its permissions only, until it is deleted', async () => {
    const server = await serverProcess();
    const admin = await JetStream.connect(server.host, server.port, server.clientOptions);
    const created = await admin.server.createAPIToken({ description: 'sender', permissions: ['send'] });
    const api = await JetStream.connect(server.host, server.port, {
      fingerprint: server.fingerprint!,
      token: created.token,
    });
    expect(await api.send.getDestinations()).toEqual([]);
    const { publicKey } = await api.server.getServerInfo();
    await rejectsWith(api.recv.addAuthorizedClientAsync(publicKey), 'PERMISSION_DENIED');
    await admin.server.deleteAPIToken(created.tokenId);
    // An API token is not renewed: the client has no password to log in with.
    await rejectsWith(api.send.getDestinations(), 'AUTH_FAILED');
    await api.close();
    await admin.close();
  });

  it('needs none from a server started with --api-no-auth', async () => {
    const server = await serverProcess({}, 0, ['--api-no-auth']);
    expect(server.clientOptions).toEqual({ fingerprint: server.fingerprint });
    const api = await JetStream.connect(server.host, server.port, server.clientOptions);
    expect((await api.server.getServerInfo()).authRequired).toBe(false);
    await api.close();
  });
});
