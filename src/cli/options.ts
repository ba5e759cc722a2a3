// The command line: which options each command takes, each checked before
// any work starts. Every mistake is reported, one line each.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { kernelImageProblem } from '../build/kernel-image.js';
import { kernelTreeProblem, seriesProblem, type Profile } from '../build/kernel.js';
import { listMutants } from '../mutation/handwritten.js';
import { modulesProblem } from '../build/modules.js';
import { stageProblem } from '../agent/stage.js';
import { hostKeyPolicies, parseSshUrl, type HostKeyPolicy, type SshAddress } from '../target/ssh.js';
import { formats, type Format } from '../pipeline.js';
import { suite } from '../scenarios/index.js';
import { selectScenarios } from '../suite/runner.js';
import type { Depth } from '../suite/types.js';
import { parseExpect, type Patched } from '../protocol/kconfig.js';
import { arches, type Arch } from '../build/arch.js';

export const commands = ['run', 'lava', 'mutants', 'mutate', 'fuzz', 'shell', 'demo', 'doctor', 'kernel', 'cross-build'] as const;
export type Command = (typeof commands)[number];

/** A mistake on the command line: exit status 2. */
export class UsageError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

const GUEST: Command[] = ['run', 'mutants', 'mutate', 'fuzz', 'shell'];
const SPECS = {
  kernel: { type: 'string', commands: ['run', 'fuzz', 'shell', 'lava'] },
  modules: { type: 'string', commands: ['run', 'fuzz', 'shell'] },
  'kernel-src': { type: 'string', commands: [...GUEST, 'kernel', 'lava'] },
  patches: { type: 'string', commands: ['run', 'mutants', 'fuzz', 'shell', 'kernel', 'lava'] },
  'device-type': { type: 'string', commands: ['lava'] },
  'kernel-url': { type: 'string', commands: ['lava'] },
  'modules-url': { type: 'string', commands: ['lava'] },
  'ramdisk-url': { type: 'string', commands: ['lava'] },
  run: { type: 'boolean', commands: ['lava'] },
  series: { type: 'string', commands: ['mutate'] },
  sample: { type: 'string', commands: ['mutate'] },
  'min-score': { type: 'string', commands: ['mutate'] },
  profile: { type: 'string', commands: ['kernel'] },
  filter: { type: 'string', commands: ['run', 'mutants', 'lava'] },
  depth: { type: 'string', commands: ['run', 'mutants', 'lava'] },
  expect: { type: 'string', commands: ['run', 'lava'] },
  target: { type: 'string', commands: ['run'] },
  identity: { type: 'string', commands: ['run'] },
  'host-key': { type: 'string', commands: ['run'] },
  scratch: { type: 'string', commands: ['run', 'lava'] },
  keep: { type: 'boolean', commands: ['run'] },
  only: { type: 'string', commands: ['mutants', 'mutate'] },
  seed: { type: 'string', commands: ['fuzz', 'mutate'] },
  runs: { type: 'string', commands: ['fuzz'] },
  'parser-runs': { type: 'string', commands: ['fuzz'] },
  mutant: { type: 'string', commands: ['fuzz'] },
  mem: { type: 'string', commands: [...GUEST, 'lava'] },
  smp: { type: 'string', commands: [...GUEST, 'lava'] },
  swap: { type: 'string', commands: [...GUEST, 'lava'] },
  timeout: { type: 'string', commands: GUEST },
  format: { type: 'string', commands: ['run'] },
  repeat: { type: 'string', commands: ['run'] },
  output: { type: 'string', commands: ['run', 'mutants', 'mutate', 'fuzz', 'lava'] },
  fix: { type: 'boolean', commands: ['doctor'] },
  json: { type: 'boolean', commands: ['doctor', 'kernel', 'cross-build'] },
  arch: { type: 'string', commands: [...GUEST, 'kernel', 'cross-build'] },
  help: { type: 'boolean', commands: [...commands], short: 'h' },
} as const satisfies Record<string, { type: 'string' | 'boolean'; commands: readonly Command[]; short?: string }>;
type Name = keyof typeof SPECS;

/** Guest memory with the 93 MiB initramfs: the agent does not start at 288 MiB, starts at 320, and the suite passes at 384 (measured). */
export const MEM_MIN_MIB = 384;
/** QEMU's virt machine with its default GICv2 has at most 8 CPUs. */
export const SMP_MAX = 8;
const SWAP_MAX_MIB = 65536;
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

