/**
 * Test support for running transfers: bounded polling, large I/O-free manifests, and rates
 * measured from the progress counters a sender reports.
 */

import { createSocket, type Socket } from 'node:dgram';

import { constants, type CreateTransferOptions, type JetStream, type Transfer } from '../../ts/index.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Reads `read()` until `done` holds for its value (every `everyMs`, at most `timeoutMs`) and
 * returns that value; throws with the last value read if it never does.
 */
export async function until<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 30_000,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`not reached within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    }
    await sleep(everyMs);
  }
}

/** Polls transfer `id` until `done` holds. */
export function untilTransfer(
  api: JetStream,
  id: number,
  done: (t: Transfer) => boolean,
  timeoutMs?: number,
): Promise<Transfer> {
  return until(() => api.send.getTransfer(id), done, timeoutMs);
}

/** Creates an I/O-free transfer (TRANSFER_FLAG_NONE) of `manifestId` with `options`. */
export function ioFreeTransfer(
  api: JetStream,
  destinationId: string,
  manifestId: string,
  options: CreateTransferOptions = {},
): Promise<Transfer> {
  return api.send.createTransfer(destinationId, manifestId, {
    transferFlags: constants.TRANSFER_FLAG_NONE,
    ...options,
  });
}

/** An I/O-free transfer made by [[ioFreeTransfer]], once it is sending. */
export async function sendingTransfer(
  api: JetStream,
  destinationId: string,
  manifestId: string,
  options: CreateTransferOptions = {},
): Promise<Transfer> {
  const t = await ioFreeTransfer(api, destinationId, manifestId, options);
  return untilTransfer(api, t.transferId, (x) => x.status === 'sending');
}

/** A complete manifest of one generated (I/O-free) file of `size` bytes named `name`. */
export async function generatedManifest(api: JetStream, size: number, name = 'gen.bin'): Promise<string> {
  const manifest = await api.send.createManifest({
    mappings: {
      [name]: { src: `/nonexistent/${name}`, size, flags: constants.FILETYPE_REGULAR_FILE },
    },
  });
  const ready = await api.send.waitForManifest(manifest);
  if (ready.status !== 'complete') {
    throw new Error(`manifest ${ready.manifestId} is ${ready.status}`);
  }
  return ready.manifestId;
}

/** Bytes per second of one counter over a window, and whether the transfer sent throughout. */
export interface Measured {
  rate: number;
  sendingThroughout: boolean;
}

/** A transfer counter that grows while data flows. */
type Counter = 'bytesAcked' | 'bytesSent';

/**
 * Measures how fast `field` of each transfer grows over `windowMs`. Counters change when the
 * sender reports (every 100 ms), so each rate is taken between the first and the last change
 * seen in the window, at the time each change was first seen: polling every 10 ms keeps the
 * error to about 10 ms over the window. A counter that never changes has rate 0.
 */
export async function measure(
  api: JetStream,
  ids: number[],
  windowMs: number,
  field: Counter = 'bytesAcked',
): Promise<Map<number, Measured>> {
  const changes = new Map<number, { t: number; v: number }[]>(ids.map((id) => [id, []]));
  const sending = new Map<number, boolean>(ids.map((id) => [id, true]));
  const end = performance.now() + windowMs;
  while (performance.now() < end) {
    const transfers = await Promise.all(ids.map((id) => api.send.getTransfer(id)));
    const t = performance.now();
    for (const transfer of transfers) {
      const seen = changes.get(transfer.transferId)!;
      const v = transfer[field];
      if (seen.length === 0 || seen[seen.length - 1]!.v !== v) {
        seen.push({ t, v });
      }
      if (transfer.status !== 'sending') {
        sending.set(transfer.transferId, false);
      }
    }
    await sleep(10);
  }
  const out = new Map<number, Measured>();
  for (const id of ids) {
    const seen = changes.get(id)!;
    const first = seen[1] ?? seen[0]!;
    const last = seen[seen.length - 1]!;
    const rate = last.t > first.t ? ((last.v - first.v) * 1000) / (last.t - first.t) : 0;
    out.set(id, { rate, sendingThroughout: sending.get(id)! });
  }
  return out;
}

/** Kilobits per second to bytes per second. */
export const kbps = (rate: number): number => (rate * 1000) / 8;

/** A UDP socket on loopback that receives and never answers; `close()` it after use. */
export async function silentPort(): Promise<{ port: number; socket: Socket }> {
  const socket = createSocket('udp4');
  socket.on('message', () => undefined);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, socket };
}
