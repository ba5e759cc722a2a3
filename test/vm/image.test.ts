// The guest initramfs: built (then cached), booted with a --patches none kernel
// and a tiny agent that reports node, arch, zram swap, the scratch disk and the shim.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { packageRoot } from '../../src/native.js';
import { buildImage } from '../../src/builds/guest/image.js';
import { buildKernel } from '../../src/builds/kernel.js';
import { startQemu } from '../../src/target/qemu.js';

const AGENT = `'use strict';
const fs = require('fs');
const fd = fs.openSync(process.argv[2], 'r+');
// the init sets up swap and scratch beside Node's start, and says when it is done
const nap = new Int32Array(new SharedArrayBuffer(4));
const staged = process.env.RECLAIM_STAGED;
while (!fs.existsSync(staged)) Atomics.wait(nap, 0, 0, 2);
let icu;
try { icu = 'a'.localeCompare('b'); } catch (e) { icu = e.message; }
const swap = /SwapTotal:\\s+(\\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
const mount = fs.readFileSync('/proc/mounts', 'utf8').split('\\n').map((l) => l.split(' ')).find((f) => f[1] === '/mnt/scratch');
let shim;
try { shim = typeof require(process.env.RECLAIM_SHIM).pageSize === 'number'; } catch (e) { shim = String(e); }
fs.writeSync(fd, JSON.stringify({
  ready: true, node: process.version, arch: process.arch,
  swapTotalKb: swap ? Number(swap[1]) : null, scratch: mount ? mount[2] : null, shim,
  subject: process.env.RECLAIM_SUBJECT, icu, staged: Number(fs.readFileSync(staged, 'utf8')), uptime: Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]), nodeUptime: process.uptime(),
}) + '\\n');
fs.closeSync(fd);
`;

/** Connects once QEMU has made the socket, and resolves with the first line. */
async function firstLine(path: string): Promise<string> {
  let sock: Socket | undefined;
  for (let i = 0; !sock; i++) {
    try {
      sock = await new Promise<Socket>((resolve, reject) => {
        const s = connect(path, () => resolve(s)).once('error', reject);
      });
    } catch (e) {
      if (i > 100) throw new Error(`cannot connect to ${path}: ${(e as Error).message}`);
      await sleep(100);
    }
  }
  const s = sock;
  return new Promise<string>((resolve, reject) => {
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      if (buf.includes('\n')) (resolve(buf.slice(0, buf.indexOf('\n'))), s.destroy());
    });
    s.on('close', () => reject(new Error(`agent channel closed before a line (got ${JSON.stringify(buf)})`)));
    s.on('error', reject);
  });
}

test('guest image: cached rebuild; boots to a ready Node 18 arm64 agent with zram swap, ext4 scratch and the shim', async () => {
  const dir = join(packageRoot, 'out', 'image-test');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const agentBundle = join(dir, 'agent.cjs');
  writeFileSync(agentBundle, AGENT);

  const img = await buildImage({ agentBundle });
  const again = await buildImage({ agentBundle });
  assert.equal(again.cached, true, 'second buildImage comes from the cache');
  assert.equal(again.initrd, img.initrd);
  assert.ok(img.bytes > 1e6 && img.bytes < 150e6, `initramfs size ${img.bytes}`);

  const kernel = await buildKernel({ patches: 'none' });
  const disk = join(dir, 'disk.img');
  await execa('truncate', ['-s', '32M', disk]);
  await execa('mkfs.ext4', ['-q', '-F', disk]);
  const sock = join(dir, 'agent.sock');
  const consoleLog = join(dir, 'console.log');

  const t0 = Date.now();
  const vm = startQemu({
    kernel: kernel.image,
    initrd: img.initrd,
    append: 'reclaim.swap=64',
    consoleLog,
    timeoutMs: 120_000,
    memMiB: 1024,
    smp: 2,
    agentSocket: sock,
    scratchDisk: disk,
  });
  let line: string;
  let readyMs: number;
  try {
    line = await Promise.race([
      firstLine(sock),
      vm.done.then((r) => {
        throw new Error(`QEMU ended before the agent was ready (exit ${r.exitCode}, timed out ${r.timedOut}); console: ${consoleLog}\n${r.console.slice(-3000)}`);
      }),
    ]);
    readyMs = Date.now() - t0;
  } catch (e) {
    vm.kill();
    throw e;
  } finally {
    await vm.done; // the agent exits and /init powers off, or QEMU was killed
  }
  const r = await vm.done;
  const ready = JSON.parse(line);
  console.log(`# image ${img.bytes} bytes (${img.seconds.toFixed(1)} s, cached ${img.cached}); agent ready ${readyMs} ms after QEMU spawn; guest uptime ${ready.uptime} s, node up ${ready.nodeUptime.toFixed(2)} s`);
  assert.equal(r.crash, undefined, `kernel crash:\n${r.crash?.excerpt}`);
  assert.equal(ready.ready, true);
  assert.match(ready.node, /^v18\./);
  assert.equal(ready.arch, 'arm64');
  assert.ok(ready.swapTotalKb > 60 * 1024 && ready.swapTotalKb <= 64 * 1024, `SwapTotal ${ready.swapTotalKb} kB for reclaim.swap=64`);
  assert.equal(ready.scratch, 'ext4');
  assert.equal(ready.shim, true, `shim: ${ready.shim}`);
  assert.equal(ready.subject, '/opt/reclaim/subject');
  // ICU's data is left out of the image (qemu/guest/icudata-stub.c): Node runs, Intl does not
  assert.equal(ready.icu, 'Internal error. Icu error.');
  assert.ok(ready.staged > 0 && ready.staged <= ready.uptime, `staged at ${ready.staged} s, agent at ${ready.uptime} s`);
  assert.match(r.console, /reclaim-init: agent exited with status 0/);
  assert.equal(r.timedOut, false);
});

test('the agent and runner use no API that needs ICU data (the guest image has none)', () => {
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts')) {
        readFileSync(p, 'utf8').split('\n').forEach((l, i) => {
          if (/\blocaleCompare\b|\btoLocale\w*\(|\bIntl\.|\.normalize\(|new TextDecoder\(\s*['"](?!utf-?8)/.test(l)) offenders.push(`${p}:${i + 1}: ${l.trim()}`);
        });
      }
    }
  };
  for (const d of ['agent', 'suite', 'model', 'report']) walk(join(packageRoot, 'src', d));
  assert.deepEqual(offenders, []);
});