/** "256", "256M", "1G" -> MiB; undefined when it is not a size. */
export function parseMiB(s: string): number | undefined {
  const m = /^(\d+)([MG]?)$/i.exec(s);
  return m ? Number(m[1]) * (m[2]?.toUpperCase() === 'G' ? 1024 : 1) : undefined;
}

function wholeNumber(raw: string, what: string, min: number, max: number, why = ''): [number, string?] {
  const n = /^-?\d+$/.test(raw) ? Number(raw) : NaN;
  if (Number.isSafeInteger(n) && n >= min && n <= max) return [n];
  return [NaN, `${what} ${raw}: want a whole number from ${min} to ${max}${why}`];
}

function regexProblem(raw: string): string | undefined {
  try {
    new RegExp(raw);
    return undefined;
  } catch (e) {
    return `not a regular expression (${(e as Error).message.replace(/^Invalid regular expression: /, '')})`;
  }
}

/** path must be a directory, or not exist yet under a directory. */
function outputProblem(path: string): string | undefined {
  const abs = resolve(path);
  if (existsSync(abs)) return statSync(abs).isDirectory() ? undefined : 'exists and is not a directory';
  let up = dirname(abs);
  while (!existsSync(up)) up = dirname(up);
  return statSync(up).isDirectory() ? undefined : `${up} is not a directory`;
}

