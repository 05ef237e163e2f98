import { rmSync } from 'node:fs';
import { dirname } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { quickstart, type QuickstartResult } from '../examples/quickstart.js';
import { quickstartRemote, type ServerAddress } from '../examples/quickstart-remote.js';
import { closeAll, digests, mode, serverProcess } from './support/engines.js';

afterAll(closeAll);

/** A started server, as the remote quick start is told about it. */
async function server(): Promise<ServerAddress> {
  const started = await serverProcess();
  const scheme = started.tls ? 'https' : 'http';
  return { url: `${scheme}://${started.host}:${started.port}`, options: started.clientOptions };
}

/** The embedded quick start, or its remote twin between two started servers. */
async function run(): Promise<QuickstartResult> {
  return mode === 'embedded' ? quickstart() : quickstartRemote(await server(), await server());
}

describe(`the README's TypeScript program (examples/quickstart${mode === 'remote' ? '-remote' : ''}.ts)`, () => {
  it('runs to a complete transfer, and the received tree equals the source', async () => {
    const { transfer, source, received } = await run();
    expect(transfer.status).toBe('complete');
    expect(transfer.totalFiles).toBe(4);
    expect(transfer.bytesAcked).toBe(15 + 8 * 1024 * 1024);
    expect(digests(received)).toEqual(digests(source));
    rmSync(dirname(source), { recursive: true, force: true });
  });
});
