/**
 * Test support for the API suites: UDP ports where nothing answers, bounded polling, and the
 * assertion that a call fails with a given `CommandError` code.
 */

import { createSocket, type Socket } from 'node:dgram';

import { expect } from 'vitest';

import { CommandError, type ErrorCode } from '../../ts/index.js';

const sockets: Socket[] = [];

/**
 * A UDP port bound by a socket that reads and never answers: a transfer or ping to it waits
 * for a receiver that never replies (until its timeout). Closed by `closeProbes()`.
 */
export async function blackHole(): Promise<number> {
  const socket = createSocket('udp4');
  socket.on('message', () => undefined);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  sockets.push(socket);
  return socket.address().port;
}

/** A UDP port where nothing listens: bound once to pick it, then closed. */
export async function closedPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

/** Closes every socket opened by `blackHole()`. */
export async function closeProbes(): Promise<void> {
  await Promise.all(
    sockets.splice(0).map((socket) => new Promise<void>((resolve) => socket.close(resolve))),
  );
}

/**
 * Polls `probe` until it returns a value `done` accepts, at most `tries` times `pauseMs`
 * apart; returns that value, or throws with the last value seen.
 */
export async function until<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  { tries = 400, pauseMs = 25 } = {},
): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < tries; i++) {
    last = await probe();
    if (done(last)) {
      return last;
    }
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  throw new Error(`condition not reached; last value: ${JSON.stringify(last)}`);
}

/** The `CommandError` a call rejected with; fails the test if it resolved or threw otherwise. */
export async function failure(call: Promise<unknown>): Promise<CommandError> {
  try {
    await call;
  } catch (error) {
    expect(error).toBeInstanceOf(CommandError);
    return error as CommandError;
  }
  throw new Error('the call succeeded but was expected to fail');
}

/** Asserts that `call` rejects with a `CommandError` of code `code`; returns the error. */
export async function rejectsWith(call: Promise<unknown>, code: ErrorCode): Promise<CommandError> {
  const error = await failure(call);
  expect(error.code, error.message).toBe(code);
  return error;
}
