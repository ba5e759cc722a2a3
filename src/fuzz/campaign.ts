// `reclaim-harness fuzz`: random operation sequences run in lockstep by the
// guest and the model; the first mismatch is shrunk and written out as a
// sequence (JSON) and a standalone C reproducer. A parser phase first writes
// random bytes to /proc/PID/reclaim and /dev/shrinkmem and compares the errno
// with the model's parsers; any Oops or WARN on the console ends the run.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { runningKernel, startTarget, targetArch } from '../target/select.js';
import type { Channel } from '../protocol/channel.js';
import { progress } from '../log.js';
import { prepare, type RunOptions } from '../pipeline.js';
import { ARCH, DEFAULT_ARCH, type Arch } from '../builds/arch.js';
import { parseReclaim, parseShrinkmem } from '../model/parse.js';
import type { Step } from '../model/state.js';
import { Ctx, type Features } from '../suite/ctx.js';
import { attempts, prepareGuest } from '../suite/runner.js';
import { runTrace } from '../suite/trace.js';
import { Mismatch } from '../suite/failures.js';
import { type Finding } from '../model/compare.js';
import { realize, sequence, type Raw } from './gen.js';
import { reproducer } from './repro.js';

export interface FuzzOptions extends Pick<RunOptions, 'kernel' | 'modules' | 'kernelSrc' | 'patches' | 'extraPatches' | 'arch' | 'memMiB' | 'smp' | 'swap' | 'timeoutMs' | 'output' | 'target' | 'ssh'> {
  seed: number;
  runs: number;
  /** random inputs for each parser (0: skip the parser phase) */
  parserRuns: number;
  /** property runs allowed for shrinking once a failure is found */
  shrinkBudget?: number;
}

export interface FuzzFailure {
  kind: 'mismatch' | 'guest';
  run: number;
  raw: Raw[];
  steps: Step[];
  findings: Finding[];
  message: string;
}

export interface FuzzReport {
  seed: number;
  runs: number;
  /** the reproducer's exit status on this kernel (1: the bug shows) */
  reproducer?: { path: string; binary: string; status: number | null; stdout: string };
  parser: { reclaim: number; shrinkmem: number; skipped: number; mismatches: string[] };
  failure?: FuzzFailure;
  seconds: number;
}

const show = (b: Uint8Array) => JSON.stringify(Buffer.from(b).toString('latin1'));

/** Random bytes to both parsers; returns the mismatches (input, kernel, model). */
async function parserPhase(guest: Channel, ctx: Ctx, seed: number, n: number): Promise<FuzzReport['parser']> {
  const out: FuzzReport['parser'] = { reclaim: 0, shrinkmem: 0, skipped: 0, mismatches: [] };
  const f = ctx.features.interfaces;
  if (!n || (!f.procReclaim && !f.shrinkmem)) return out;
  const target = await ctx.spawn();
  // Bytes biased towards what the parsers look at: digits, x, suffixes, spaces, keywords.
  const byte = fc.oneof(fc.constantFrom(...Buffer.from('0123456789xXkKmMgGeE \t\n-+fileanonall')), fc.integer({ min: 0, max: 255 }));
  const inputs = fc.sample(fc.array(byte, { maxLength: 40 }).map((a) => Uint8Array.from(a)), { seed, numRuns: n });
  const write = async (path: string, data: Uint8Array) => ctx.attempt(async () => (await guest.request('write', { path, base64: Buffer.from(data).toString('base64') })).ret);
  for (const data of inputs) {
    if (f.procReclaim) {
      const want = parseReclaim(data, ctx.page);
      const got = await write(`/proc/${target.pid}/reclaim`, data);
      out.reclaim++;
      const g = got.ok ? `returns ${got.value}` : got.code;
      const w = want.ok ? `returns ${want.ret}` : want.errno;
      if (g !== w) out.mismatches.push(`/proc/PID/reclaim ${show(data)}: kernel ${g}, model ${w}`);
    }
    if (f.shrinkmem) {
      const want = parseShrinkmem(data);
      // A large valid size would reclaim the whole guest: only small ones run.
      if (want.ok && want.action.mb > 4n) {
        out.skipped++;
        continue;
      }
      const got = await write('/dev/shrinkmem', data);
      out.shrinkmem++;
      const g = got.ok ? `returns ${got.value}` : got.code;
      const w = want.ok ? `returns ${want.ret}` : want.errno;
      if (g !== w) out.mismatches.push(`/dev/shrinkmem ${show(data)}: kernel ${g}, model ${w}`);
    }
    if (!guest.alive) break;
  }
  await ctx.finish();
  return out;
}

/** The compiler for a static reproducer that runs in the arch's guest. */
export const reproCompiler = (arch: Arch = DEFAULT_ARCH) => `${ARCH[arch].cross}gcc`;

/** repro.c -> a static binary for the guest, next to it. */
export async function compileReproducer(c: string, arch: Arch = DEFAULT_ARCH): Promise<string> {
  const out = c.replace(/\.c$/, '');
  await execa(reproCompiler(arch), ['-static', '-O2', '-Wall', '-o', out, c]);
  return out;
}

