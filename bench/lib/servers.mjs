// Shared by the bench/*.mjs scripts that run `jetstream server` processes: starting one on
// loopback with a user (free ports, its printed lines read back), linking a sender to a
// receiver, a process's memory and CPU from /proc, its /metrics, and the run's context (load
// average, commit) that every figure is quoted with.

import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The repository's root. */
export const root = fileURLToPath(new URL('../..', import.meta.url));
/** The release binary `npm run build` makes. */
export const releaseBinary = join(root, 'target/release/jetstream');
/** The user every server started here has; clients log in as it. */
export const login = { userName: 'bench', password: 'bench-password' };

/**
 * Starts `jetstream server` on state directory `stateDir`, with `login` as its user, the API
 * and the UDP receiver on free loopback ports, logging warnings only, plus `flags`. Resolves
 * once it printed its lines: `{ child, pid, url, host, port, fingerprint, recvAddr,
 * publicKey }` (`fingerprint` is undefined with `--api-plain`). The caller ends it
 * (`child.kill('SIGTERM')`).
 */
export async function startServer(jetstream, stateDir, flags = []) {
  execFileSync(jetstream, ['user', 'add', '--state-dir', stateDir, login.userName], {
    env: { ...process.env, JETSTREAM_PASSWORD: login.password },
    stdio: 'ignore',
  });
  const child = spawn(
    jetstream,
    [
      'server',
      '--state-dir',
      stateDir,
      '--api-host',
      '127.0.0.1',
      '--api-port',
      '0',
      '--recv-host',
      '127.0.0.1',
      '--recv-port',
      '0',
      '--log-level',
      'warn',
      ...flags,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const plain = flags.includes('--api-plain');
  const printed = {};
  for await (const line of createInterface({ input: child.stdout })) {
    const [word, value] = line.split(' ');
    printed[word] = value;
    if (
      printed['api-listening'] &&
      printed['recv-listening'] &&
      printed['public-key'] &&
      (printed['api-fingerprint'] || plain)
    ) {
      child.stdout.resume();
      const url = new URL(printed['api-listening']);
      return {
        child,
        pid: child.pid,
        url,
        host: url.hostname,
        port: Number(url.port),
        fingerprint: printed['api-fingerprint'],
        recvAddr: printed['recv-listening'],
        publicKey: printed['public-key'],
      };
    }
  }
  throw new Error(`jetstream server ${flags.join(' ')} ended before listening`);
}

/** The remote client options that pin `server`'s certificate and log in as `login`. */
export function clientOptions(server) {
  return server.fingerprint === undefined
    ? { tls: false, ...login }
    : { fingerprint: server.fingerprint, ...login };
}

/**
 * Lets the engine behind `sender` (a JetStream API) send to the engine behind `receiver`:
 * the receiver authorizes the sender's key, the sender gets a destination for the receiver's
 * UDP port. Resolves with the destination's id.
 */
export async function link(sender, receiver) {
  const { publicKey } = await sender.server.getServerInfo();
  await receiver.server.getRequestResult(await receiver.recv.addAuthorizedClientAsync(publicKey));
  const { recvPort } = await receiver.server.getServerInfo();
  const destination = await sender.send.createDestination('127.0.0.1', { destinationPort: recvPort });
  return destination.destinationId;
}

/** Clock ticks per second of /proc/PID/stat's CPU times. */
const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/**
 * A process's memory and CPU so far: `{ rssBytes, peakRssBytes, cpuSeconds }` (resident set
 * now and its peak, user + system time of all its threads).
 */
export function processStats(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
  // Fields after the command name, which is in parentheses and may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / ticks;
  return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM'), cpuSeconds };
}

/**
 * GET /metrics of `server`, with `token` as the bearer; its certificate must be the one it
 * printed. Resolves with a map from a sample's name and labels (`name{a="b"}`) to its value.
 */
export function metrics(server, token) {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: server.host,
        port: server.port,
        path: '/metrics',
        headers: { authorization: `Bearer ${token}` },
        // Checked by fingerprint below, as the client pins it.
        rejectUnauthorized: false,
        agent: false,
      },
      (res) => {
        const seen = `sha256:${res.socket.getPeerCertificate().fingerprint256.replaceAll(':', '').toLowerCase()}`;
        if (seen !== server.fingerprint) {
          res.destroy();
          reject(new Error(`/metrics: certificate ${seen} is not the server's ${server.fingerprint}`));
          return;
        }
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(new Error(`/metrics: HTTP ${res.statusCode}: ${text}`));
            return;
          }
          const samples = new Map();
          for (const line of text.split('\n')) {
            if (line === '' || line.startsWith('#')) continue;
            const at = line.lastIndexOf(' ');
            samples.set(line.slice(0, at), Number(line.slice(at + 1)));
          }
          resolve(samples);
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The 1-minute load average, rounded to two decimals. */
export function load() {
  return Math.round(loadavg()[0] * 100) / 100;
}

/** The commit of the working tree, with `+dirty` when it has changes. */
export function commit() {
  const head = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD']).toString().trim();
  const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'])
    .toString()
    .trim();
  return dirty === '' ? head : `${head}+dirty`;
}

/** The value at quantile `q` (0..1) of `sorted`, ascending (nearest rank). */
export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** The median of `values`. */
export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * A finished transfer of one 1-byte file (written to `work/one`) from the engine behind
 * `sender` to the one behind `receiver`, into `path`: its id.
 */
export async function finishedTransfer(sender, receiver, work, path) {
  const destination = await link(sender, receiver);
  const src = join(work, 'one');
  writeFileSync(src, 'x');
  const manifest = await sender.send.createManifest({ mappings: { one: src } });
  await sender.send.waitForManifest(manifest);
  const created = await sender.send.createTransfer(destination, manifest, { destinationPath: path });
  const transfer = await sender.send.waitForTransfer(created);
  if (transfer.status !== 'complete') {
    throw new Error(`the transfer to measure ended ${transfer.status}: ${transfer.errorMessage}`);
  }
  return transfer.transferId;
}

/** Ends a server started by [[startServer]] (SIGTERM: it checkpoints) and waits for its exit. */
export async function stopServer(server) {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
}
