#!/usr/bin/env node
// reclaim-harness command line.
import { doctor, ensureTools, requirements, type Need } from '../build/doctor.js';
import { crossBuild } from '../build/crossbuild.js';
import { hostDemo } from './demo.js';
import { buildKernel } from '../build/kernel.js';
import { run, shell } from '../pipeline.js';
import { lava } from '../target/lava.js';
import { parseCommandLine, UsageError, type Command, type Options } from './options.js';
import { runMutants } from '../mutation/handwritten.js';
import { fuzz } from '../fuzz/campaign.js';
import { runMutate } from '../mutation/mechanical.js';

const USAGE = `usage: reclaim-harness <command> [options]

commands:
  run [options]       the main job: build kernel and guest image, boot, run the suite
      --kernel IMAGE|DEB   use this Image instead of building one, or the one in a linux-image .deb
      --modules PATH  the kernel's modules, for a kernel with its drivers as modules: a .deb,
                      lib/modules/RELEASE, or a modules tarball; a .deb kernel brings its own
      --kernel-src DIR, --patches DIR|none   as for 'kernel'
      --filter REGEX  scenarios whose id matches
      --expect LIST   interfaces the kernel must have (proc-reclaim,pmadv-range,shrinkmem): each
                      missing one is a FAIL, not a SKIP. Without it they come from the kernel's
                      config: of a kernel built here (kept beside its Image in the cache), or the
                      target's /proc/config.gz or /boot/config-RELEASE
      --depth default|full   full adds the scenarios too slow for the default suite, reported
                      apart (mutate always runs them)
      --target qemu|local|ssh://USER@HOST[:PORT]
                      local: this machine's running kernel, as root, with the host-built
                      shim and subject; its own zram swap and a loop-mounted scratch; every
                      knob put back at the end, also on Ctrl-C
                      ssh: a board's running kernel, as root over OpenSSH (BatchMode, one
                      multiplexed connection); the arm64 target bundle (Node included) is
                      pushed to /tmp/reclaim-harness-KEY and removed at the end
      --identity FILE  ssh's private key   --keep  leave the bundle on the board for next time
      --host-key check|new|any   check: known_hosts must know the board; new (default): a
                      board seen before must keep its key; any: no check (reflashed boards)
      --scratch DIR   the board's scratch directory on a disk file system (/mnt/scratch)
      --arch arm64|x86_64   the guest's architecture (arm64). x86_64: the same series in its
                      own make O= directory, Debian's amd64 Node, the host's shim and subject,
                      QEMU's microvm under KVM where /dev/kvm works (TCG otherwise; the report
                      says which). mutants, mutate, fuzz and shell take it too
      --repeat N      the suite N times in one boot (1-1000); lists every scenario whose verdict changed
      --mem MiB (1024; 384 up to this host's memory)  --smp N (2; 1-8)
      --swap SIZE|none (256M of zram)  --timeout SECONDS (60 per step; 1-3600)
      --format human|json|ktap|junit|kcidb   what to print on stdout at the end (human)
      --output DIR (out/run)   results.json, results.ktap, results.junit.xml, results.txt
  lava [--output DIR (out/lava)] [--device-type qemu|NAME] [--run]
       [--kernel-url URL --ramdisk-url URL --modules-url URL] [--filter RE] [--depth D]
       [--swap SIZE|none] [--scratch DIR] [--expect LIST] [run's kernel options]
                      write a LAVA job (job.yaml) that boots the kernel with a ramdisk carrying
                      the target bundle and runs the on-target runner: one LAVA test case per
                      scenario, signalled through /dev/kmsg. qemu (default): the kernel, the
                      ramdisk and a scratch disk in DIR and the rendered device dictionary
                      (device.yaml); --run runs it with lava-run here and takes the verdict
                      from the test cases, not from the job status. A lab gives its device
                      type (tftp deploy, u-boot ramdisk boot) and the URLs it serves them from
  mutants [--only REGEX] [run's options]
                      build each known-bug kernel in qemu/mutants/, run the suite on it, print
                      the kill table; exit 1 if any mutant survives (--timeout default 20)
  mutate [--series DIR] [--sample N --seed S] [--only REGEX] [--min-score P] [--kernel-src DIR]
         [run's guest options]
                      mechanical mutants of the C lines the series adds (negated conditions,
                      moved boundaries, deleted calls, changed constants and errnos, ...), all
                      built into one kernel behind a runtime switch; each runs the scenarios
                      that reach it (of all of them, --depth full included). Prints the survivors and the mutation score; exit 1 below
                      P percent (90). --timeout default 20
  fuzz [--seed S] [--runs N] [--parser-runs N] [--mutant PATCH] [run's kernel options]
                      random operation sequences in lockstep with the model; the first mismatch
                      is shrunk and written as sequence.json and a C reproducer (repro.c)
  shell [options]     boot the same guest with a shell on this terminal (run's kernel options)
  demo                exercise the syscall shim on this machine's kernel
  doctor [--fix]      check (and with --fix install) the Debian packages the project needs;
                      every other command installs what it needs itself, as root
  kernel [--kernel-src DIR] [--patches DIR|none] [--profile default|debug] [--arch arm64|x86_64]
                      build (or fetch from the cache) the kernel: arm64 Image or x86_64 bzImage
  cross-build [--arch arm64]
                      build the shim and subject for another architecture into out/native-ARCH/
options:
  --json              machine-readable output (doctor, kernel, cross-build)
  -h, --help          this text`;

/** The host tools a command needs before it starts. */
function needsOf(command: Command, o: Options): Need[] {
  const kernel: Need[] = o.kernel ? [] : ['kernel', ...(o.kernelSrc ? [] : (['debian-source'] as Need[]))];
  if (command === 'run' && o.target === 'local') return ['boot']; // mkfs.ext4 for the scratch file
  if (command === 'run' && o.target === 'ssh') return ['ssh', 'image', 'cross']; // the target bundle: Debian's arm64 Node, the cross-built shim
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

async function main(argv: string[]): Promise<number> {
  const { command, help, options: o } = parseCommandLine(argv);
  if (help || !command) {
    console.log(USAGE);
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
      return run({ ...guest(60, 'out/run'), filter: o.filter, depth: o.depth, target: o.target, ssh: o.ssh && { address: o.ssh, identity: o.identity, hostKey: o.hostKey, keep: o.keep, scratch: o.scratch }, format: o.format, repeat: o.repeat, expect: o.expect });
    case 'lava':
      return lava({ output: o.output ?? 'out/lava', deviceType: o.deviceType, kernelUrl: o.kernelUrl, modulesUrl: o.modulesUrl, ramdiskUrl: o.ramdiskUrl, kernel: o.kernel, kernelSrc: o.kernelSrc, patches: o.patches, filter: o.filter, depth: o.depth, swap: o.swap, memMiB: o.memMiB, smp: o.smp, scratch: o.scratch, run: o.run, expect: o.expect });
    case 'mutants':
      return runMutants({ ...guest(20, 'out/mutants'), only: o.only, filter: o.filter, depth: o.depth });
    case 'mutate':
      return runMutate({ ...guest(20, 'out/mutate'), series: o.series, sample: o.sample, seed: o.seed, only: o.only, minScore: o.minScore });
    case 'fuzz':
      return fuzz({ ...guest(20, 'out/fuzz'), seed: o.seed, runs: o.runs, parserRuns: o.parserRuns, extraPatches: o.mutant ? [o.mutant] : undefined });
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
