import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { nativeVersion } from '../ts/index.js';

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
