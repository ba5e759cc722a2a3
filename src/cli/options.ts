// The command line: the commands, and the option table (suite/options.ts) that says which
// options each takes, their defaults, their checks and the usage text.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { kernelImageProblem } from '../builds/kernel-image.js';
import { kernelTreeProblem, seriesProblem, type Profile } from '../builds/kernel.js';
import { listMutants } from '../mutation/handwritten.js';
import { modulesProblem } from '../builds/modules.js';
import { stageProblem } from '../agent/stage.js';
import { hostKeyPolicies, parseSshUrl, type HostKeyPolicy, type SshAddress } from '../target/ssh.js';
import { formats, type Format } from '../pipeline.js';
import { suite } from '../scenarios/index.js';
import type { Depth } from '../suite/types.js';
import type { Patched } from '../protocol/kconfig.js';
import { hanging, optionsUsage, parseMiB, parseOptions, regexProblem, suiteEntries, UsageError, type OptionTable, type Refusal } from '../suite/options.js';
import { arches, DEFAULT_ARCH, type Arch } from '../builds/arch.js';

export const commands = ['run', 'lava', 'mutants', 'mutate', 'fuzz', 'shell', 'demo', 'doctor', 'kernel', 'cross-build'] as const;
export type Command = (typeof commands)[number];

export { UsageError };

/** Guest memory with the 93 MiB initramfs: the agent does not start at 288 MiB, starts at 320, and the suite passes at 384 (measured). */
export const MEM_MIN_MIB = 384;
/** QEMU's virt machine with its default GICv2 has at most 8 CPUs. */
export const SMP_MAX = 8;
const TIMEOUT_MAX_S = 3600;

export interface Options {
  kernel?: string;
  /** the kernel's modules: a .deb, a lib/modules/RELEASE tree or a modules tarball */
  modules?: string;
  kernelSrc?: string;
  patches?: string;
  profile: Profile;
  filter?: string;
  /** 'full' adds the scenarios too slow for the default suite */
  depth: Depth;
  /** interfaces the kernel must have: missing, each is a FAIL */
  expect?: Patched[];
  target: 'qemu' | 'local' | 'ssh';
  /** --target ssh://USER@HOST[:PORT] */
  ssh?: SshAddress;
  identity?: string;
  hostKey: HostKeyPolicy;
  /** the board's scratch directory (a disk file system) */
  scratch: string;
  keep: boolean;
  /** lava */
  deviceType: string;
  kernelUrl?: string;
  modulesUrl?: string;
  ramdiskUrl?: string;
  run: boolean;
  only?: string;
  /** mutate: the series to mutate, how many mutants, and the score it must reach */
  series?: string;
  sample?: number;
  minScore: number;
  seed: number;
  runs: number;
  parserRuns: number;
  mutant?: string;
  memMiB: number;
  smp: number;
  swap: number | 'none';
  /** per step; the command's own default when not given */
  timeoutS?: number;
  format: Format;
  repeat: number;
  output?: string;
  fix: boolean;
  json: boolean;
  /** the guest's architecture (cross-build: the shim's) */
  arch: Arch;
}

export interface Parsed {
  command?: Command;
  help: boolean;
  options: Options;
}

function wholeNumber(raw: string, what: string, min: number, max: number, why = ''): [number, string?] {
  const n = /^-?\d+$/.test(raw) ? Number(raw) : NaN;
  if (Number.isSafeInteger(n) && n >= min && n <= max) return [n];
  return [NaN, `${what} ${raw}: want a whole number from ${min} to ${max}${why}`];
}

/** path must be a directory, or not exist yet under a directory. */
function outputProblem(path: string): string | undefined {
  const abs = resolve(path);
  if (existsSync(abs)) return statSync(abs).isDirectory() ? undefined : 'exists and is not a directory';
  let up = dirname(abs);
  while (!existsSync(up)) up = dirname(up);
  return statSync(up).isDirectory() ? undefined : `${up} is not a directory`;
}


