// The comparator: observations against the model's allowed sets. A forbidden
// observation is a finding (FAIL) that names the page, its VMA, what was
// allowed, what was seen, the rule and why; an allowed outcome is coverage.
import type { Ret } from './apply.js';
import type { PagePred, ProcPred, VmaPred } from './predict.js';
import type { Pte, State, Why } from './state.js';
import { rssSlack, type RssField } from './versions.js';

/** One forbidden observation, explained: what the comparator reports for a FAIL. */
export interface Finding {
  /** the step, as '3: reclaim P anon' */
  step: string;
  /** process label and pid, e.g. 'P (pid 123)' */
  process?: string;
  /** page address in hex, when the finding is about a page */
  addr?: string;
  /** the VMA and its mapping type, e.g. 'm1 anon-private 0x7f..-0x7f.. (32 pages)' */
  vma?: string;
  /** what the model allowed, decoded */
  expected: string;
  /** what the kernel showed, decoded */
  observed: string;
  /** spec section the rule comes from, e.g. '§6.1 row 10' */
  rule: string;
  /** one line: why this is wrong */
  explain: string;
}

/** One pagemap entry as the comparator needs it (decoded by the agent side). */
export interface PageObs {
  present: boolean;
  swapped: boolean;
  file: boolean;
  exclusive: boolean;
  pfn?: bigint;
  swapOffset?: bigint;
  mapcount?: bigint | null;
  /** KPF_ZERO_PAGE (bit 24) */
  zeroPage?: boolean;
  /** part of a large folio: KPF_COMPOUND_HEAD or _TAIL (bits 15, 16) */
  large?: boolean;
}

export interface VmaObs {
  pages: PageObs[];
  /** smaps fields of the VMA in kB, when the VMA stands alone in smaps */
  smaps?: Record<string, number>;
}

/** What the harness saw of each process: by process label, then mapping label; status fields in kB. */
export type Observation = Record<string, { pid: number; gone?: string; vmas: Record<string, VmaObs>; status?: Record<string, number> }>;

export interface Verdict {
  findings: Finding[];
  /** state refined by what was seen where the model allowed several outcomes */
  state: State;
  /** allowed outcomes seen, for coverage: 'rule: outcome' */
  seen: string[];
}

const stateOf = (o: PageObs) => (o.present ? 'present' : o.swapped ? 'swapped' : 'none');

/** Pagemap bits as people read them: P1 S0 F0 X1. */
export function bits(o: PageObs): string {
  return `P${+o.present} S${+o.swapped} F${+o.file} X${+o.exclusive}${o.mapcount != null ? ` kpagecount ${o.mapcount}` : ''}${o.zeroPage ? ' zero-page' : ''}`;
}

export function describePred(p: PagePred): string {
  if (p.state === 'any') return 'any state';
  const parts: string[] = [p.state];
  if (p.state === 'present') parts.push(p.zero ? 'the zero page' : `F${+(p.file ?? 0)}`, p.exclusive === 'any' ? 'X any' : `X${+(p.exclusive ?? 0)}`);
  if (p.state === 'swapped') parts.push('S1 F0 X0');
  if (typeof p.mapcount === 'number') parts.push(`kpagecount ${p.mapcount}`);
  return [parts.join(' '), ...(p.orSwapped ? ['swapped'] : []), ...(p.orNone ? ['none'] : [])].join(' or ');
}

function explain(pred: PagePred, obs: PageObs, vp: VmaPred, others: string[]): string {
  const what = `${vp.vma.kind} page`;
  const also = others.length ? ` (still mapped by ${others.join(', ')})` : '';
  const seen = stateOf(obs);
  if (pred.state !== seen) {
    if (pred.state === 'present' && seen === 'none') return `${what} was freed or unmapped although the model keeps it${also}: ${pred.why.note}`;
    if (pred.state === 'present' && seen === 'swapped') return `${what} was swapped out although the model keeps it${also}: ${pred.why.note}`;
    if (pred.state === 'swapped') return `${what} should be a swap entry but is ${seen}: ${pred.why.note}`;
    return `${what} should be unmapped but is ${seen}: ${pred.why.note}`;
  }
  if (pred.file !== undefined && pred.file !== obs.file) return `${what}: the file/shared bit (61) is ${+obs.file}, expected ${+pred.file}`;
  if (pred.exclusive !== undefined && pred.exclusive !== 'any' && pred.exclusive !== obs.exclusive) return `${what}: mapped ${obs.exclusive ? 'exclusively' : 'more than once'} by the kernel's count, the model counts ${pred.exclusive ? 'one mapper' : `several${also}`}`;
  if (pred.zero && !obs.zeroPage) return `${what}: expected the shared zero page`;
  return `${what}: kpagecount ${obs.mapcount}, the model counts ${pred.mapcount} mapper(s)`;
}

