#!/usr/bin/env node
// The same suite on every kind of target, measured in one run and one after another (never two
// guests at once): the qemu target, an emulated board over ssh, the on-target runner on that
// board, and a LAVA job under lava-run. Writes out/bench/targets.json; each time is also given
// as a ratio to the qemu target's.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildKernel } from '../dist/src/builds/kernel.js';
import { targetBundle } from '../dist/src/builds/guest/target-bundle.js';
import { startBoard } from '../dist/test/helpers/board.js';

const out = 'out/bench/targets';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const cli = (args) => {
  const t0 = Date.now();
  const r = spawnSync('node', ['dist/src/cli/index.js', ...args], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: exit ${r.status}\n${r.stderr.slice(-2000)}`);
  return (Date.now() - t0) / 1000;
};
const summary = (dir) => {
  const r = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
  return { ...r.summary, readySeconds: r.timings.bootMs / 1000, suiteSeconds: r.timings.suiteMs / 1000 };
};
const kernel = (await buildKernel({})).image;
const bundle = await targetBundle();
const figures = { bundleBytes: bundle.bytes, bundleUnpackedBytes: bundle.unpacked };

figures.qemu = { wallSeconds: cli(['run', '--kernel', kernel, '--output', join(out, 'qemu')]), ...summary(join(out, 'qemu')) };
const board = await startBoard(kernel, out);
try {
  figures.boardUpSeconds = board.upMs / 1000;
  const target = `ssh://root@127.0.0.1:${board.port}`;
  const ssh = ['--target', target, '--identity', board.identity, '--host-key', 'any'];
  figures.ssh = { wallSeconds: cli(['run', ...ssh, '--keep', '--output', join(out, 'ssh')]), ...summary(join(out, 'ssh')) };
  // the runner on the board, from the bundle the ssh run left there
  const t0 = Date.now();
  const text = board.ssh(`cd /tmp/reclaim-harness-${bundle.key} && ./node runner.cjs --scratch /mnt/scratch --output /tmp/on-target 2>&1 >/dev/null | tail -1`);
  const m = /(\d+) pass, (\d+) fail, (\d+) skip, (\d+) error in ([\d.]+) s/.exec(text);
  if (!m) throw new Error(`on-target runner: ${text}`);
  const rep = JSON.parse(board.ssh(`cat /tmp/on-target/results.json; rm -rf /tmp/on-target /tmp/reclaim-harness-${bundle.key}`));
  const reasons = {};
  for (const r of rep.results) if (r.status !== 'pass') reasons[`${r.status}: ${r.reason}`] = (reasons[`${r.status}: ${r.reason}`] ?? 0) + 1;
  figures.onTarget = { wallSeconds: (Date.now() - t0) / 1000, pass: +m[1], fail: +m[2], skip: +m[3], error: +m[4], suiteSeconds: +m[5], notPassed: reasons };
} finally {
  await board.stop();
}
const lavaWall = cli(['lava', '--run', '--kernel', kernel, '--output', join(out, 'lava')]);
const lava = JSON.parse(readFileSync(join(out, 'lava', 'lava-results.json'), 'utf8'));
const runner = /reclaim-runner: (\d+) pass, (\d+) fail, (\d+) skip, (\d+) error in ([\d.]+) s/.exec(readFileSync(join(out, 'lava', 'lava.log'), 'utf8'));
figures.lava = { wallSeconds: lavaWall, lavaRunSeconds: lava.seconds, pass: lava.pass, fail: lava.fail, skip: lava.skip, unknown: lava.unknown, suiteSeconds: runner ? +runner[5] : undefined };
for (const k of ['ssh', 'onTarget', 'lava']) figures[k].suiteOverQemu = +(figures[k].suiteSeconds / figures.qemu.suiteSeconds).toFixed(2);
writeFileSync(join('out/bench', 'targets.json'), JSON.stringify(figures, null, 2) + '\n');
const mib = (n) => (n / 1048576).toFixed(1);
console.log(`target bundle: ${mib(figures.bundleBytes)} MiB gzipped, ${mib(figures.bundleUnpackedBytes)} MiB unpacked`);
console.log('target            pass fail skip err  ready/up   suite   x qemu   wall');
const row = (name, f, ready) => console.log(`${name.padEnd(17)} ${String(f.pass).padStart(4)} ${String(f.fail).padStart(4)} ${String(f.skip).padStart(4)} ${String(f.error ?? f.unknown).padStart(3)} ${ready.padStart(9)} ${f.suiteSeconds.toFixed(1).padStart(6)} s ${(f.suiteOverQemu ?? 1).toFixed(2).padStart(6)} ${f.wallSeconds.toFixed(1).padStart(6)} s`);
row('qemu', figures.qemu, `${figures.qemu.readySeconds.toFixed(1)} s`);
row('ssh (board)', figures.ssh, `${figures.ssh.readySeconds.toFixed(1)} s`);
row('on-target runner', figures.onTarget, '-');
row('lava-run (qemu)', figures.lava, '-');
for (const [k, n] of Object.entries(figures.onTarget.notPassed)) console.log(`  on-target ${n} x ${k}`);
console.log(`board up (QEMU start to ssh login): ${figures.boardUpSeconds.toFixed(1)} s; lava-run itself ${figures.lava.lavaRunSeconds.toFixed(1)} s`);
