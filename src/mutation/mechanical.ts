// `reclaim-harness mutate`: mechanical mutants of the C lines a series adds,
// all compiled into one kernel behind a runtime switch (schemata.ts). One
// boot measures which scenarios reach each mutant; each mutant then runs only
// those, until the first one that catches it.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageRoot } from '../native.js';
import { buildKernel, defaultPatches, kernelSource, readSeries, stageSeries, type KernelBuild } from '../builds/kernel.js';
import { cacheDir, hashOf } from '../builds/cache.js';
import { startTarget } from '../target/select.js';
import { killers } from './handwritten.js';
import { progress } from '../log.js';
import { prepare } from '../pipeline.js';
import type { Arch } from '../builds/arch.js';
import { runSuite } from '../suite/runner.js';
import { expectedOf } from '../builds/kernel.js';
import { suite } from '../scenarios/index.js';
import type { Result, Scenario } from '../suite/types.js';
import { mutateFile, operators, type FileMutants, type Mutant, type Operator } from './generate.js';
import { addedLines, HITS, schemataPatch, SWITCH } from './schemata.js';

export const equivalentList = join(packageRoot, 'qemu', 'mutate', 'equivalent.txt');

export interface MutateOptions {
  /** a directory of *.patch files; default: the shipped series */
  series?: string;
  kernelSrc?: string;
  /** this many of the non-equivalent mutants, drawn with seed */
  sample?: number;
  seed: number;
  /** mutants whose `file:line op` or key matches */
  only?: string;
  /** exit 1 below this score (percent) */
  minScore: number;
  /** the guest's architecture; default arm64 */
  arch?: Arch;
  memMiB: number;
  smp: number;
  swap: number | 'none';
  timeoutMs: number;
  output: string;
}

export type Verdict = 'killed' | 'survived' | 'unreached' | 'equivalent' | 'not run';

export interface MutantResult extends Mutant {
  verdict: Verdict;
  /** the scenario that caught it, and why */
  killedBy?: { id: string; why: string };
  /** how many scenarios reach its site */
  reachedBy: number;
  seconds: number;
  reason?: string;
}

/** `key<TAB>reason` lines; # starts a comment. */
export function readEquivalents(path: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(path)) return out;
  for (const [k, line] of readFileSync(path, 'utf8').split('\n').entries()) {
    if (!line.trim() || line.startsWith('#')) continue;
    const [key, reason] = line.split('\t');
    if (!key || !reason?.trim()) throw new Error(`${path}:${k + 1}: want "key<TAB>reason"`);
    out.set(key, reason.trim());
  }
  return out;
}

/** A seeded draw of n items, in their original order (mulberry32). */
export function sampleOf<T>(items: readonly T[], n: number, seed: number): T[] {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const idx = items.map((_, k) => k);
  for (let k = idx.length - 1; k > 0; k--) {
    const j = Math.floor(rand() * (k + 1));
    [idx[k], idx[j]] = [idx[j]!, idx[k]!];
  }
  return idx.slice(0, n).sort((x, y) => x - y).map((k) => items[k]!);
}

/** "1-3,7" (a kernel bitmap list) as numbers. */
export function parseBitmapList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',').filter(Boolean)) {
    const [a, b] = part.split('-').map(Number);
    for (let k = a!; k <= (b ?? a!); k++) out.push(k);
  }
  return out;
}