function pageOk(pred: PagePred, o: PageObs): boolean {
  if (pred.state === 'any' || (pred.orNone && stateOf(o) === 'none') || (pred.orSwapped && stateOf(o) === 'swapped' && !o.file)) return true;
  if (pred.state !== stateOf(o)) return false;
  if (pred.state === 'none') return true;
  if (pred.file !== undefined && pred.file !== o.file) return false;
  if (pred.exclusive !== undefined && pred.exclusive !== 'any' && pred.exclusive !== o.exclusive) return false;
  if (pred.zero && o.zeroPage === false) return false;
  if (typeof pred.mapcount === 'number' && o.mapcount != null && BigInt(pred.mapcount) !== o.mapcount) return false;
  return true;
}

const hex = (a: bigint) => `0x${a.toString(16)}`;

/**
 * Compares every predicted page and counter with the observation. `step` labels
 * the findings, e.g. "3: reclaim P anon".
 */
export function compare(state: State, preds: VmaPred[], obs: Observation, step: string, procs: ProcPred[] = []): Verdict {
  const findings: Finding[] = [];
  const seen: string[] = [];
  const next = structuredClone(state);
  const page = BigInt(state.kernel.pageSize);
  // key -> first (pfn or swap offset) seen, and the reverse, for the relation checks
  const byKey = new Map<string, { id: bigint; where: string }>();
  const byId = new Map<string, { key: string; where: string }>();

  const vanished = new Set<string>();
  for (const vp of preds) {
    const po = obs[vp.proc.label];
    const procName = `${vp.proc.label} (pid ${po?.pid ?? vp.proc.pid})`;
    const vmaName = `${vp.vma.label} ${vp.vma.kind} ${hex(vp.vma.start)}-${hex(vp.vma.start + BigInt(vp.vma.pages) * page)} (${vp.vma.pages} pages${vp.vma.locked ? ', mlocked' : ''}${vp.vma.thp ? ', THP' : ''})`;
    // A dying process may finish its exit at any time; a live one must still be there, whole.
    const live = vp.proc.state === 'live';
    if (!po || po.gone) {
      if (live && !vanished.has(vp.proc.label)) {
        vanished.add(vp.proc.label);
        findings.push({ step, process: procName, expected: 'a live process with its mappings', observed: po?.gone ?? 'not observed', rule: '§6.1', explain: 'the process the model holds live is gone: the step killed it or tore down its mm' });
      }
      continue;
    }
    const vo = po.vmas[vp.vma.label];
    if (!vo || vo.pages.length < vp.pages.length) {
      if (live) findings.push({ step, process: procName, vma: vmaName, expected: `pagemap entries for all ${vp.pages.length} pages`, observed: vo ? `${vo.pages.length} entries` : 'the mapping was not observed', rule: '§5.5', explain: 'the VMA is shorter in the kernel than in the model: it was unmapped or the process lost its mm' });
      if (!vo) continue;
    }
    let bad = 0;
    vp.pages.forEach((pred, i) => {
      const o = vo.pages[i];
      if (!o) return;
      const addr = hex(vp.vma.start + BigInt(i) * page);
      if (!pageOk(pred, o)) {
        if (bad++ < 8) {
          const others = otherMappers(state, vp, i);
          findings.push({ step, process: procName, addr, vma: vmaName, expected: describePred(pred), observed: bits(o), rule: pred.why.rule, explain: explain(pred, o, vp, others) });
        }
        return;
      }
      seen.push(`${pred.why.rule}: ${stateOf(o)}`);
      if (pred.orNone || pred.orSwapped) {
        // Fault-around or a global reclaim decided: what was seen is the state from here on.
        const v = next.procs.find((p) => p.label === vp.proc.label)!.vmas.find((x) => x.label === vp.vma.label)!;
        v.ptes[i] = adopt(v.ptes[i]!, o, pred.why);
      }
      // Relations: one key, one PFN / swap offset; two keys, two.
      const id = o.present ? o.pfn : o.swapped ? o.swapOffset : undefined;
      if (!pred.key || id === undefined || id === 0n || pred.state === 'any') return;
      const tag = `${o.present ? 'pfn' : 'swap'} ${hex(id)}`;
      const here = `${procName} ${addr}`;
      const k = byKey.get(`${o.present}:${pred.key}`);
      if (k && k.id !== id) findings.push({ step, process: procName, addr, vma: vmaName, expected: `the same ${o.present ? 'PFN' : 'swap offset'} as ${k.where} (${hex(k.id)})`, observed: tag, rule: pred.why.rule, explain: `one page in the model, two in the kernel: ${pred.why.note}` });
      else if (!k) byKey.set(`${o.present}:${pred.key}`, { id, where: here });
      const other = byId.get(tag);
      if (other && other.key !== pred.key) findings.push({ step, process: procName, addr, vma: vmaName, expected: `a ${o.present ? 'PFN' : 'swap offset'} of its own`, observed: `${tag}, also used by ${other.where}`, rule: pred.why.rule, explain: 'two different pages in the model share one page (or swap slot) in the kernel' });
      else if (!other) byId.set(tag, { key: pred.key, where: here });
    });
    if (bad > 8) findings.push({ step, process: procName, vma: vmaName, expected: '-', observed: `${bad - 8} more pages like the above`, rule: '-', explain: 'further mismatches in this VMA not listed' });
    if (!vo.smaps) continue;
    for (const [field, allowed] of Object.entries(vp.counters)) {
      const got = vo.smaps[field];
      if (got === undefined || !allowed) continue;
      if (!allowed.includes(got)) {
        findings.push({ step, process: procName, vma: vmaName, expected: `smaps ${field} ${setText(allowed)} kB`, observed: `${got} kB`, rule: '§5.7, §6.1', explain: `smaps ${field} disagrees with the pages the model holds in this VMA` });
        continue;
      }
      if (field === 'AnonHugePages') {
        // Seen PMD-mapped, it stays so until reclaim; seen split or small,
        // khugepaged may still collapse it later (§7.6).
        const v = next.procs.find((p) => p.label === vp.proc.label)!.vmas.find((x) => x.label === vp.vma.label)!;
        v.thp = got > 0 ? 'pmd' : 'unknown';
        seen.push(`§7.6: THP ${got > 0 ? 'PMD-mapped' : 'not PMD-mapped'}`);
      }
    }
  }
  // Process counters: the modelled VMAs' share, plus between 0 and the size of the rest (§5.7),
  // give or take what the kernel's version lets the counters lag (versions.ts).
  const kb = state.kernel.pageSize / 1024;
  for (const pp of procs) {
    const po = obs[pp.proc.label];
    if (!po || po.gone || !po.status || po.status.VmSize === undefined) continue;
    const rest = po.status.VmSize - pp.modelKb;
    for (const [field, model] of Object.entries(pp.counters)) {
      const got = po.status[field];
      const slack = rssSlack(state.kernel, field as RssField, po.status.Threads ?? 1);
      const lo = Math.max(0, model[0] - slack.under * kb);
      const hi = model[1] + rest + slack.over * kb;
      if (got === undefined || (got >= lo && got <= hi)) continue;
      const lag = slack.why ? `; ${slack.why}` : '';
      findings.push({ step, process: `${pp.proc.label} (pid ${po.pid})`, expected: `status ${field} between ${lo} and ${hi} kB (the modelled VMAs hold ${model[0] === model[1] ? model[0] : `${model[0]} to ${model[1]}`} kB${lag})`, observed: `${got} kB`, rule: '§5.7', explain: got < lo ? `${field} counts less than the modelled pages alone` : `${field} exceeds what the whole address space could hold` });
    }
  }
  delete next.globalReclaim;
  return { findings, state: next, seen };
}

