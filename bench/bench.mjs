#!/usr/bin/env node
// Patch to verdict on each architecture, in one run, one guest at a time: one C line of the
// series is edited (a copy of qemu/patches/linux-6.12), then `run --patches COPY` rebuilds
// what changed, boots and runs the default suite. Boot and suite times come from that run's
// results.json. Writes out/bench/bench.json and prints the table with ratios and targets.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildKernel } from '../dist/src/host/kernel.js';
import { chooseAccel } from '../dist/src/host/qemu.js';

const out = 'out/bench/bench';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

/** A copy of the series with the first added C statement of one patch changed (a comment after it). */
function editedSeries(dir, stamp) {
  cpSync('qemu/patches/linux-6.12', dir, { recursive: true });
  for (const f of readdirSync(dir).sort()) {
    const lines = readFileSync(join(dir, f), 'utf8').split('\n');
    let file = '';
    for (let i = 0; i < lines.length; i++) {
      const m = /^\+\+\+ b\/(\S+)$/.exec(lines[i]);
      if (m) file = m[1];
      else if (file.endsWith('.c') && /^\+\t.*;$/.test(lines[i])) {
        lines[i] += ` /* bench ${stamp} */`;
        writeFileSync(join(dir, f), lines.join('\n'));
        return `${f}: ${file}`;
      }
    }
  }
  throw new Error('no added C statement in the series');
}

const arches = ['arm64', 'x86_64'];
const figures = { at: new Date().toISOString(), arches: {} };
// Warm: each arch's patched kernel and image, so the edit below costs only what it changed.
for (const arch of arches) await buildKernel({ arch });
for (const arch of arches) {
  const series = join(out, `series-${arch}`);
  const edited = editedSeries(series, `${arch} ${Date.now()}`);
  const dir = join(out, arch);
  const t0 = Date.now();
  const r = spawnSync('node', ['dist/src/cli.js', 'run', '--arch', arch, '--patches', series, '--output', dir], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const wall = (Date.now() - t0) / 1000;
  writeFileSync(join(dir, 'run.stderr'), r.stderr);
  if (r.status !== 0) throw new Error(`run --arch ${arch}: exit ${r.status}\n${r.stderr.slice(-2000)}`);
  const rep = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
  const built = /kernel: build: (\d+) compiled/.exec(r.stderr)?.[1];
  const buildLine = /\[\s*([\d.]+)s\] run: kernel /.exec(r.stderr);
  figures.arches[arch] = {
    accel: rep.target.accel,
    why: (await chooseAccel(arch, rep.kernel.image)).why,
    edited,
    compiled: built ? Number(built) : undefined,
    buildSeconds: buildLine ? Number(buildLine[1]) : undefined,
    bootSeconds: rep.timings.bootMs / 1000,
    suiteSeconds: rep.timings.suiteMs / 1000,
    patchToVerdictSeconds: wall,
    summary: rep.summary,
  };
}
const a = figures.arches.arm64;
const x = figures.arches.x86_64;
figures.ratios = { bootX86OverArm64: +(x.bootSeconds / a.bootSeconds).toFixed(2), suiteX86OverArm64: +(x.suiteSeconds / a.suiteSeconds).toFixed(2), patchToVerdictX86OverArm64: +(x.patchToVerdictSeconds / a.patchToVerdictSeconds).toFixed(2) };
// issue 14's targets: arm64 under TCG; x86_64 under KVM (where it runs under TCG, the target does not apply as such)
const targets = { arm64: { bootSeconds: 2.0, suiteSeconds: 25, patchToVerdictSeconds: 40 }, x86_64: { bootSeconds: 1.0, suiteSeconds: 6, patchToVerdictSeconds: 20 } };
figures.targets = targets;
writeFileSync('out/bench/bench.json', JSON.stringify(figures, null, 2) + '\n');

const cell = (arch, k) => {
  const v = figures.arches[arch][k];
  return `${v.toFixed(1)} s (${v <= targets[arch][k] ? 'met' : 'not met'}, ≤ ${targets[arch][k]})`;
};
console.log('figure              arm64 (TCG)                     x86_64 (' + x.accel.toUpperCase() + ')                 x86_64 / arm64');
for (const [k, name, ratio] of [['bootSeconds', 'boot to ready', 'bootX86OverArm64'], ['suiteSeconds', 'default suite', 'suiteX86OverArm64'], ['patchToVerdictSeconds', 'patch to verdict', 'patchToVerdictX86OverArm64']]) {
  console.log(`${name.padEnd(19)} ${cell('arm64', k).padEnd(31)} ${cell('x86_64', k).padEnd(31)} ${figures.ratios[ratio].toFixed(2)}`);
}
for (const arch of arches) {
  const f = figures.arches[arch];
  console.log(`${arch}: ${f.summary.pass} pass, ${f.summary.fail} fail, ${f.summary.skip} skip, ${f.summary.error} error; edited ${f.edited}; kernel ready after ${f.buildSeconds ?? '?'} s (${f.compiled ?? '?'} compiled)${f.why ? `; TCG because ${f.why}` : ''}`);
}
console.log('not measured here: the per-step cost against a standalone C reproducer; the mutant set is `npm run bench:mutate`');
const missed = arches.flatMap((arch) => Object.keys(targets[arch]).filter((k) => figures.arches[arch][k] > targets[arch][k]).map((k) => `${arch} ${k}`));
process.exitCode = missed.length ? 1 : 0;