/** Parses and checks argv; throws UsageError listing every mistake. */
export function parseCommandLine(argv: string[]): Parsed {
  // A string option followed by another option (or nothing) has no value: say so, rather than take the next option as it.
  const spec = (name: string) => (Object.hasOwn(SPECS, name) ? SPECS[name as Name] : undefined);
  const args = argv.map((a, k) => (/^--[\w-]+$/.test(a) && spec(a.slice(2))?.type === 'string' && (argv[k + 1] === undefined || argv[k + 1]!.startsWith('--')) ? `${a}=` : a));
  const { values, positionals, tokens } = parseArgs({
    args,
    allowPositionals: true,
    strict: false,
    tokens: true,
    options: SPECS as unknown as Record<string, { type: 'string' | 'boolean'; short?: string }>,
  });
  const problems: string[] = [];
  const [first, ...extra] = positionals;
  const command = commands.find((c) => c === first);
  if (first !== undefined && !command) problems.push(`unknown command '${first}' (commands: ${commands.join(', ')})`);
  for (const x of extra) problems.push(`unexpected argument '${x}'`);
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const o = spec(t.name);
    if (!o) problems.push(`unknown option ${t.rawName}`);
    else if (o.type === 'string' && !t.value) problems.push(`${t.rawName} needs a value`);
    else if (o.type === 'boolean' && t.value !== undefined) problems.push(`${t.rawName} takes no value`);
    else if (command && !(o.commands as readonly string[]).includes(command)) problems.push(`${t.rawName} does not apply to '${command}' (it is for: ${o.commands.join(', ')})`);
  }
  const str = (n: Name): string | undefined => {
    const v = values[n];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const check = (n: Name, p: string | undefined) => p && problems.push(`--${n} ${str(n)}: ${p}`);
  /** --name N, a whole number in [min, max]: set(N), or one problem. */
  const whole = (n: Name, min: number, max: number, set: (x: number) => void, why = '') => {
    const raw = str(n);
    if (raw === undefined) return;
    const [x, p] = wholeNumber(raw, `--${n}`, min, max, why);
    if (p) problems.push(p);
    else set(x);
  };

  const hostMiB = Math.floor(totalmem() / 1048576);
  const o: Options = { profile: 'default', minScore: 90, seed: 1, runs: 100, parserRuns: 200, memMiB: 1024, smp: 2, swap: 256, format: 'human', depth: 'default', target: 'qemu', hostKey: 'new', scratch: '/mnt/scratch', keep: values.keep === true, deviceType: 'qemu', run: values.run === true, repeat: 1, fix: values.fix === true, json: values.json === true, arch: 'arm64' };
  let v: string | undefined;
  if ((v = str('mem')) !== undefined) {
    const mib = parseMiB(v);
    if (mib === undefined) problems.push(`--mem ${v}: want a size in MiB, e.g. 1024, 1024M or 1G`);
    else if (mib < MEM_MIN_MIB) problems.push(`--mem ${v}: too small: the guest needs at least ${MEM_MIN_MIB} MiB (Node.js and the unpacked initramfs)`);
    else if (mib > hostMiB) problems.push(`--mem ${v}: more than this host's ${hostMiB} MiB`);
    else o.memMiB = mib;
  }
  whole('smp', 1, SMP_MAX, (x) => (o.smp = x), " (QEMU's virt machine with GICv2)");
  if ((v = str('swap')) !== undefined) {
    const mib = v === 'none' ? 'none' : parseMiB(v);
    if (mib === undefined) problems.push(`--swap ${v}: want a zram size such as 256M or 1G, or none`);
    else if (mib !== 'none' && (mib < 1 || mib > SWAP_MAX_MIB)) problems.push(`--swap ${v}: want from 1M to ${SWAP_MAX_MIB / 1024}G, or none`);
    else o.swap = mib;
  }
  if ((v = str('timeout')) !== undefined) {
    const n = /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
    if (!(n >= 1 && n <= TIMEOUT_MAX_S)) problems.push(`--timeout ${v}: want seconds per step, from 1 to ${TIMEOUT_MAX_S}`);
    else o.timeoutS = n;
  }
  if ((v = str('format')) !== undefined) {
    if ((formats as readonly string[]).includes(v)) o.format = v as Format;
    else problems.push(`--format ${v}: want one of ${formats.join(', ')}`);
  }
  whole('repeat', 1, 1000, (x) => (o.repeat = x));
  if ((v = str('profile')) !== undefined) {
    if (v === 'default' || v === 'debug') o.profile = v;
    else problems.push(`--profile ${v}: want default or debug`);
  }
  if ((v = str('arch')) !== undefined) {
    if (command === 'cross-build' && v !== 'arm64') problems.push(`--arch ${v}: the only cross-build architecture is arm64 (npm install builds the host's)`);
    else if ((arches as readonly string[]).includes(v)) o.arch = v as Arch;
    else problems.push(`--arch ${v}: want ${arches.join(' or ')}`);
  }
  whole('seed', -(2 ** 31), 2 ** 31 - 1, (x) => (o.seed = x));
  whole('runs', 1, 1_000_000, (x) => (o.runs = x));
  whole('parser-runs', 0, 1_000_000, (x) => (o.parserRuns = x));
  if ((v = str('target')) !== undefined) {
    const bootOnly = (['kernel', 'modules', 'kernel-src', 'patches', 'mem', 'smp', 'arch'] as const).filter((n) => str(n) !== undefined);
    const notHere = (what: string) => bootOnly.length && problems.push(`--target ${what} runs on ${what === 'local' ? "this machine's" : "the board's"} kernel: ${bootOnly.map((n) => `--${n}`).join(', ')} do not apply`);
    if (v === 'local') {
      notHere('local');
      const p = stageProblem();
      if (p) problems.push(`--target local: ${p}`);
      o.target = v;
    } else if (v.startsWith('ssh://')) {
      const a = parseSshUrl(v);
      if (typeof a === 'string') problems.push(`--target ${v}: ${a}`);
      else {
        notHere('ssh');
        o.target = 'ssh';
        o.ssh = a;
      }
    } else if (v !== 'qemu') problems.push(`--target ${v}: want qemu, local or ssh://USER@HOST[:PORT]`);
  }
  const sshOnly = (['identity', 'host-key', ...(command === 'lava' ? [] : ['scratch' as const]), 'keep'] as const).filter((n) => values[n] !== undefined);
  if (sshOnly.length && o.target !== 'ssh') problems.push(`${sshOnly.map((n) => `--${n}`).join(', ')}: only with --target ssh://USER@HOST[:PORT]`);
  if ((v = str('identity')) !== undefined) {
    if (!existsSync(v) || !statSync(v).isFile()) check('identity', 'no such file (a private key for ssh -i)');
    else o.identity = resolve(v);
  }
  if ((v = str('host-key')) !== undefined) {
    if ((hostKeyPolicies as readonly string[]).includes(v)) o.hostKey = v as HostKeyPolicy;
    else check('host-key', `want ${hostKeyPolicies.join(', ')} (any: a board reflashed between runs)`);
  }
  if ((v = str('scratch')) !== undefined) {
    if (!v.startsWith('/')) check('scratch', 'want an absolute path on the board');
    else o.scratch = v;
  }
  if ((v = str('device-type')) !== undefined) {
    if (/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(v)) o.deviceType = v;
    else check('device-type', 'want a LAVA device type name (letters, digits, _ . -)');
  }
  for (const [n, set] of [['kernel-url', (u: string) => (o.kernelUrl = u)], ['modules-url', (u: string) => (o.modulesUrl = u)], ['ramdisk-url', (u: string) => (o.ramdiskUrl = u)]] as const) {
    if ((v = str(n)) === undefined) continue;
    if (/^(https?|ftp|file):\/\/\S+$/.test(v)) set(v);
    else check(n, 'want an http(s)://, ftp:// or file:// URL the dispatcher can fetch');
  }
  if (command === 'lava') {
    if (o.run && o.deviceType !== 'qemu') problems.push(`--run: lava-run here has only the qemu device type's dictionary; a lab (--device-type ${o.deviceType}) submits job.yaml itself`);
    if (o.modulesUrl && o.deviceType === 'qemu') problems.push('--modules-url: the qemu device type boots with tmpfs, which takes no modules; use a lab device type, or a kernel with its drivers built in');
    if (o.kernelUrl && (str('kernel') ?? str('kernel-src') ?? str('patches'))) problems.push('--kernel-url: the lab fetches that kernel, so --kernel, --kernel-src and --patches do not apply');
  }
  if ((v = str('depth')) !== undefined) {
    if (v === 'default' || v === 'full') o.depth = v;
    else problems.push(`--depth ${v}: want default or full`);
  }
  if ((v = str('expect')) !== undefined) {
    try {
      o.expect = [...parseExpect(v).keys()] as Patched[];
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  if ((v = str('filter')) !== undefined) {
    const p = regexProblem(v);
    const deeper = () => selectScenarios(suite, v, 'full').length;
    if (p) check('filter', p);
    else if (command === 'run' && !selectScenarios(suite, v, o.depth).length) check('filter', `matches none of the ${selectScenarios(suite, undefined, o.depth).length} scenarios${o.depth === 'default' && deeper() ? ` at --depth default (${deeper()} at --depth full)` : ''}`);
    else o.filter = v;
  }
  if ((v = str('only')) !== undefined) {
    const p = regexProblem(v);
    if (p) check('only', p);
    else if (command === 'mutants' && !listMutants(undefined, v).length) check('only', 'matches no mutant in qemu/mutants/');
    else o.only = v;
  }
  if ((v = str('kernel')) !== undefined) {
    const p = v.endsWith('.deb') ? modulesProblem(v) : kernelImageProblem(v, o.arch);
    if (p) check('kernel', p);
    else o.kernel = v;
    if (str('kernel-src') !== undefined || str('patches') !== undefined) problems.push('--kernel boots the given Image: --kernel-src and --patches do not apply');
  }
  if ((v = str('modules')) !== undefined) {
    const p = modulesProblem(v);
    if (p) check('modules', p);
    else if (str('kernel') === undefined) problems.push('--modules goes with --kernel: the kernels the harness builds have their drivers built in');
    else o.modules = v;
  }
  if ((v = str('kernel-src')) !== undefined) {
    const p = kernelTreeProblem(v);
    if (p) check('kernel-src', p);
    else o.kernelSrc = v;
  }
  if ((v = str('patches')) !== undefined) {
    const p = seriesProblem(v);
    if (p) problems.push(`--patches: ${p}`);
    else o.patches = v;
  }
  if ((v = str('series')) !== undefined) {
    const p = v === 'none' ? 'none has no lines to mutate' : seriesProblem(v);
    if (p) problems.push(`--series: ${p}`);
    else o.series = v;
  }
  whole('sample', 1, 100_000, (x) => (o.sample = x));
  whole('min-score', 0, 100, (x) => (o.minScore = x), ' (percent)');
  if ((v = str('mutant')) !== undefined) {
    if (!existsSync(v) || !statSync(v).isFile()) check('mutant', 'no such file');
    else if (!/^diff --git /m.test(readFileSync(v, 'utf8'))) check('mutant', 'not a patch (no "diff --git" line)');
    else o.mutant = v;
  }
  if ((v = str('output')) !== undefined) {
    const p = outputProblem(v);
    if (p) check('output', p);
    else o.output = v;
  }
  if (problems.length) throw new UsageError(problems);
  return { command, help: values.help === true, options: o };
}
