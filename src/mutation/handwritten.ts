// `reclaim-harness mutants`: build each known-bug kernel (qemu/mutants/*.patch
// on top of the series, in the series' own tree and build dir, so only the
// mutated files recompile), run the suite on it, and print the kill table.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageRoot } from '../native.js';
import { buildKernel } from '../builds/kernel.js';
import { progress } from '../log.js';
import { run, type RunOptions } from '../pipeline.js';
import type { RunReport } from '../report/json.js';
import type { Result, Scenario } from '../suite/types.js';
import { suite } from '../scenarios/index.js';
import { patchedEffects } from '../model/effect.js';

export const mutantDir = join(packageRoot, 'qemu', 'mutants');

export interface Mutant {
  name: string;
  file: string;
  /** the patch subject: one line saying what the bug is */
  description: string;
}

export interface MutantResult extends Mutant {
  verdict: 'killed' | 'survived' | 'error';
  /** the scenarios that passed on it */
  passed?: string[];
  /** the scenarios that caught it, with why */
  killedBy: Array<{ id: string; why: string }>;
  buildSeconds: number;
  runSeconds: number;
  error?: string;
}

export function listMutants(dir = mutantDir, only?: string): Mutant[] {
  if (!existsSync(dir)) return [];
  const re = only ? new RegExp(only) : undefined;
  return readdirSync(dir)
    .filter((f) => f.endsWith('.patch'))
    .sort()
    .map((f) => {
      const text = readFileSync(join(dir, f), 'utf8');
      // The subject header may be folded over several lines.
      const subject = (/^Subject: (?:\[PATCH[^\]]*\] )?(.*(?:\n [^\n]*)*)/m.exec(text)?.[1] ?? '(no subject)').replace(/\n /g, ' ');
      return { name: f.replace(/\.patch$/, ''), file: join(dir, f), description: subject.replace(/^mutant: /, '') };
    })
    .filter((m) => !re || re.test(m.name));
}

/** The kinds of not-passing that are the kernel's doing (types.ts Kind). */
const KILLS = new Set<Result['kind']>(['fail', 'timeout', 'crash']);

/**
 * What caught the mutant: every FAIL, and every ERROR that is the kernel's
 * doing (Result.kind): a step that never returned, a killed subject that never
 * exited, a crash. A missed precondition, a harness error and the errors that
 * only follow an earlier loss of the guest are not kills.
 */
export function killers(results: readonly Result[]): Array<{ id: string; why: string }> {
  return results
    .filter((r) => r.status === 'fail' || (r.status === 'error' && KILLS.has(r.kind)))
    .map((r) => ({ id: r.id, why: (r.reason ?? '').split('\n')[0]!.slice(0, 160) }));
}

export interface MutantOptions extends Omit<RunOptions, 'extraPatches' | 'quiet' | 'format'> {
  /** mutant names matching this regex only */
  only?: string;
}

export async function runMutants(o: MutantOptions): Promise<number> {
  const mutants = listMutants(mutantDir, o.only);
  if (!mutants.length) throw new Error(`no mutants in ${mutantDir}${o.only ? ` matching ${o.only}` : ''}`);
  const outDir = resolve(o.output);
  mkdirSync(outDir, { recursive: true });
  const t0 = Date.now();
  const results: MutantResult[] = [];
  for (const [k, m] of mutants.entries()) {
    progress('mutants', `${k + 1}/${mutants.length} ${m.name}: ${m.description}`);
    const r: MutantResult = { ...m, verdict: 'error', killedBy: [], buildSeconds: 0, runSeconds: 0 };
    const b0 = Date.now();
    try {
      const kb = await buildKernel({ kernelSrc: o.kernelSrc, patches: o.patches, extraPatches: [m.file], arch: o.arch });
      r.buildSeconds = (Date.now() - b0) / 1000;
      progress('mutants', `${m.name}: kernel ${kb.cached ? 'cached' : `built in ${r.buildSeconds.toFixed(0)} s`}`);
    } catch (e) {
      r.error = `build: ${(e as Error).message.split('\n')[0]}`;
      results.push(r);
      continue;
    }
    const dir = join(outDir, m.name);
    const r0 = Date.now();
    try {
      await run({ ...o, extraPatches: [m.file], quiet: true, format: 'json', output: dir });
    } catch {
      // a boot failure leaves its reason in results.json
    }
    r.runSeconds = (Date.now() - r0) / 1000;
    const rep = existsSync(join(dir, 'results.json')) ? (JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunReport) : undefined;
    r.killedBy = killers(rep?.results ?? []);
    r.passed = (rep?.results ?? []).filter((x) => x.status === 'pass').map((x) => x.id);
    r.verdict = r.killedBy.length ? 'killed' : rep && rep.results.length ? 'survived' : 'error';
    if (r.verdict === 'error') r.error = 'no results (see the run directory)';
    progress('mutants', `${m.name}: ${r.verdict.toUpperCase()}${r.killedBy.length ? ` by ${r.killedBy.length} scenario(s), e.g. ${r.killedBy[0]!.id}` : ''} (${r.runSeconds.toFixed(0)} s)`);
    results.push(r);
    writeFileSync(join(outDir, 'mutants.json'), JSON.stringify({ results, seconds: (Date.now() - t0) / 1000 }, null, 2) + '\n');
  }
  const seconds = (Date.now() - t0) / 1000;
  const untouched = noopPasses(results, suite, listMutants(mutantDir).filter(isNoop).map((m) => m.name));
  writeFileSync(join(outDir, 'mutants.json'), JSON.stringify({ results, seconds, ...(untouched && { noopPasses: untouched }) }, null, 2) + '\n');
  console.log(killTable(results, seconds));
  if (untouched) console.log(noopTable(untouched));
  return results.every((r) => r.verdict === 'killed') && !untouched?.passes.some((u) => !u.reason) ? 0 : 1;
}