const GUEST: Command[] = ['run', 'mutants', 'mutate', 'fuzz', 'shell'];
const KERNEL: Command[] = ['run', 'fuzz', 'shell', 'lava'];

/** A whole number in [min, max] into o: its check. */
const whole = (min: number, max: number, put: (o: Options, x: number) => void, why = '') => (raw: string, o: Options): Refusal => {
  const [x, p] = wholeNumber(raw, '', min, max, why);
  if (p) return p.replace(/^ \S+: /, '');
  put(o, x);
  return undefined;
};
/** One of a list of words into o. */
const oneOf = <T extends string>(words: readonly T[], put: (o: Options, x: T) => void, want = `want one of ${words.join(', ')}`) => (raw: string, o: Options): Refusal => ((words as readonly string[]).includes(raw) ? void put(o, raw as T) : want);
const flag = (put: (o: Options) => void) => (_raw: string, o: Options): Refusal => void put(o);

/** Every option: the commands it applies to, its default, its help line and its check, in the order of checks. */
export const OPTIONS: OptionTable<Options, Command> = {
  arch: {
    type: 'string', commands: [...GUEST, 'kernel', 'cross-build'], arg: 'arm64|x86_64', default: DEFAULT_ARCH,
    help: "the guest's architecture; x86_64: the same series in its own make O= directory, Debian's amd64 Node, QEMU's microvm (KVM where /dev/kvm boots it, else TCG)",
    set: (v, o, c) => (c === 'cross-build' && v !== 'arm64' ? "the only cross-build architecture is arm64 (npm install builds the host's)" : (arches as readonly string[]).includes(v) ? void (o.arch = v as Arch) : `want ${arches.join(' or ')}`),
  },
  kernel: {
    type: 'string', commands: KERNEL, arg: 'IMAGE|DEB', help: 'boot this Image (or the one in a linux-image .deb) instead of building one',
    set: (v, o) => {
      const p = v.endsWith('.deb') ? modulesProblem(v) : kernelImageProblem(v, o.arch);
      if (p) return p;
      o.kernel = v;
      return undefined;
    },
  },
  modules: {
    type: 'string', commands: ['run', 'fuzz', 'shell'], arg: 'PATH', help: "the kernel's modules, for a kernel with its drivers as modules: a .deb, lib/modules/RELEASE, or a modules tarball",
    set: (v, o) => modulesProblem(v) ?? void (o.modules = v),
  },
  'kernel-src': {
    type: 'string', commands: [...GUEST, 'kernel', 'lava'], arg: 'DIR', default: "Debian's linux-source-6.12", help: 'the kernel tree to build, read-only (built with make O=)',
    set: (v, o) => kernelTreeProblem(v) ?? void (o.kernelSrc = v),
  },
  patches: {
    type: 'string', commands: ['run', 'mutants', 'fuzz', 'shell', 'kernel', 'lava'], arg: 'DIR|none', default: 'qemu/patches/linux-6.12', help: 'the patch series to apply',
    set: (v, o) => {
      const p = seriesProblem(v);
      return p ? { whole: `--patches: ${p}` } : void (o.patches = v);
    },
  },
  profile: { type: 'string', commands: ['kernel'], arg: 'default|debug', default: 'default', help: "the kernel's config profile", set: oneOf(['default', 'debug'] as const, (o, x) => (o.profile = x), 'want default or debug') },
  mem: {
    type: 'string', commands: [...GUEST, 'lava'], arg: 'MiB', default: `1024; ${MEM_MIN_MIB} up to this host's memory`, help: "the guest's memory",
    set: (v, o) => {
      const mib = parseMiB(v);
      const hostMiB = Math.floor(totalmem() / 1048576);
      if (mib === undefined) return 'want a size in MiB, e.g. 1024, 1024M or 1G';
      if (mib < MEM_MIN_MIB) return `too small: the guest needs at least ${MEM_MIN_MIB} MiB (Node.js and the unpacked initramfs)`;
      if (mib > hostMiB) return `more than this host's ${hostMiB} MiB`;
      o.memMiB = mib;
      return undefined;
    },
  },
  smp: { type: 'string', commands: [...GUEST, 'lava'], arg: 'N', default: `2; 1-${SMP_MAX}`, help: "the guest's CPUs", set: whole(1, SMP_MAX, (o, x) => (o.smp = x), " (QEMU's virt machine with GICv2)") },
  timeout: {
    type: 'string', commands: GUEST, arg: 'SECONDS', default: `60 per step, 20 for mutants, mutate and fuzz; 1-${TIMEOUT_MAX_S}`, help: 'how long one step may take',
    set: (v, o) => {
      const n = /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
      return n >= 1 && n <= TIMEOUT_MAX_S ? void (o.timeoutS = n) : `want seconds per step, from 1 to ${TIMEOUT_MAX_S}`;
    },
  },
  format: { type: 'string', commands: ['run'], arg: formats.join('|'), default: 'human', help: 'what to print on stdout at the end', set: oneOf(formats, (o, x) => (o.format = x)) },
  repeat: { type: 'string', commands: ['run'], arg: 'N', default: '1; 1-1000', help: 'the suite N times in one boot; lists every scenario whose verdict changed', set: whole(1, 1000, (o, x) => (o.repeat = x)) },
  seed: { type: 'string', commands: ['fuzz', 'mutate'], arg: 'S', default: '1', help: "the random sequences' seed, or the sample's", set: whole(-(2 ** 31), 2 ** 31 - 1, (o, x) => (o.seed = x)) },
  runs: { type: 'string', commands: ['fuzz'], arg: 'N', default: '100', help: 'operation sequences to run', set: whole(1, 1_000_000, (o, x) => (o.runs = x)) },
  'parser-runs': { type: 'string', commands: ['fuzz'], arg: 'N', default: '200', help: 'random inputs to each write parser', set: whole(0, 1_000_000, (o, x) => (o.parserRuns = x)) },
  target: {
    type: 'string', commands: ['run', 'fuzz'], arg: 'qemu|local|ssh://USER@HOST[:PORT]', default: 'qemu',
    help: "local: this machine's running kernel, as root, every knob put back at the end; ssh: a board's running kernel over OpenSSH, the target bundle (Node included) pushed and removed at the end",
    set: (v, o) => {
      if (v === 'local') {
        o.target = 'local';
        return stageProblem();
      } else if (v.startsWith('ssh://')) {
        const a = parseSshUrl(v);
        if (typeof a === 'string') return a;
        o.target = 'ssh';
        o.ssh = a;
      } else if (v !== 'qemu') return 'want qemu, local or ssh://USER@HOST[:PORT]';
      return undefined;
    },
  },
  identity: {
    type: 'string', commands: ['run', 'fuzz'], arg: 'FILE', help: "ssh's private key",
    set: (v, o) => (!existsSync(v) || !statSync(v).isFile() ? 'no such file (a private key for ssh -i)' : void (o.identity = resolve(v))),
  },
  'host-key': { type: 'string', commands: ['run', 'fuzz'], arg: hostKeyPolicies.join('|'), default: 'new', help: "check: known_hosts must know the board; new: a board seen before must keep its key; any: no check", set: oneOf(hostKeyPolicies, (o, x) => (o.hostKey = x), `want ${hostKeyPolicies.join(', ')} (any: a board reflashed between runs)`) },
  keep: { type: 'boolean', commands: ['run', 'fuzz'], help: 'leave the bundle on the board for next time', set: flag((o) => (o.keep = true)) },
  'device-type': {
    type: 'string', commands: ['lava'], arg: 'qemu|NAME', default: 'qemu', help: "the LAVA device type; a lab's gets tftp deploy and u-boot ramdisk boot",
    set: (v, o) => (/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(v) ? void (o.deviceType = v) : 'want a LAVA device type name (letters, digits, _ . -)'),
  },
  'kernel-url': { type: 'string', commands: ['lava'], arg: 'URL', help: 'where the lab serves the kernel from', set: url((o, u) => (o.kernelUrl = u)) },
  'ramdisk-url': { type: 'string', commands: ['lava'], arg: 'URL', help: 'where the lab serves the ramdisk from', set: url((o, u) => (o.ramdiskUrl = u)) },
  'modules-url': { type: 'string', commands: ['lava'], arg: 'URL', help: "where the lab serves the kernel's modules from", set: url((o, u) => (o.modulesUrl = u)) },
  run: { type: 'boolean', commands: ['lava'], help: 'run the job with lava-run here and take the verdict from its test cases', set: flag((o) => (o.run = true)) },
  ...suiteEntries<Options, Command>({ depth: ['run', 'mutants', 'lava'], filter: ['run', 'mutants', 'lava'], expect: ['run', 'lava'], swap: [...GUEST, 'lava'], scratch: ['run', 'fuzz', 'lava'] }, suite, (c) => c === 'run'),
  only: {
    type: 'string', commands: ['mutants', 'mutate'], arg: 'REGEX', help: 'mutants whose name matches',
    set: (v, o, c) => regexProblem(v) ?? (c === 'mutants' && !listMutants(undefined, v).length ? 'matches no mutant in qemu/mutants/' : void (o.only = v)),
  },
  series: {
    type: 'string', commands: ['mutate'], arg: 'DIR', default: 'qemu/patches/linux-6.12', help: 'the series whose added C lines are mutated',
    set: (v, o) => {
      const p = v === 'none' ? 'none has no lines to mutate' : seriesProblem(v);
      return p ? { whole: `--series: ${p}` } : void (o.series = v);
    },
  },
  sample: { type: 'string', commands: ['mutate'], arg: 'N', help: 'a seeded sample of N mutants', set: whole(1, 100_000, (o, x) => (o.sample = x)) },
  'min-score': { type: 'string', commands: ['mutate'], arg: 'P', default: '90', help: 'exit 1 below this mutation score, percent', set: whole(0, 100, (o, x) => (o.minScore = x), ' (percent)') },
  mutant: {
    type: 'string', commands: ['fuzz'], arg: 'PATCH', help: 'one more patch on the kernel (a known bug for the fuzzer to find)',
    set: (v, o) => (!existsSync(v) || !statSync(v).isFile() ? 'no such file' : !/^diff --git /m.test(readFileSync(v, 'utf8')) ? 'not a patch (no "diff --git" line)' : void (o.mutant = v)),
  },
  output: {
    type: 'string', commands: ['run', 'mutants', 'mutate', 'fuzz', 'lava'], arg: 'DIR', default: 'out/COMMAND', help: 'where the reports and logs go',
    set: (v, o) => outputProblem(v) ?? void (o.output = v),
  },
  fix: { type: 'boolean', commands: ['doctor'], help: 'install what is missing (as root)', set: flag((o) => (o.fix = true)) },
  json: { type: 'boolean', commands: ['doctor', 'kernel', 'cross-build'], help: 'machine-readable output', set: flag((o) => (o.json = true)) },
  help: { type: 'boolean', commands: [...commands], short: 'h', help: 'this text', set: () => undefined },
};

