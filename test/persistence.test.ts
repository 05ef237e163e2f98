import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { authorize, closeAll, digests, engine, mode, serverProcess, tempDir, tree } from './support/engines.js';

afterAll(closeAll);

/**
 * Runs the sender fixture on `stateDir` until it reports progress, then kills its engine with
 * SIGKILL: the fixture process itself, or in remote mode the server it drives (and the fixture).
 */
async function sendAndKill(stateDir: string, src: string, port: number) {
  const script = fileURLToPath(new URL('./fixtures/sender-to-kill.mjs', import.meta.url));
  const server = mode === 'remote' ? await serverProcess({ stateDir }) : undefined;
  const args = [script, stateDir, src, String(port)];
  if (server !== undefined) {
    args.push(JSON.stringify({ host: server.host, port: server.port, options: server.clientOptions }));
  }
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  for await (const line of createInterface({ input: child.stdout })) {
    await server?.kill();
    child.kill('SIGKILL');
    await exited;
    return JSON.parse(line) as { transferId: number; filesComplete: number };
  }
  throw new Error('the sender process ended without reporting');
}

describe('a killed engine', () => {
  it('finds its objects again and finishes the transfer that was sending', async () => {
    const receiver = await engine();
    const info = await receiver.server.getServerInfo();
    const files: Record<string, number> = {};
    for (let i = 0; i < 8; i++) {
      files[`f${i}.bin`] = 512 * 1024;
    }
    const src = tree(tempDir(), files);
    const stateDir = tempDir();
    // The sender process's identity, made here so the receiver can authorize it first.
    const identity = await engine({ stateDir });
    await authorize(receiver, identity);
    await identity.close();
    const killed = await sendAndKill(stateDir, src, info.recvPort);

    const sender = await engine({ stateDir });
    const [destination] = await sender.send.getDestinations();
    expect(destination?.permanent).toBe(true);
    const again = await sender.send.getTransfer(killed.transferId);
    expect(again.filesComplete).toBeGreaterThanOrEqual(killed.filesComplete);
    const done = await sender.send.waitForTransfer(killed.transferId);
    expect(done.status, done.errorMessage ?? '').toBe('complete');
    expect(done.bytesAcked).toBe(8 * 512 * 1024);
    expect(digests(join(info.sandboxDir ?? '', 'tree'))).toEqual(digests(src));
  });
});
