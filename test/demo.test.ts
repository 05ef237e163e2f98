import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('the main job (npm run demo)', () => {
  it('sends a generated tree over loopback and verifies every file', async () => {
    const script = fileURLToPath(new URL('../scripts/demo.mjs', import.meta.url));
    const { stdout } = await run(process.execPath, [script], { timeout: 120_000 });
    const verified = /^verified (\d+) files, (\d+) bytes, ([\d.]+) Gbit\/s$/m.exec(stdout);
    expect(verified, stdout).not.toBeNull();
    expect(Number(verified?.[1])).toBeGreaterThan(300);
    expect(Number(verified?.[2])).toBeGreaterThan(256 * 1024 * 1024);
  }, 150_000);
});