/** The no-op kernels: every patched interface accepts its calls and does nothing (issue 21). */
export const isNoop = (m: Mutant) => /^\d+-noop-/.test(m.name);

/** Why a scenario may pass on a kernel that does nothing, or undefined: it claims an effect. */
export function whyUntouched(s: Scenario): string | undefined {
  if (s.noEffect) return s.noEffect;
  if (!s.needs.feature || s.needs.feature === 'process-mrelease') return 'uses upstream interfaces only (PAGEOUT, COLD, process_mrelease, ...), which no no-op kernel changes';
  if (s.steps && !patchedEffects(s.steps, { pageSize: 4096, procReclaim: true, pmadvRange: true, shrinkmem: true }, s.needs.swap !== false).length) {
    return 'its patched steps change no page in the model (an errno row, or a row the operation leaves as it is)';
  }
  return undefined;
}

export interface NoopPasses {
  /** the no-op kernels that ran, and those that exist but did not */
  ran: string[];
  missing: string[];
  passes: Array<{ id: string; reason?: string }>;
}

/** The scenarios that passed on every no-op kernel that ran, with why each may (undefined when none ran). */
export function noopPasses(results: readonly MutantResult[], scenarios: readonly Scenario[] = suite, shipped: readonly string[] = []): NoopPasses | undefined {
  const noops = results.filter((r) => isNoop(r) && r.passed);
  if (!noops.length) return undefined;
  const all = noops.slice(1).reduce((acc, r) => acc.filter((id) => r.passed!.includes(id)), noops[0]!.passed!);
  const byId = new Map(scenarios.map((s) => [s.id, s]));
  const ran = noops.map((r) => r.name);
  return { ran, missing: shipped.filter((n) => !ran.includes(n)), passes: all.map((id) => ({ id, reason: byId.has(id) ? whyUntouched(byId.get(id)!) : undefined })) };
}

export function noopTable(n: NoopPasses): string {
  const bad = n.passes.filter((p) => !p.reason);
  const which = n.missing.length ? `the ${n.ran.length} no-op kernel(s) that ran (${n.ran.join(', ')}; not run: ${n.missing.join(', ')})` : `every no-op kernel (${n.ran.join(', ')})`;
  return [`${n.passes.length} scenario(s) pass on ${which}${bad.length ? `; ${bad.length} claim an effect they cannot have shown` : ', each for a reason'}:`, ...n.passes.map((p) => `  ${p.id}: ${p.reason ?? 'UNEXPLAINED: passes on a kernel that does nothing'}`)].join('\n');
}

export function killTable(results: readonly MutantResult[], seconds: number): string {
  const w = Math.max(6, ...results.map((r) => r.name.length));
  const out = [`${'mutant'.padEnd(w)}  verdict   caught by`];
  for (const r of results) {
    const by = r.verdict === 'killed' ? `${r.killedBy.slice(0, 3).map((x) => x.id).join(', ')}${r.killedBy.length > 3 ? ` (+${r.killedBy.length - 3} more)` : ''}` : r.verdict === 'survived' ? 'SURVIVED: no scenario failed' : `ERROR: ${r.error}`;
    out.push(`${r.name.padEnd(w)}  ${r.verdict.toUpperCase().padEnd(8)}  ${by}`);
    out.push(`${' '.repeat(w)}            ${r.description}; first: ${r.killedBy[0]?.why ?? '-'}`.slice(0, 200));
  }
  const killed = results.filter((r) => r.verdict === 'killed').length;
  out.push('', `${killed}/${results.length} mutants killed in ${(seconds / 60).toFixed(1)} min (build ${results.reduce((n, r) => n + r.buildSeconds, 0).toFixed(0)} s, runs ${results.reduce((n, r) => n + r.runSeconds, 0).toFixed(0)} s)`);
  return out.join('\n');
}
