#!/usr/bin/env node
// Patch to verdict on each architecture, in one run, one guest at a time, the way a kernel
// developer works: a kernel tree with the series applied (made once from Debian's source, then
// cached), one file of the series edited, then `run --kernel-src TREE`, which rebuilds what
// changed, boots and runs the default suite. Boot and suite times come from that run's
// results.json. Writes out/bench/bench.json and prints the table with ratios and targets.
// The first run also builds each architecture's kernel from that tree once (about 5 min each).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildKernel, debianSource, defaultPatches, readSeries, seriesInTree } from '../dist/src/host/kernel.js';
import { cacheDir } from '../dist/src/host/cache.js';
import { chooseAccel } from '../dist/src/host/qemu.js';

const out = 'out/bench/bench';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

/** A developer's tree: Debian's 6.12 source with the shipped series applied. */
async function developerTree() {
  const src = await debianSource();
  const tree = cacheDir('bench', `tree-${src.id}`);
  const series = readSeries(defaultPatches);
  if (!seriesInTree({ ...src, dir: tree }, series)) {
    console.error(`bench: a developer tree in ${tree}: ${src.dir} with the series applied`);
    execFileSync('rsync', ['-a', '--delete', `${src.dir}/`, `${tree}/`]);
    for (const p of series.patches) execFileSync('git', ['apply', '-p1', p], { cwd: tree });
  }
  return tree;
}

/** The edit: one comment line at the end of a file the series adds, new each run. */
const EDITED = 'mm/shrinkmem.c';
function edit(tree, stamp) {
  const f = join(tree, EDITED);
  const text = readFileSync(f, 'utf8').replace(/\n\/\* bench: .* \*\/\n$/, '\n');
  writeFileSync(f, `${text}/* bench: ${stamp} */\n`);
}

const tree = await developerTree();
const arches = ['arm64', 'x86_64'];
const figures = { at: new Date().toISOString(), arches: {} };
// Warm: each arch's kernel from the tree as it is, so the edit below costs only what it changed.
for (const arch of arches) await buildKernel({ arch, kernelSrc: tree });
for (const arch of arches) {
  edit(tree, `${arch} ${new Date().toISOString()}`);
  const edited = EDITED;
  const dir = join(out, arch);
  const t0 = Date.now();
  const r = spawnSync('node', ['dist/src/cli.js', 'run', '--arch', arch, '--kernel-src', tree, '--output', dir], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
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
  console.log(`${arch}: ${f.summary.pass} pass, ${f.summary.fail} fail, ${f.summary.skip} skip, ${f.summary.error} error; edited ${f.edited} in ${tree}; kernel ready after ${f.buildSeconds ?? '?'} s (${f.compiled ?? '?'} compiled)${f.why ? `; TCG because ${f.why}` : ''}`);
}
console.log('not measured here: the per-step cost against a standalone C reproducer; the mutant set is `npm run bench:mutate`');
const missed = arches.flatMap((arch) => Object.keys(targets[arch]).filter((k) => figures.arches[arch][k] > targets[arch][k]).map((k) => `${arch} ${k}`));
process.exitCode = missed.length ? 1 : 0;