/** An allowed set, short: "4", "0 or 2048", "8 to 64 in steps of 4". */
export function setText(allowed: readonly number[]): string {
  const step = allowed.length > 2 ? allowed[1]! - allowed[0]! : 0;
  if (step > 0 && allowed.every((x, k) => x === allowed[0]! + k * step)) return `${allowed[0]} to ${allowed.at(-1)}${step === 1 ? '' : ` in steps of ${step}`}`;
  return allowed.join(' or ');
}

/** A PTE the model was unsure of, as observed: mapped, swapped, or empty. */
function adopt(t: Pte, o: PageObs, why: Why): Pte {
  if (t.t === 'hole') return t;
  if (o.present) return t.t === 'around' || t.t === 'none' ? { t: 'obj', why } : { ...t, why };
  if (o.swapped && (t.t === 'anon' || t.t === 'swap')) return { t: 'swap', folio: t.folio, why };
  return { t: 'none', why };
}

/** Labels of other live processes that map page i of vp's VMA (for explanations). */
function otherMappers(s: State, vp: VmaPred, i: number): string[] {
  const t = vp.vma.ptes[i]!;
  const out = new Set<string>();
  for (const p of s.procs) {
    if (p.label === vp.proc.label || p.state === 'gone') continue;
    for (const v of p.vmas) {
      const u = v.ptes[i];
      if (v.obj && v.obj === vp.vma.obj && u?.t === 'obj') out.add(`${p.label} (pid ${p.pid})`);
      if ((t.t === 'anon' || t.t === 'swap') && v.ptes.some((x) => (x.t === 'anon' || x.t === 'swap') && x.folio === t.folio)) out.add(`${p.label} (pid ${p.pid})`);
    }
  }
  return [...out];
}

/** Whether a return value is in the allowed set: ok values compare as numbers. */
export function retAllowed(allowed: Ret[], got: Ret): boolean {
  return allowed.some((a) => (a.ok && got.ok ? a.value === undefined || BigInt(a.value) === BigInt(got.value ?? -1) : !a.ok && !got.ok && a.code === got.code));
}

export const showRet = (r: Ret) => (r.ok ? (r.value === undefined ? 'ok' : `returns ${r.value}`) : r.code);
