/**
 * Quick start against running servers: the same transfer as quickstart.ts, between two
 * `jetstream server` processes driven through their control ports. The tree is made in a
 * temporary directory of this machine, so both servers run here too.
 *
 * Start two servers (each prints `api-listening URL` and, with TLS, `api-fingerprint HASH`):
 *   jetstream server --state-dir /tmp/a --api-port 8001 --recv-port 9001
 *   jetstream server --state-dir /tmp/b --api-port 8002 --recv-port 9002
 * then run, with each server's URL and fingerprint (and, if they require it, a user of both):
 *   JETSTREAM_USER=me JETSTREAM_PASSWORD=... node examples/dist/quickstart-remote.js \
 *     https://127.0.0.1:8001 sha256:... https://127.0.0.1:8002 sha256:...
 */

import { JetStream, type RemoteOptions } from 'jetstream';

import { photos, sendTree, type QuickstartResult } from './quickstart.js';

/** A server's control port, as it printed it, and how to trust it and sign in. */
export interface ServerAddress {
  /** `https://HOST:PORT`, or `http://HOST:PORT` for a server started with `--api-plain`. */
  url: string;
  /** What the server printed as `api-fingerprint` (TLS only), and credentials if needed. */
  options: RemoteOptions;
}

/** Connects to the server at `address`. */
function connect(address: ServerAddress): Promise<JetStream> {
  const url = new URL(address.url);
  return JetStream.connect(url.hostname, Number(url.port), {
    tls: url.protocol === 'https:',
    ...address.options,
  });
}

/** Sends a small generated tree from the server `from` to the server `to`. */
export async function quickstartRemote(from: ServerAddress, to: ServerAddress): Promise<QuickstartResult> {
  const sender = await connect(from);
  try {
    const receiver = await connect(to);
    try {
      return await sendTree(sender, receiver, photos());
    } finally {
      await receiver.close();
    }
  } finally {
    await sender.close();
  }
}

/**
 * The servers named on the command line: each URL, followed by its fingerprint when it serves
 * TLS; credentials from `JETSTREAM_USER` and `JETSTREAM_PASSWORD` when both are set.
 */
function addresses(args: string[]): ServerAddress[] {
  const { JETSTREAM_USER: userName, JETSTREAM_PASSWORD: password } = process.env;
  const credentials: RemoteOptions =
    userName !== undefined && password !== undefined ? { userName, password } : {};
  const out: ServerAddress[] = [];
  for (const arg of args) {
    const last = out[out.length - 1];
    if (arg.startsWith('sha256:') && last !== undefined) {
      last.options.fingerprint = arg;
    } else {
      out.push({ url: arg, options: { ...credentials } });
    }
  }
  return out;
}

// Run when executed directly (not when imported by the test suite).
if (import.meta.url === `file://${process.argv[1]}`) {
  const [from, to, extra] = addresses(process.argv.slice(2));
  if (from === undefined || to === undefined || extra !== undefined) {
    console.error('usage: quickstart-remote.js SENDER_URL [FINGERPRINT] RECEIVER_URL [FINGERPRINT]');
    process.exit(2);
  }
  await quickstartRemote(from, to);
}