/** Copies a reproducer into the guest and runs it as root: its exit status and output. */
export async function runReproducer(guest: Channel, binary: string): Promise<{ status: number | null; stdout: string }> {
  await guest.request('put', { path: '/tmp/repro', base64: readFileSync(binary).toString('base64'), mode: 0o755 });
  const r = await guest.request('exec', { argv: ['/tmp/repro'], timeoutMs: 60_000 }, 90_000);
  return { status: r.status, stdout: r.stdout + r.stderr };
}

export async function fuzz(o: FuzzOptions): Promise<number> {
  const t0 = Date.now();
  const outDir = resolve(o.output);
  mkdirSync(outDir, { recursive: true });
  const running = runningKernel(o);
  const built = running ? undefined : await prepare(o);
  progress('fuzz', running ? `on ${running}` : `booting; console: ${join(outDir, 'console.log')}`);
  const guest = await startTarget({ ...o, kernel: built?.kernel.image, initrd: built?.image.initrd, outDir });
  const features: Features = guest.features;
  const report: FuzzReport = { seed: o.seed, runs: 0, parser: { reclaim: 0, shrinkmem: 0, skipped: 0, mismatches: [] }, seconds: 0 };
  try {
    await prepareGuest(guest, features);
    const swapOn = features.swap.totalKb > 0;

    progress('fuzz', `parsers: ${o.parserRuns} random inputs each (seed ${o.seed})`);
    report.parser = await parserPhase(guest, new Ctx(guest, features, swapOn), o.seed, o.parserRuns);
    for (const m of report.parser.mismatches.slice(0, 10)) progress('fuzz', `parser mismatch: ${m}`);

    let last: FuzzFailure | undefined;
    let failures = 0;
    const budget = o.shrinkBudget ?? 150;
    const property = fc.asyncProperty(sequence, async (raw) => {
      // Past the shrink budget, or with the guest gone, every run passes: fast-check stops there.
      if (!guest.alive || failures > budget) return true;
      const run = ++report.runs;
      if (run % 25 === 0 && !last) progress('fuzz', `${run}/${o.runs} sequences, no mismatch`);
      const steps = realize(raw, { hugetlb: features.hugepages.total > 0, mthp: features.mthp?.includes(64) ? 64 : undefined });
      const { error: e } = await attempts(guest, () => new Ctx(guest, features, swapOn), async (ctx) => void (await runTrace(ctx, steps)));
      if (e === undefined) return true;
      failures++;
      const guestLost = !guest.alive;
      last = { kind: guestLost || !(e instanceof Mismatch) ? 'guest' : 'mismatch', run, raw: [...raw], steps, findings: e instanceof Mismatch ? e.findings : [], message: (e as Error).message };
      if (failures === 1) progress('fuzz', `run ${run}: ${last.message.split('\n')[0]}; shrinking`);
      return guestLost; // a lost guest cannot be shrunk against: report the sequence as it is
    });
    await fc.check(property, { seed: o.seed, numRuns: o.runs, endOnFailure: false });
    if (last) {
      report.failure = last;
      writeFileSync(join(outDir, 'sequence.json'), JSON.stringify({ seed: o.seed, run: last.run, steps: last.steps, findings: last.findings, message: last.message }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
      const c = join(outDir, 'repro.c');
      writeFileSync(c, reproducer(last.steps, last.findings, { pageSize: features.pageSize, title: last.message.split('\n')[0]! }));
      const binary = await compileReproducer(c, targetArch(o));
      if (guest.alive) {
        const r = await runReproducer(guest, binary).catch((e: Error) => ({ status: null, stdout: `did not finish: ${e.message}` }));
        report.reproducer = { path: c, binary, ...r };
      }
    }
  } finally {
    report.seconds = (Date.now() - t0) / 1000;
    writeFileSync(join(outDir, 'fuzz.json'), JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
    await guest.stop().catch(() => undefined);
  }
  const p = report.parser;
  console.log(`parsers: ${p.reclaim} reclaim and ${p.shrinkmem} shrinkmem inputs (${p.skipped} large sizes skipped), ${p.mismatches.length} mismatch(es)`);
  if (report.failure) {
    const f = report.failure;
    console.log(`sequences: ${report.runs} run; ${f.kind === 'mismatch' ? 'mismatch' : 'guest lost'} found, shrunk to ${f.steps.length} steps:`);
    f.steps.forEach((s, i) => console.log(`  ${i + 1}. ${JSON.stringify(s, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`));
    for (const x of f.findings.slice(0, 5)) console.log(`  ${x.step}: ${x.explain}\n    expected ${x.expected}; observed ${x.observed} [${x.rule}]`);
    console.log(`sequence: ${join(outDir, 'sequence.json')}\nreproducer: ${join(outDir, 'repro.c')} (${reproCompiler(targetArch(o))} -static -o repro repro.c)`);
    const r = report.reproducer;
    if (r) console.log(`reproducer on this kernel: exit ${r.status} (${r.status === 1 ? 'the bug shows' : 'NOT reproduced'}): ${r.stdout.trim().split('\n')[0]}`);
  } else console.log(`sequences: ${report.runs} run (seed ${o.seed}), no mismatch`);
  console.log(`${report.seconds.toFixed(0)} s`);
  return report.failure || p.mismatches.length ? 1 : 0;
}
