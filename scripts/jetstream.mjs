#!/usr/bin/env node
// The package's `jetstream` command: runs the release binary built by `npm run build`
// (target/release/jetstream) with the same arguments, standard streams and exit status.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const binary = fileURLToPath(new URL('../target/release/jetstream', import.meta.url));

if (!existsSync(binary)) {
  console.error(`jetstream: ${binary} is missing; build it with \`npm run build\``);
  process.exit(127);
}

const child = spawn(binary, process.argv.slice(2), { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal));
}
child.on('error', (error) => {
  console.error(`jetstream: cannot run ${binary}: ${error.message}`);
  process.exit(127);
});
child.on('exit', (code, signal) => {
  if (signal !== null) {
    // Die of the same signal, so callers see what the binary saw.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code ?? 1);
  }
});