/** Every mutant of the series, and the schemata kernel that holds them all. */
async function generateAndBuild(o: MutateOptions): Promise<{ files: FileMutants[]; kernel: KernelBuild; seriesDir: string }> {
  const seriesDir = resolve(o.series ?? defaultPatches);
  const src = await kernelSource(o.kernelSrc);
  const series = readSeries(seriesDir);
  const cFiles = series.files.filter((f) => f.endsWith('.c'));
  const stage = await stageSeries(src, series);
  // Mutants that do not compile (a macro that needs a constant, say) are
  // remembered per series, so only the first run pays for finding them.
  const brokenFile = join(cacheDir('mutate'), `uncompilable-${series.hash.slice(0, 16)}.json`);
  const broken = new Set<string>(existsSync(brokenFile) ? JSON.parse(readFileSync(brokenFile, 'utf8')) : []);
  try {
    for (let attempt = 1; ; attempt++) {
      const files: FileMutants[] = [];
      let next = 1;
      for (const f of cFiles) {
        if (!existsSync(join(stage, f))) continue;
        const after = readFileSync(join(stage, f), 'utf8');
        const before = existsSync(join(src.dir, f)) ? readFileSync(join(src.dir, f), 'utf8') : undefined;
        const fm = await mutateFile(f, after, await addedLines(before, after), next, broken);
        next += fm.mutants.length;
        files.push(fm);
      }
      const count = next - 1;
      if (!count) throw new Error(`the series in ${seriesDir} adds no C lines that can be mutated`);
      const text = await schemataPatch(stage, src.dir, files, count);
      const patch = join(cacheDir('mutate'), `schemata-${hashOf([text]).slice(0, 16)}.patch`);
      writeFileSync(patch, text);
      progress('mutate', `${count} mutants in ${files.filter((f) => f.mutants.length).length} files; building them into one kernel`);
      try {
        return { files, kernel: await buildKernel({ kernelSrc: o.kernelSrc, patches: seriesDir, extraPatches: [patch], arch: o.arch }), seriesDir };
      } catch (e) {
        const msg = (e as Error).message;
        const log = /full log: (\S+)/.exec(msg)?.[1];
        const cited = log && existsSync(log) ? citedLines(readFileSync(log, 'utf8')) : new Map<string, Set<number>>();
        const bad = files.flatMap((f) => f.mutants).filter((m) => [...(cited.get(m.file) ?? [])].some((l) => l >= m.line && l <= m.lastLine));
        if (!bad.length || attempt >= 6) throw new Error(`the schemata kernel does not build, and no mutant is to blame: ${msg}`);
        for (const m of bad) broken.add(m.key);
        writeFileSync(brokenFile, JSON.stringify([...broken].sort(), null, 1));
        progress('mutate', `${bad.length} mutant(s) do not compile (e.g. ${bad[0]!.file}:${bad[0]!.line} ${bad[0]!.op}); dropped, building again`);
      }
    }
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** file -> lines that gcc's errors (and the macro expansions behind them) point at. */
function citedLines(log: string): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  for (const m of log.matchAll(/^\S*?\/((?:mm|fs|lib|kernel|drivers|include|arch)\/[^:\s]+):(\d+):\d+: (?:error|note: in expansion of macro)/gm)) {
    if (!out.has(m[1]!)) out.set(m[1]!, new Set());
    out.get(m[1]!)!.add(Number(m[2]));
  }
  return out;
}

export async function runMutate(o: MutateOptions): Promise<number> {
  const t0 = Date.now();
  const outDir = resolve(o.output);
  mkdirSync(outDir, { recursive: true });
  const { files, kernel, seriesDir } = await generateAndBuild(o);
  const buildSeconds = (Date.now() - t0) / 1000;
  const all = files.flatMap((f) => f.mutants);
  const equivalents = readEquivalents(seriesDir === resolve(defaultPatches) ? equivalentList : join(seriesDir, 'equivalent.txt'));
  const stale = [...equivalents.keys()].filter((k) => !all.some((m) => m.key === k));
  if (stale.length) progress('mutate', `${stale.length} entries of the equivalents list match no mutant (the series changed?), e.g. ${stale[0]}`);
  const only = o.only ? new RegExp(o.only) : undefined;
  const chosen = all.filter((m) => !only || only.test(`${m.file}:${m.line} ${m.op}`) || only.test(m.key));
  if (!chosen.length) throw new Error(`--only ${o.only} matches none of the ${all.length} mutants`);
  const candidates = chosen.filter((m) => !equivalents.has(m.key));
  const toRun = new Set(o.sample !== undefined ? sampleOf(candidates, o.sample, o.seed).map((m) => m.id) : candidates.map((m) => m.id));
  const results: MutantResult[] = chosen.map((m) => ({
    ...m,
    verdict: equivalents.has(m.key) ? 'equivalent' : 'not run',
    reason: equivalents.get(m.key),
    reachedBy: 0,
    seconds: 0,
  }));
  const built = expectedOf(kernel);
  const report = { series: seriesDir, kernel: kernel.image, generated: all.length, results, coverage: {} as Record<string, number[]>, timings: { buildSeconds, coverageSeconds: 0, mutantSeconds: 0, seconds: 0 }, baseline: [] as Result[], after: [] as Result[] };
  const save = () => writeFileSync(join(outDir, 'mutate.json'), JSON.stringify(report, null, 2) + '\n');

  const { image } = await prepare({ kernel: kernel.image, arch: o.arch });
  let boots = 0;
  const boot = async () => {
    const dir = join(outDir, `boot-${++boots}`);
    mkdirSync(dir, { recursive: true });
    return startTarget({ target: 'qemu', arch: o.arch, kernel: kernel.image, initrd: image.initrd, outDir: dir, memMiB: o.memMiB, smp: o.smp, swap: o.swap, timeoutMs: o.timeoutMs });
  };
  let guest = await boot();
  const write = (path: string, text: string) => guest.request('write', { path, text });
  try {
    // 1. Coverage, with no mutant live: which sites each scenario reaches.
    progress('mutate', `coverage: the whole suite with no mutant live (${suite.length} scenarios)`);
    const c0 = Date.now();
    const reach = new Map<number, Scenario[]>();
    await write(SWITCH, '0');
    report.baseline = await runSuite(guest, suite, () => {}, built, {
      before: async () => void (await write(HITS, '0')),
      after: async (s) => {
        const { text } = await guest.request('read', { path: HITS });
        const sites = parseBitmapList(text);
        report.coverage[s.id] = sites;
        for (const n of sites) reach.set(n, [...(reach.get(n) ?? []), s]);
      },
    });
    report.timings.coverageSeconds = (Date.now() - c0) / 1000;
    const broken = report.baseline.filter((r) => r.status === 'fail' || r.status === 'error');
    if (broken.length) {
      save();
      throw new Error(`with no mutant live, ${broken.length} scenario(s) do not pass, e.g. ${broken[0]!.id}: ${broken[0]!.reason?.split('\n')[0]}; a mutant run would mean nothing (see ${join(outDir, 'mutate.json')})`);
    }
    progress('mutate', `coverage in ${report.timings.coverageSeconds.toFixed(0)} s: ${reach.size} of ${all.length} sites reached; ${toRun.size} mutants to run`);

    // 2. Each mutant against the scenarios that reach it.
    const m0 = Date.now();
    let k = 0;
    for (const r of results) {
      if (!toRun.has(r.id)) continue;
      k++;
      const scenarios = reach.get(r.id) ?? [];
      r.reachedBy = scenarios.length;
      if (!scenarios.length) {
        r.verdict = 'unreached';
        continue;
      }
      const s0 = Date.now();
      await write(HITS, '0');
      await write(SWITCH, String(r.id));
      const ran = await runSuite(guest, scenarios, () => {}, built, { stop: (x) => killers([x]).length > 0 });
      const caught = killers(ran)[0];
      // Reached in the coverage run but not in its own (an mTHP that did not form, say): not reached, not survived.
      const hit = !caught && guest.alive ? parseBitmapList((await guest.request('read', { path: HITS })).text).includes(r.id) : true;
      r.verdict = caught ? 'killed' : hit ? 'survived' : 'unreached';
      if (!hit) r.reason = `reached in the coverage run by ${scenarios.length} scenario(s), but not in its own run`;
      if (caught) r.killedBy = caught;
      r.seconds = (Date.now() - s0) / 1000;
      if (guest.alive) await write(SWITCH, '0').catch(() => undefined);
      // A guest that hung or crashed is started again; so is one a killed mutant may have left in a bad state by erroring.
      if (!guest.alive || ran.some((x) => x.status === 'error')) {
        guest.kill();
        guest = await boot();
      }
      progress('mutate', `${k}/${toRun.size} #${r.id} ${r.file}:${r.line} ${r.op}: ${r.verdict.toUpperCase()}${caught ? ` by ${caught.id}` : ''} (${r.seconds.toFixed(1)} s, ${scenarios.length} reach it)`);
      save();
    }
    report.timings.mutantSeconds = (Date.now() - m0) / 1000;

    // 3. The unmutated kernel still passes: no mutant left damage that later ones were blamed for.
    report.after = await runSuite(guest, suite, () => {}, built);
    await guest.stop();
  } finally {
    guest.kill();
    report.timings.seconds = (Date.now() - t0) / 1000;
    save();
  }
  const summary = scoreOf(results);
  console.log(mutateReport(results, report.timings.seconds, report.after));
  const tainted = report.after.filter((r) => r.status === 'fail' || r.status === 'error');
  if (tainted.length) console.log(`WARNING: after the mutants, ${tainted.length} scenario(s) fail with no mutant live (e.g. ${tainted[0]!.id}); some kills may be the guest's state, not the mutant`);
  return summary.score * 100 >= o.minScore && !tainted.length ? 0 : 1;
}

export function scoreOf(results: readonly MutantResult[]) {
  const count = (v: Verdict) => results.filter((r) => r.verdict === v).length;
  const ran = results.filter((r) => r.verdict !== 'equivalent' && r.verdict !== 'not run').length;
  return { generated: results.length, equivalent: count('equivalent'), ran, killed: count('killed'), survived: count('survived'), unreached: count('unreached'), score: ran ? count('killed') / ran : 0 };
}

export function mutateReport(results: readonly MutantResult[], seconds: number, after: readonly Result[]): string {
  const s = scoreOf(results);
  const out: string[] = [];
  const alive = results.filter((r) => r.verdict === 'survived' || r.verdict === 'unreached');
  if (alive.length) {
    out.push('survivors:');
    for (const r of alive) out.push(`  ${`${r.file}:${r.line}`.padEnd(24)} ${r.op.padEnd(8)} ${r.func}: ${r.original.slice(0, 60)} => ${r.mutated.slice(0, 60)}${r.verdict === 'unreached' ? '  (no scenario reaches it)' : `  (${r.reachedBy} scenarios reach it)`}`);
    out.push('');
  }
  const table = (title: string, keyOf: (r: MutantResult) => string, keys: readonly string[]) => {
    out.push(`${title.padEnd(22)} killed  survived  unreached  equivalent`);
    for (const k of keys) {
      const rs = results.filter((r) => keyOf(r) === k && r.verdict !== 'not run');
      if (!rs.length) continue;
      const n = (v: Verdict) => String(rs.filter((r) => r.verdict === v).length);
      out.push(`${k.padEnd(22)} ${n('killed').padStart(6)}  ${n('survived').padStart(8)}  ${n('unreached').padStart(9)}  ${n('equivalent').padStart(10)}`);
    }
    out.push('');
  };
  table('operator', (r) => r.op, operators as readonly Operator[]);
  table('file', (r) => r.file, [...new Set(results.map((r) => r.file))]);
  const passed = after.filter((r) => r.status === 'pass').length;
  out.push(`mutation score ${(s.score * 100).toFixed(1)}%: ${s.killed} killed of ${s.ran} run (${s.survived} survived, ${s.unreached} unreached); ${s.equivalent} equivalent of ${s.generated} generated (${((s.equivalent / Math.max(1, s.generated)) * 100).toFixed(1)}%), in ${(seconds / 60).toFixed(1)} min`);
  out.push(`afterwards, with no mutant live: ${passed} pass of ${after.length}`);
  return out.join('\n');
}
