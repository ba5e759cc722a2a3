// The command line refuses every mistake before any work starts: one line
// per mistake, exit status 2 (issue 10's table, and the rest of the options).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { cli, scratchDir } from '../helpers/cli.js';
import { kernelImageProblem } from '../../src/builds/kernel-image.js';
import { commands, MEM_MIN_MIB, OPTIONS, parseCommandLine, usage, UsageError } from '../../src/cli/options.js';
import { parseOptions, suiteEntries, type SuiteOptions } from '../../src/suite/options.js';
import { suite } from '../../src/scenarios/index.js';

/** Refused at once with exit 2: no tool installed, nothing built or booted. */
async function refused(args: string[], message: RegExp): Promise<void> {
  const r = await cli(args);
  assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  assert.match(r.stderr, message, args.join(' '));
  assert.doesNotMatch(r.stderr, /\] (setup|kernel|image|run):/, `${args.join(' ')} started work:\n${r.stderr}`);
  assert.ok(r.ms < 10_000, `${args.join(' ')} took ${r.ms} ms`);
}

function tmpFile(t: { after(fn: () => void): void }, name: string, data: Buffer | string): string {
  const path = join(scratchDir(t, 'reclaim-opt-'), name);
  writeFileSync(path, data);
  return path;
}

/** A minimal arm64 Image header (Documentation/arch/arm64/booting.rst): magic at 0x38, flags at 0x30. */
function arm64Header(flags = 0b1010n): Buffer {
  const b = Buffer.alloc(4096);
  b.writeUInt32LE(0x14000000, 0); // b stext
  b.writeBigUInt64LE(flags, 0x30);
  b.writeUInt32LE(0x644d5241, 0x38);
  return b;
}

test('issue 10 rows: each mistake gets the message that says why, before any work', async () => {
  await refused(['run', '--mem', '10'], new RegExp(`--mem 10: too small: the guest needs at least ${MEM_MIN_MIB} MiB`));
  await refused(['run', '--kernel', '/etc/passwd'], /--kernel \/etc\/passwd: not an arm64 kernel Image/);
  await refused(['run', '--smp', '0'], /--smp 0: want a whole number from 1 to 8/);
  await refused(['fuzz', '--runs', 'abc'], /--runs abc: want a whole number from 1 to/);
  await refused(['run', '--patches', '/nonexistent'], /--patches: no patch series at \/nonexistent/);
});

test('every mistake on one command line is named, one line each', async () => {
  const r = await cli(['run', '--mem', '1x', '--smp', '99', '--swap', '0', '--timeout', '-1', '--format', 'xml', '--seed', '3', '--bogus', 'extra']);
  assert.equal(r.code, 2);
  const lines = r.stderr.trim().split('\n');
  for (const re of [/unexpected argument 'extra'/, /unknown option --bogus/, /--seed does not apply to 'run' \(it is for: fuzz, mutate\)/, /--mem 1x: want a size in MiB/, /--smp 99:/, /--swap 0: want from 1M/, /--timeout -1: want seconds per step/, /--format xml: want one of human, json, ktap, junit/]) {
    assert.equal(lines.filter((l) => re.test(l)).length, 1, `${re}\n${r.stderr}`);
  }
  assert.equal(lines.at(-1), "see 'reclaim-harness --help'");
});

/** The problems parseCommandLine finds in argv (none: []). */
const problems = (...argv: string[]): string[] => {
  try {
    parseCommandLine(argv);
    return [];
  } catch (e) {
    assert.ok(e instanceof UsageError, String(e));
    return e.problems;
  }
};

