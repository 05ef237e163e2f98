// Logins and API tokens of ServerInterface against a real embedded engine: an embedded engine
// requires no login, but checks a password against its store's users all the same, and keeps
// API tokens (for its control port) that are shown once and listed without their secret.
import { afterAll, describe, expect, it } from 'vitest';

import { closeAll, engine } from './support/engines.js';
import { rejectsWith } from './support/probes.js';

afterAll(closeAll);

describe('auth', () => {
  it('refuses a user the engine does not have, now or through a queued request', async () => {
    const api = await engine();
    await rejectsWith(api.server.auth('nobody', 'secret'), 'AUTH_FAILED');
    const request = await api.server.authAsync('nobody', 'secret');
    expect(request.requestId).toBeGreaterThan(0);
    await rejectsWith(api.server.getRequestResult(request), 'AUTH_FAILED');
  });
});

describe('API tokens', () => {
  it('are created once with their secret, listed without it, and deleted', async () => {
    const api = await engine();
    const created = await api.server.createAPIToken({
      description: 'ci',
      sandboxPath: '/in',
      permissions: ['send', 'receive'],
      timeLimitSeconds: 3600,
    });
    expect(created.token).toMatch(/^[0-9a-f]{64}$/);
    expect(created.tokenId).toMatch(/^[0-9a-f]{16}$/);
    expect(created).toMatchObject({
      userName: null,
      description: 'ci',
      sandboxPath: '/in',
      permissions: ['send', 'receive'],
    });
    expect(created.expiryTime).toBe(created.creationTime + 3_600_000_000);
    const { token, ...record } = created;
    expect(await api.server.getAPIToken(token)).toEqual(record);
    expect(await api.server.getAPIToken(created.tokenId)).toEqual(record);
    const all = await api.server.createAPIToken();
    expect(all.permissions).toEqual(['send', 'receive', 'files', 'admin']);
    expect(all.sandboxPath).toBe('/');
    const { token: allToken, ...allRecord } = all;
    expect(allToken).not.toBe(token);
    expect(await api.server.getAPITokens()).toEqual([record, allRecord]);
    expect(await api.server.getAPITokens(1)).toEqual([record]);
    await api.server.deleteAPIToken(created.tokenId);
    await rejectsWith(api.server.getAPIToken(token), 'NOT_FOUND');
    await rejectsWith(api.server.deleteAPIToken(token), 'NOT_FOUND');
  });

  it('refuse a directory outside the sandbox and unknown permissions', async () => {
    const api = await engine();
    await rejectsWith(api.server.createAPIToken({ sandboxPath: '/in/../..' }), 'INVALID_ARGUMENT');
    await rejectsWith(
      api.server.createAPIToken({ permissions: ['send', 'root' as 'send'] }),
      'INVALID_ARGUMENT',
    );
    expect(await api.server.getAPITokens()).toEqual([]);
  });
});
