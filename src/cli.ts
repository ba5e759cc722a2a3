#!/usr/bin/env node
// reclaim-harness command line.
import { parseArgs } from 'node:util';
import { doctor, requirements } from './host/doctor.js';
import { crossBuild } from './host/crossbuild.js';
import { hostDemo } from './host/demo.js';
import { buildKernel, type Profile } from './host/kernel.js';
import { formats, parseSize, run, shell, type Format } from './host/run.js';
import { runMutants } from './host/mutants.js';
import { fuzz } from './fuzz/run.js';

const USAGE = `usage: reclaim-harness <command> [options]

commands:
  run [options]       the main job: build kernel and guest image, boot, run the suite
      --kernel IMAGE  use this Image instead of building one
      --kernel-src DIR, --patches DIR|none   as for 'kernel'
      --filter REGEX  scenarios whose id matches
      --mem MiB (1024)  --smp N (2)  --swap SIZE|none (256M)  --timeout SECONDS (60, per step)
      --format human|json|ktap|junit   what to print on stdout at the end (human)
      --output DIR (out/run)   results.json, results.ktap, results.junit.xml, results.txt
  mutants [--only REGEX] [run's options]
                      build each known-bug kernel in qemu/mutants/, run the suite on it, print
                      the kill table; exit 1 if any mutant survives (--timeout default 20)
  fuzz [--seed S] [--runs N] [--parser-runs N] [--mutant PATCH] [run's kernel options]
                      random operation sequences in lockstep with the model; the first mismatch
                      is shrunk and written as sequence.json and a C reproducer (repro.c)
  shell [options]     boot the same guest with a shell on this terminal (run's kernel options)
  demo                exercise the syscall shim on this machine's kernel
  doctor [--fix]      check (and with --fix install) the Debian packages the project needs
  kernel [--kernel-src DIR] [--patches DIR|none] [--profile default|debug]
                      build (or fetch from the cache) the arm64 kernel Image
  cross-build [--arch arm64]
                      build the shim and subject for another architecture into out/native-ARCH/
options:
  --json              machine-readable output (doctor, kernel, cross-build)
  -h, --help          this text`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      fix: { type: 'boolean', default: false },
      arch: { type: 'string', default: 'arm64' },
      json: { type: 'boolean', default: false },
      'kernel-src': { type: 'string' },
      patches: { type: 'string' },
      profile: { type: 'string', default: 'default' },
      kernel: { type: 'string' },
      filter: { type: 'string' },
      only: { type: 'string' },
      seed: { type: 'string', default: '1' },
      runs: { type: 'string', default: '100' },
      'parser-runs': { type: 'string', default: '200' },
      mutant: { type: 'string' },
      mem: { type: 'string', default: '1024' },
      smp: { type: 'string', default: '2' },
      swap: { type: 'string', default: '256M' },
      timeout: { type: 'string' },
      format: { type: 'string', default: 'human' },
      output: { type: 'string', default: 'out/run' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  const mem = parseSize(values.mem!);
  /** The options run, mutants, fuzz and shell share: kernel and guest. */
  const guest = (defaultTimeout: number, defaultOutput: string) => ({
    kernel: values.kernel,
    kernelSrc: values['kernel-src'],
    patches: values.patches,
    memMiB: mem === 'none' ? 1024 : mem,
    smp: Number(values.smp),
    swap: parseSize(values.swap!),
    timeoutMs: Number(values.timeout ?? defaultTimeout) * 1000,
    output: values.output === 'out/run' ? defaultOutput : values.output!,
  });
  switch (command) {
    case 'run': {
      const format = values.format as Format;
      if (!formats.includes(format)) throw new Error(`--format must be one of ${formats.join(', ')}, not '${values.format}'`);
      return run({ ...guest(60, 'out/run'), filter: values.filter, format });
    }
    case 'mutants':
      if (values.kernel) throw new Error('mutants builds its own kernels: --kernel does not apply');
      return runMutants({ ...guest(20, 'out/mutants'), only: values.only, filter: values.filter });
    case 'fuzz':
      return fuzz({ ...guest(20, 'out/fuzz'), seed: Number(values.seed), runs: Number(values.runs), parserRuns: Number(values['parser-runs']), extraPatches: values.mutant ? [values.mutant] : undefined });
    case 'shell':
      return shell(guest(60, 'out/run'));
    case 'demo':
      return (await hostDemo()) ? 0 : 1;
    case 'doctor': {
      const r = await doctor(values.fix);
      if (values.json) console.log(JSON.stringify(r));
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
      const profile = values.profile as Profile;
      if (profile !== 'default' && profile !== 'debug') throw new Error(`--profile must be default or debug, not '${profile}'`);
      const r = await buildKernel({ kernelSrc: values['kernel-src'], patches: values.patches, profile });
      console.log(values.json ? JSON.stringify(r) : `${r.cached ? 'cached' : 'built'} in ${r.seconds.toFixed(1)} s: ${r.image}\nconfig: ${r.config}`);
      return 0;
    }
    case 'cross-build': {
      const r = await crossBuild(values.arch!);
      console.log(values.json ? JSON.stringify(r) : `${r.cached ? 'up to date' : 'built'}: ${r.shim}\n${' '.repeat(r.cached ? 12 : 7)}${r.subject}`);
      return 0;
    }
    default:
      console.error(`reclaim-harness: unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`reclaim-harness: ${e.message}`);
    process.exit(1);
  },
);