test('option checks: ranges at both ends, values, paths and combinations', (t) => {
  assert.deepEqual(problems('run', '--mem', String(MEM_MIN_MIB), '--smp', '1', '--swap', 'none', '--timeout', '1'), []);
  assert.deepEqual(problems('run', '--mem', '1G', '--smp', '8', '--swap', '64G', '--timeout', '3600'), []);
  assert.equal(problems('run', '--mem', String(MEM_MIN_MIB - 1)).length, 1);
  assert.match(problems('run', '--mem', '100000G')[0]!, /more than this host's \d+ MiB/);
  assert.equal(problems('run', '--smp', '9').length, 1);
  assert.equal(problems('run', '--swap', '65G').length, 1);
  assert.equal(problems('run', '--timeout', '3601').length, 1);
  assert.equal(problems('fuzz', '--runs', '0').length, 1);
  assert.deepEqual([problems('run', '--repeat', '1'), problems('run', '--repeat', '1000')], [[], []]);
  assert.match(problems('run', '--repeat', '0')[0]!, /--repeat 0: want a whole number from 1 to 1000/);
  assert.match(problems('fuzz', '--repeat', '2')[0]!, /--repeat does not apply to 'fuzz'/);
  assert.deepEqual(problems('fuzz', '--parser-runs', '0', '--seed', '-5'), []);
  assert.match(problems('fuzz', '--seed', '1.5')[0]!, /--seed 1.5: want a whole number/);
  assert.match(problems('run', '--filter', '(')[0]!, /--filter \(: not a regular expression/);
  assert.match(problems('run', '--filter', '^no-such-scenario$')[0]!, /matches none of the \d+ scenarios/);
  assert.match(problems('run', '--filter', '^shrinkmem\\.cap$')[0]!, /matches none of the \d+ scenarios at --depth default \(1 at --depth full\)/);
  assert.deepEqual(problems('run', '--filter', '^shrinkmem\\.cap$', '--depth', 'full'), []);
  assert.match(problems('run', '--depth', 'deep')[0]!, /--depth deep: want default or full/);
  assert.match(problems('run', '--modules', '/nonexistent')[0]!, /--modules \/nonexistent: no such file or directory/);
  assert.match(problems('run', '--modules', '/etc')[0]!, /--modules goes with --kernel|no lib\/modules\/RELEASE/);
  assert.match(problems('run', '--kernel', '/etc/hostname.deb')[0]!, /--kernel \/etc\/hostname\.deb: no such file/);
  assert.match(problems('mutants', '--modules', '/etc')[0]!, /--modules does not apply to 'mutants'/);
  assert.match(problems('fuzz', '--depth', 'full')[0]!, /--depth does not apply to 'fuzz'/);
  assert.match(problems('mutants', '--only', '^zzz')[0]!, /--only \^zzz: matches no mutant/);
  assert.match(problems('mutants', '--kernel', '/etc/passwd')[0]!, /--kernel does not apply to 'mutants'/);
  assert.deepEqual(problems('mutate', '--sample', '1', '--seed', '-3', '--min-score', '0', '--only', 'madvise', '--series', 'qemu/patches/linux-6.12'), []);
  assert.match(problems('mutate', '--sample', '0')[0]!, /--sample 0: want a whole number from 1 to/);
  assert.match(problems('mutate', '--min-score', '101')[0]!, /--min-score 101: want a whole number from 0 to 100 \(percent\)/);
  assert.match(problems('mutate', '--series', 'none')[0]!, /--series: none has no lines to mutate/);
  assert.match(problems('mutate', '--series', '/etc')[0]!, /--series: no \*\.patch files in \/etc/);
  assert.match(problems('mutate', '--patches', 'none')[0]!, /--patches does not apply to 'mutate'/);
  assert.match(problems('run', '--sample', '3')[0]!, /--sample does not apply to 'run' \(it is for: mutate\)/);
  assert.equal(parseCommandLine(['mutate']).options.minScore, 90);
  assert.match(problems('run', '--mem')[0]!, /--mem needs a value/);
  assert.deepEqual(problems('run', '--mem', '--smp', '2'), ['--mem needs a value']);
  assert.match(problems('doctor', '--fix=yes')[0]!, /--fix takes no value/);
  assert.match(problems('frobnicate')[0]!, /unknown command 'frobnicate'/);
  assert.deepEqual(problems('run', '--toString', '--constructor'), ['unknown option --toString', 'unknown option --constructor']);
  assert.match(problems('kernel', '--profile', 'fast')[0]!, /--profile fast: want default or debug/);
  assert.match(problems('cross-build', '--arch', 'riscv64')[0]!, /only cross-build architecture is arm64/);
  assert.match(problems('cross-build', '--arch', 'x86_64')[0]!, /only cross-build architecture is arm64 \(npm install builds the host's\)/);
  assert.match(problems('run', '--arch', 'riscv64')[0]!, /--arch riscv64: want arm64 or x86_64/);
  assert.equal(parseCommandLine(['mutate', '--arch', 'x86_64']).options.arch, 'x86_64');
  assert.equal(parseCommandLine(['run']).options.arch, 'arm64');
  assert.ok(problems('run', '--target', 'local', '--arch', 'x86_64').some((p) => /^--target local runs on this machine's kernel: --arch do not apply$/.test(p)), 'as root or not (then also: it must run as root)');
  assert.match(problems('lava', '--arch', 'x86_64')[0]!, /--arch does not apply to 'lava'/);
  assert.match(problems('run', '--kernel-src', '/nonexistent')[0]!, /--kernel-src \/nonexistent: no such directory/);
  assert.match(problems('run', '--kernel-src', '/etc')[0]!, /not a kernel source tree/);
  assert.match(problems('run', '--patches', '/etc/passwd')[0]!, /is a file; --patches takes a directory/);
  assert.match(problems('run', '--patches', '/etc')[0]!, /no \*\.patch files in \/etc/);
  assert.match(problems('fuzz', '--mutant', '/etc/passwd')[0]!, /not a patch/);
  assert.match(problems('run', '--output', '/etc/passwd')[0]!, /exists and is not a directory/);
  const image = tmpFile(t, 'Image', arm64Header());
  assert.deepEqual(problems('run', '--kernel', image, '--format', 'ktap'), []);
  assert.match(problems('run', '--kernel', image, '--patches', 'none')[0]!, /--kernel boots the given Image: --kernel-src and --patches do not apply/);
  const parsed = parseCommandLine(['fuzz', '--runs', '7', '--mem', '2G', '--swap', '512M']).options;
  assert.deepEqual([parsed.runs, parsed.memMiB, parsed.swap, parsed.smp, parsed.timeoutS], [7, 2048, 512, 2, undefined]);
});

test('kernelImageProblem with --arch x86_64 wants a bzImage', (t) => {
  const bz = Buffer.alloc(0x400);
  bz.write('HdrS', 0x202, 'latin1');
  assert.equal(kernelImageProblem(tmpFile(t, 'bzImage', bz), 'x86_64'), undefined);
  assert.match(kernelImageProblem(tmpFile(t, 'Image', arm64Header()), 'x86_64')!, /not an x86 bzImage[^]*an arm64 Image \(drop --arch x86_64\)/);
  assert.match(kernelImageProblem(process.execPath, 'x86_64')!, /an ELF file \(vmlinux\?\); QEMU boots arch\/x86\/boot\/bzImage/);
  assert.match(kernelImageProblem(tmpFile(t, 'bzImage', bz))!, /an x86 bzImage \(run with --arch x86_64\)/);
  const image = tmpFile(t, 'Image', arm64Header());
  assert.match(problems('run', '--arch', 'x86_64', '--kernel', image)[0]!, /--kernel .*: not an x86 bzImage/);
});

test('kernelImageProblem tells an arm64 Image (plain or gzip) from what it is not', (t) => {
  assert.equal(kernelImageProblem(tmpFile(t, 'Image', arm64Header())), undefined);
  assert.equal(kernelImageProblem(tmpFile(t, 'vmlinuz', gzipSync(Buffer.concat([arm64Header(), Buffer.alloc(1 << 20, 7)])))), undefined);
  assert.match(kernelImageProblem(tmpFile(t, 'be', arm64Header(0b1011n)))!, /big-endian/);
  assert.match(kernelImageProblem(tmpFile(t, 'gz', gzipSync(Buffer.from('hello'))))!, /gzip-compressed, and inside: not an arm64 kernel Image/);
  assert.match(kernelImageProblem(tmpFile(t, 'bad.gz', Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x07, 0, 0])))!, /gzip data that does not decompress/);
  const elf = Buffer.alloc(64);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf[5] = 1; // little-endian
  elf.writeUInt16LE(183, 18); // EM_AARCH64
  assert.match(kernelImageProblem(tmpFile(t, 'vmlinux', elf))!, /an arm64 ELF \(vmlinux\?\); QEMU boots arch\/arm64\/boot\/Image/);
  assert.match(kernelImageProblem(process.execPath)!, /an ELF file for machine \d+/);
  const bz = Buffer.alloc(0x400);
  bz.write('HdrS', 0x202, 'latin1');
  assert.match(kernelImageProblem(tmpFile(t, 'bzImage', bz))!, /an x86 bzImage/);
  const zboot = Buffer.alloc(0x100);
  zboot.write('MZ', 0, 'latin1');
  zboot.write('zimg', 4, 'latin1');
  zboot.write('gzip', 0x18, 'latin1');
  assert.match(kernelImageProblem(tmpFile(t, 'zboot', zboot))!, /EFI zboot image \(CONFIG_EFI_ZBOOT, gzip\)/);
  assert.equal(kernelImageProblem('/nonexistent'), 'no such file');
  assert.equal(kernelImageProblem('/etc'), 'not a regular file');
  assert.match(kernelImageProblem(tmpFile(t, 'empty', ''))!, /no arm64 magic/);
});

test('one option table: the usage text names every option once, and the on-target runner refuses what the host refuses, in the same words', () => {
  const text = usage();
  for (const [name, e] of Object.entries(OPTIONS)) {
    assert.equal(text.split('\n').filter((l) => new RegExp(`^  (-\\w, )?--${name}( |$)`).test(l)).length, 1, `--${name} in the usage text`);
    assert.ok(e.help.length > 0 && e.commands.length > 0, `--${name} has a help line and commands`);
  }
  for (const c of commands) assert.match(text, new RegExp(`^  ${c} `, 'm'));
  // the runner's table is the suite's entries (agent/runner.ts): each bad value gets the host's message
  const runner = suiteEntries<SuiteOptions, string>({ depth: [], filter: [], expect: [], swap: [], scratch: [] }, suite, () => true);
  for (const bad of [['--swap', '0'], ['--depth', 'deep'], ['--expect', 'reclaim'], ['--filter', '('], ['--scratch', 'tmp']]) {
    const host = problems('lava', ...bad);
    const onTarget = parseOptions(runner, bad, { depth: 'default', swap: 256, scratch: '/mnt/scratch' } as SuiteOptions).problems;
    assert.equal(host.length, 1, `${bad.join(' ')}: ${host.join('; ')}`);
    assert.deepEqual(onTarget, host, bad.join(' '));
  }
  const ok: SuiteOptions = { depth: 'default', swap: 256, scratch: '/mnt/scratch' };
  assert.deepEqual(parseOptions(runner, ['--swap', '1G', '--depth', 'full', '--expect', 'shrinkmem'], ok).problems, []);
  assert.deepEqual([ok.swap, ok.depth, ok.expect], [1024, 'full', ['shrinkmem']]);
});