function url(put: (o: Options, u: string) => void) {
  return (v: string, o: Options): Refusal => (/^(https?|ftp|file):\/\/\S+$/.test(v) ? void put(o, v) : 'want an http(s)://, ftp:// or file:// URL the dispatcher can fetch');
}

/** What each command does, for the usage text. */
const COMMANDS: Record<Command, string> = {
  run: 'the main job: build the kernel and the guest image, boot, run the suite, write the reports',
  lava: 'write a LAVA job (job.yaml) that boots the kernel with a ramdisk carrying the target bundle and runs the on-target runner: one LAVA test case per scenario',
  mutants: 'build each known-bug kernel in qemu/mutants/, run the suite on it, print the kill table; exit 1 if one survives',
  mutate: "mechanical mutants of the C lines the series adds, all in one kernel behind a runtime switch; each runs the scenarios that reach it; prints the survivors and the score",
  fuzz: 'random operation sequences in lockstep with the model; the first mismatch is shrunk and written as sequence.json and a C reproducer',
  shell: 'boot the same guest with a shell on this terminal',
  demo: "exercise the syscall shim on this machine's kernel",
  doctor: 'check (and with --fix install) the Debian packages the project needs; every other command installs what it needs itself, as root',
  kernel: 'build (or take from the cache) the kernel: arm64 Image or x86_64 bzImage',
  'cross-build': 'build the shim and subject for another architecture into out/native-ARCH/',
};

