import { rmSync } from 'node:fs';
import { dirname } from 'node:path';

import { describe, expect, it } from 'vitest';

import { quickstart } from '../examples/quickstart.js';
import { digests } from './support/engines.js';

describe("the README's TypeScript program (examples/quickstart.ts)", () => {
  it('runs to a complete transfer, and the received tree equals the source', async () => {
    const { transfer, source, received } = await quickstart();
    expect(transfer.status).toBe('complete');
    expect(transfer.totalFiles).toBe(4);
    expect(transfer.bytesAcked).toBe(15 + 8 * 1024 * 1024);
    expect(digests(received)).toEqual(digests(source));
    rmSync(dirname(source), { recursive: true, force: true });
  });
});
