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
import { buildKernel, debianSource, defaultPatches, readSeries, seriesInTree } from '../dist/src/builds/kernel.js';
import { cacheDir } from '../dist/src/builds/cache.js';
import { chooseAccel } from '../dist/src/target/qemu.js';
import { prepare } from '../dist/src/pipeline.js';
import { startTarget } from '../dist/src/target/select.js';
import { attempts, prepareGuest } from '../dist/src/suite/runner.js';
import { Ctx } from '../dist/src/suite/ctx.js';
import { runTrace } from '../dist/src/suite/trace.js';
import { realize, sequence } from '../dist/src/fuzz/gen.js';
import { reproducer } from '../dist/src/fuzz/repro.js';
import { compileReproducer } from '../dist/src/fuzz/campaign.js';
import fc from 'fast-check';

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
  const r = spawnSync('node', ['dist/src/cli/index.js', 'run', '--arch', arch, '--kernel-src', tree, '--output', dir], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
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
/**
 * The same random step sequences (the fuzzer's, seed 7) run by the harness, which observes every
 * page after each step and checks it against the model, and by the standalone C reproducer of
 * each sequence (src/fuzz/repro.ts), which only replays them: per-step cost, one boot.
 */
async function perStep(arch, n = 12) {
  const dir = join(out, `steps-${arch}`);
  mkdirSync(dir, { recursive: true });
  const { kernel, image } = await prepare({ arch });
  const guest = await startTarget({ target: 'qemu', arch, kernel: kernel.image, initrd: image.initrd, outDir: dir, swap: 256 });
  try {
    const f = guest.features;
    await prepareGuest(guest, f);
    const seqs = fc.sample(sequence, { seed: 7, numRuns: n }).map((raw) => realize(raw, { hugetlb: f.hugepages.total > 0, mthp: f.mthp?.includes(64) ? 64 : undefined }));
    const r = { sequences: n, steps: 0, harnessMs: 0, reproMs: 0, harnessErrors: 0, reproNonZero: 0, notes: [] };
    for (const [i, steps] of seqs.entries()) {
      r.steps += steps.length;
      const t0 = Date.now();
      const { error } = await attempts(guest, () => new Ctx(guest, f, f.swap.totalKb > 0), async (ctx) => void (await runTrace(ctx, steps)));
      r.harnessMs += Date.now() - t0;
      if (error) r.harnessErrors++, r.notes.push(`sequence ${i}: harness ${error.message.split('\n')[0]}`);
      const c = join(dir, `repro-${i}.c`);
      writeFileSync(c, reproducer(steps, [], { pageSize: f.pageSize, title: `bench sequence ${i}` }));
      const bin = await compileReproducer(c, arch);
      await guest.request('put', { path: '/tmp/repro', base64: readFileSync(bin).toString('base64'), mode: 0o755 });
      const t1 = Date.now();
      const x = await guest.request('exec', { argv: ['/tmp/repro'], timeoutMs: 60_000 }, 90_000);
      r.reproMs += Date.now() - t1;
      if (x.status !== 0) r.reproNonZero++, r.notes.push(`sequence ${i} (${c}): reproducer exit ${x.status}: ${(x.stdout + x.stderr).trim().split('\n').slice(-2).join(' / ')}`);
    }
    return { ...r, harnessMsPerStep: +(r.harnessMs / r.steps).toFixed(1), reproMsPerStep: +(r.reproMs / r.steps).toFixed(1), harnessOverRepro: +(r.harnessMs / r.reproMs).toFixed(1) };
  } finally {
    await guest.stop();
  }
}
for (const arch of arches) figures.arches[arch].perStep = await perStep(arch);

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
for (const arch of arches) {
  const p = figures.arches[arch].perStep;
  for (const note of p.notes) console.log(`  ${arch} ${note}`);
  console.log(`${arch} per step, ${p.sequences} fuzz sequences (${p.steps} steps): harness ${p.harnessMsPerStep} ms (observe and check every page), C reproducer ${p.reproMsPerStep} ms (replay only): ${p.harnessOverRepro}x${p.harnessErrors || p.reproNonZero ? `; ${p.harnessErrors} harness verdicts other than pass, ${p.reproNonZero} reproducer exits other than 0` : ''}`);
}
console.log('the mechanical-mutant set is `npm run bench:mutate` (about 15 min)');
const missed = arches.flatMap((arch) => Object.keys(targets[arch]).filter((k) => figures.arches[arch][k] > targets[arch][k]).map((k) => `${arch} ${k}`));
process.exitCode = missed.length ? 1 : 0;
