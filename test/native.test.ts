import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { CommandError, nativeVersion } from '../ts/index.js';
import { binding } from '../ts/native.js';
import { closeAll, engine, tempDir } from './support/engines.js';

/** The version Cargo gives the binding crate, read through `cargo metadata`. */
function cargoVersion(): string {
  const manifest = fileURLToPath(new URL('../Cargo.toml', import.meta.url));
  const metadata = JSON.parse(
    execFileSync(
      'cargo',
      ['metadata', '--no-deps', '--format-version', '1', '--manifest-path', manifest],
      { encoding: 'utf8' },
    ),
  ) as { packages: { name: string; version: string }[] };
  const node = metadata.packages.find((p) => p.name === 'jetstream-node');
  if (node === undefined) {
    throw new Error('jetstream-node is not a workspace member');
  }
  return node.version;
}

describe('native addon', () => {
  it('loads and reports the crate version Cargo builds', () => {
    const version = nativeVersion();
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    expect(version).toBe(cargoVersion());
  });
});

/** What a call threw or rejected with; fails the test if it did not. */
async function thrown(call: () => unknown): Promise<Error & { code?: unknown }> {
  try {
    await call();
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error & { code?: unknown };
  }
  throw new Error('the call succeeded but was expected to fail');
}

describe('native errors', () => {
  afterAll(closeAll);

  it('carry the engine code as their code property and the bare engine message', async () => {
    const native = await binding().openEngine(JSON.stringify({ stateDir: tempDir() }));
    try {
      const command = JSON.stringify({ method: 'getTransfer', params: { transferId: 987 } });
      // Rejected by the engine's actor, and thrown at once by the synchronous store read.
      for (const error of [
        await thrown(() => native.execute(command)),
        await thrown(() => native.read(command)),
      ]) {
        expect(error.code).toBe('NOT_FOUND');
        expect(error.message).toBe('transferId 987: no such transfer');
      }
    } finally {
      await native.close();
    }
    const refused = await thrown(() => binding().openEngine(JSON.stringify({ stateDir: 7 })));
    expect(refused.code).toBe('INVALID_ARGUMENT');
    expect(refused.message).toMatch(/^engine options: /);
  });

  it('reach the API as a CommandError of that code with the native error as cause', async () => {
    const api = await engine();
    for (const call of [() => api.send.getTransfer(987), () => api.send.waitForTransfer(987)]) {
      const error = await thrown(call);
      expect(error).toBeInstanceOf(CommandError);
      expect(error.code).toBe('NOT_FOUND');
      expect(error.message).toBe('transferId 987: no such transfer');
      const cause = error.cause as Error & { code?: unknown };
      expect(cause.code).toBe('NOT_FOUND');
      expect(cause.message).toBe(error.message);
    }
  });
});
