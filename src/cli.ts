#!/usr/bin/env node
// reclaim-harness command line.
import { parseArgs } from 'node:util';
import { doctor, requirements } from './host/doctor.js';
import { crossBuild } from './host/crossbuild.js';
import { hostDemo } from './host/demo.js';
import { buildKernel, type Profile } from './host/kernel.js';

const USAGE = `usage: reclaim-harness <command> [options]

commands:
  run                 the main job; until the guest exists it runs the host demo (and says so)
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
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  switch (command) {
    case 'run':
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
