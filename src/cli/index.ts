#!/usr/bin/env node
// reclaim-harness command line.
import { doctor, ensureTools, requirements, type Need } from '../builds/doctor.js';
import { crossBuild } from '../builds/crossbuild.js';
import { hostDemo } from './demo.js';
import { buildKernel } from '../builds/kernel.js';
import { run, shell } from '../pipeline.js';
import { lava } from '../target/lava.js';
import { parseCommandLine, usage, UsageError, type Command, type Options } from './options.js';
import { runMutants } from '../mutation/handwritten.js';
import { fuzz } from '../fuzz/campaign.js';
import { runMutate } from '../mutation/mechanical.js';


/** The host tools a command needs before it starts. */
function needsOf(command: Command, o: Options): Need[] {
  const kernel: Need[] = o.kernel ? [] : ['kernel', ...(o.kernelSrc ? [] : (['debian-source'] as Need[]))];
  if ((command === 'run' || command === 'fuzz') && o.target === 'local') return ['boot']; // mkfs.ext4 for the scratch file
  if ((command === 'run' || command === 'fuzz') && o.target === 'ssh') return ['ssh', 'image', 'cross']; // the target bundle: Debian's arm64 Node, the cross-built shim
  switch (command) {
    case 'run':
    case 'shell':
    case 'fuzz':
    case 'mutants':
    case 'mutate':
      return ['boot', 'image', 'cross', ...(o.arch === 'x86_64' ? (['x86_64'] as Need[]) : []), ...kernel, ...(o.modules || o.kernel?.endsWith('.deb') ? (['modules'] as Need[]) : [])];
    case 'kernel':
      return [...kernel, ...(o.arch === 'x86_64' ? (['x86_64'] as Need[]) : [])];
    case 'lava':
      return ['image', 'cross', 'boot', ...(o.kernelUrl || o.kernel ? [] : kernel), ...(o.run ? (['lava'] as Need[]) : [])];
    case 'cross-build':
      return ['cross'];
    default:
      return [];
  }
}

/** --target and the board's options, as the target module takes them. */
const targetOf = (o: Options) => ({ target: o.target, ssh: o.ssh && { address: o.ssh, identity: o.identity, hostKey: o.hostKey, keep: o.keep, scratch: o.scratch } });

async function main(argv: string[]): Promise<number> {
  const { command, help, options: o } = parseCommandLine(argv);
  if (help || !command) {
    console.log(usage());
    return command || help ? 0 : 2;
  }
  await ensureTools(needsOf(command, o));
  /** The options run, mutants, fuzz and shell share: kernel and guest. */
  const guest = (defaultTimeout: number, defaultOutput: string) => ({
    kernel: o.kernel,
    modules: o.modules,
    kernelSrc: o.kernelSrc,
    patches: o.patches,
    arch: o.arch,
    memMiB: o.memMiB,
    smp: o.smp,
    swap: o.swap,
    timeoutMs: (o.timeoutS ?? defaultTimeout) * 1000,
    output: o.output ?? defaultOutput,
  });
  switch (command) {
    case 'run':
      return run({ ...guest(60, 'out/run'), ...targetOf(o), filter: o.filter, depth: o.depth, format: o.format, repeat: o.repeat, expect: o.expect });
    case 'lava':
      return lava({ output: o.output ?? 'out/lava', deviceType: o.deviceType, kernelUrl: o.kernelUrl, modulesUrl: o.modulesUrl, ramdiskUrl: o.ramdiskUrl, kernel: o.kernel, kernelSrc: o.kernelSrc, patches: o.patches, filter: o.filter, depth: o.depth, swap: o.swap, memMiB: o.memMiB, smp: o.smp, scratch: o.scratch, run: o.run, expect: o.expect });
    case 'mutants':
      return runMutants({ ...guest(20, 'out/mutants'), only: o.only, filter: o.filter, depth: o.depth });
    case 'mutate':
      return runMutate({ ...guest(20, 'out/mutate'), series: o.series, sample: o.sample, seed: o.seed, only: o.only, minScore: o.minScore });
    case 'fuzz':
      return fuzz({ ...guest(20, 'out/fuzz'), ...targetOf(o), seed: o.seed, runs: o.runs, parserRuns: o.parserRuns, extraPatches: o.mutant ? [o.mutant] : undefined });
    case 'shell':
      return shell(guest(60, 'out/run'));
    case 'demo':
      return (await hostDemo()) ? 0 : 1;
    case 'doctor': {
      const r = await doctor(o.fix);
      if (o.json) console.log(JSON.stringify(r));
      else {
        for (const q of requirements) {
          const state = r.installed.includes(q.pkg) ? 'installed now' : r.present.includes(q.pkg) ? 'ok' : 'MISSING';
          console.log(`${state.padEnd(13)} ${q.pkg.padEnd(24)} ${q.why}`);
        }
        if (r.missing.length) console.log(`run 'reclaim-harness doctor --fix' as root to install: ${r.missing.map((m) => m.pkg).join(' ')}`);
      }
      return r.missing.length ? 1 : 0;
    }
    case 'kernel': {
      const r = await buildKernel({ kernelSrc: o.kernelSrc, patches: o.patches, profile: o.profile, arch: o.arch });
      console.log(o.json ? JSON.stringify(r) : `${r.cached ? 'cached' : 'built'} in ${r.seconds.toFixed(1)} s: ${r.image}\nconfig: ${r.config}`);
      return 0;
    }
    case 'cross-build': {
      const r = await crossBuild(o.arch);
      console.log(o.json ? JSON.stringify(r) : `${r.cached ? 'up to date' : 'built'}: ${r.shim}\n${' '.repeat(r.cached ? 12 : 7)}${r.subject}`);
      return 0;
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    if (e instanceof UsageError) {
      for (const p of e.problems) console.error(`reclaim-harness: ${p}`);
      console.error("see 'reclaim-harness --help'");
      process.exit(2);
    }
    console.error(`reclaim-harness: ${e.message}`);
    process.exit(1);
  },
);