/** The usage text, made from the command and option tables. */
export function usage(): string {
  return ['usage: reclaim-harness <command> [options]', '', 'commands:', ...commands.map((c) => hanging(`  ${c}`, COMMANDS[c], 15)), '', 'options (the commands each applies to in brackets):', ...optionsUsage(OPTIONS, commands)].join('\n');
}

/** Parses and checks argv; throws UsageError listing every mistake. */
export function parseCommandLine(argv: string[]): Parsed {
  const o: Options = { profile: 'default', minScore: 90, seed: 1, runs: 100, parserRuns: 200, memMiB: 1024, smp: 2, swap: 256, format: 'human', depth: 'default', target: 'qemu', hostKey: 'new', scratch: '/mnt/scratch', keep: false, deviceType: 'qemu', run: false, repeat: 1, fix: false, json: false, arch: DEFAULT_ARCH };
  const { command, given, problems } = parseOptions(OPTIONS, argv, o, commands);
  const has = (n: string) => given.has(n);
  // combinations
  if (has('target') && o.target !== 'qemu') {
    const bootOnly = ['kernel', 'modules', 'kernel-src', 'patches', 'mem', 'smp', 'arch', 'mutant'].filter(has);
    if (bootOnly.length) problems.push(`--target ${o.target} runs on ${o.target === 'local' ? "this machine's" : "the board's"} kernel: ${bootOnly.map((n) => `--${n}`).join(', ')} do not apply`);
  }
  const sshOnly = ['identity', 'host-key', ...(command === 'lava' ? [] : ['scratch']), 'keep'].filter(has);
  if (sshOnly.length && o.target !== 'ssh') problems.push(`${sshOnly.map((n) => `--${n}`).join(', ')}: only with --target ssh://USER@HOST[:PORT]`);
  if (command === 'lava') {
    if (o.run && o.deviceType !== 'qemu') problems.push(`--run: lava-run here has only the qemu device type's dictionary; a lab (--device-type ${o.deviceType}) submits job.yaml itself`);
    if (o.modulesUrl && o.deviceType === 'qemu') problems.push('--modules-url: the qemu device type boots with tmpfs, which takes no modules; use a lab device type, or a kernel with its drivers built in');
    if (o.kernelUrl && (has('kernel') || has('kernel-src') || has('patches'))) problems.push('--kernel-url: the lab fetches that kernel, so --kernel, --kernel-src and --patches do not apply');
  }
  if (has('kernel') && (has('kernel-src') || has('patches'))) problems.push('--kernel boots the given Image: --kernel-src and --patches do not apply');
  if (has('modules') && !has('kernel')) {
    problems.push('--modules goes with --kernel: the kernels the harness builds have their drivers built in');
    delete o.modules;
  }
  if (problems.length) throw new UsageError(problems);
  return { command, help: given.has('help'), options: o };
}
