// The agent: serves ops.ts as JSON lines, one request and one reply each, with request ids.
//
//   node agent.cjs /dev/vportNpM   the QEMU guest: serve the host over the virtio-serial port
//   node agent.cjs --stdio         a child of the host (--target local) or of ssh (a board);
//                                  with RECLAIM_STAGE_SWAP=MiB|none it stages the machine itself
//   node agent.cjs --worker        serve one parent on stdin/stdout (operations as another uid)
//
// The first line to the host is {"ready":true,"features":…}.
import { createReadStream, existsSync, openSync, writeSync } from 'node:fs';
import { ENV } from '../protocol/env.js';
import { exitNow, features, serve, stage, target, unstage } from './ops.js';

const arg = process.argv[2];
const toStdout = (l: string) => process.stdout.write(l + '\n');
if (arg === '--worker') {
  serve(process.stdin, toStdout, () => process.exit(0));
} else if (arg === '--stdio') {
  const swap = process.env[ENV.stageSwap];
  if (swap !== undefined) {
    try {
      stage({ swap: swap === 'none' ? 'none' : Number(swap), scratch: target.scratch });
    } catch (e) {
      process.stderr.write(`reclaim-agent: ${(e as Error).message}\n`);
      process.exit(3);
    }
  }
  // The host closed the pipe, or ssh lost its connection (SIGHUP): leave the machine as it was.
  const end = () => {
    unstage('reclaim-agent');
    process.exit(0);
  };
  for (const sig of ['SIGHUP', 'SIGTERM', 'SIGINT'] as const) process.once(sig, end);
  serve(process.stdin, toStdout, end);
  toStdout(JSON.stringify({ ready: true, features: features() }));
} else if (arg) {
  // The init sets up swap and the scratch disk while Node starts; the features need both.
  const staged = process.env[ENV.staged];
  if (staged) waitFor(() => existsSync(staged), 60_000, `the init's swap and scratch set-up (${staged})`);
  const fd = openSync(arg, 'r+');
  const send = (l: string) => writeSync(fd, l + '\n');
  serve(createReadStream('', { fd, autoClose: false }), send, exitNow);
  send(JSON.stringify({ ready: true, features: features() }));
} else {
  process.stderr.write('usage: agent.cjs /dev/vportNpM | --stdio | --worker\n');
  process.exit(2);
}

/** Blocks until cond() holds, polling every 2 ms; after ms, says what it waited for and exits. */
function waitFor(cond: () => boolean, ms: number, what: string): void {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (const until = Date.now() + ms; !cond(); Atomics.wait(nap, 0, 0, 2)) {
    if (Date.now() > until) {
      process.stderr.write(`reclaim-agent: waited ${ms} ms for ${what}\n`);
      process.exit(4);
    }
  }
}
