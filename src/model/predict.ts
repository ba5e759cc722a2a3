// What the model allows the kernel to show for every page and VMA of every
// live process. Sets of allowed outcomes: a value outside is a FAIL.
// Spec: §5.5 (pagemap bits), §5.6 (kpagecount), §5.7 (smaps), §6.1.
import { folioRefs, objMappers, type Proc, type State, type Vma, type Why } from './state.js';

export interface PagePred {
  /** pagemap: present (bit 63), swapped (62), none (0), or anything */
  state: 'present' | 'swapped' | 'none' | 'any';
  /** bit 61: file page or shared anon */
  file?: boolean;
  /** bit 56: mapped exactly once */
  exclusive?: boolean | 'any';
  /** the shared zero page */
  zero?: boolean;
  /** pages with the same key share one PFN (present) or one swap offset (swapped); different keys never do */
  key?: string;
  /** /proc/kpagecount of the PFN */
  mapcount?: number | 'any';
  why: Why;
}

/** smaps fields of one VMA, in kB: each an allowed set. */
export type VmaCounters = Partial<Record<'Rss' | 'Swap' | 'Anonymous' | 'AnonHugePages', number[]>>;

export interface VmaPred {
  proc: Proc;
  vma: Vma;
  pages: PagePred[];
  counters: VmaCounters;
}

const ANY: Why = { rule: '-', note: 'not predicted' };

function pagePred(s: State, v: Vma, i: number): PagePred {
  const t = v.ptes[i]!;
  const w = ('why' in t && t.why) || { rule: '§6.1', note: 'as mapped' };
  if (s.unknown) return { state: 'any', why: { rule: '§6.3', note: s.unknown } };
  switch (t.t) {
    case 'hole':
    case 'none':
      return { state: 'none', why: w };
    case 'zero':
      return { state: 'present', file: false, exclusive: false, zero: true, key: 'zero', why: w };
    case 'anon':
    case 'swap': {
      const refs = folioRefs(s, t.folio);
      const present = refs.filter((r) => r.pte.t === 'anon').length;
      const settling = refs.some((r) => r.p.state !== 'live');
      if (t.t === 'swap') return { state: 'swapped', file: false, exclusive: false, key: `folio ${t.folio}`, why: w };
      const thp = v.thp !== null;
      return { state: 'present', file: false, exclusive: settling || thp ? 'any' : present === 1, key: `folio ${t.folio}`, mapcount: settling || thp ? 'any' : present, why: w };
    }
    case 'obj': {
      const mappers = objMappers(s, v.obj!, i);
      const settling = mappers.some((r) => r.p.state !== 'live');
      const huge = v.kind === 'hugetlb';
      return {
        state: 'present',
        file: !huge,
        exclusive: settling || huge ? 'any' : mappers.length === 1,
        key: `${v.obj} page ${i}`,
        mapcount: settling || huge ? 'any' : mappers.length,
        why: w,
      };
    }
  }
}

function counters(s: State, v: Vma): VmaCounters {
  if (s.unknown || v.ptes.some((t) => t.t === 'hole')) return {};
  const kb = s.kernel.pageSize / 1024;
  const n = (pred: (i: number) => boolean) => v.ptes.filter((_t, i) => pred(i)).length * kb;
  const anon = n((i) => v.ptes[i]!.t === 'anon');
  const obj = n((i) => v.ptes[i]!.t === 'obj');
  const shmem = v.kind === 'anon-shared' || v.kind === 'memfd';
  const swap = shmem ? n((i) => s.objs[v.obj!]!.pages[i]!.swapped) : n((i) => v.ptes[i]!.t === 'swap');
  const c: VmaCounters = { Swap: [swap] };
  if (v.kind !== 'hugetlb') Object.assign(c, { Rss: [anon + obj], Anonymous: [anon] });
  if (v.thp) {
    const full = anon === v.pages * kb ? anon : 0;
    c.AnonHugePages = v.thp === 'pmd' ? [full] : v.thp === 'split' ? [0] : [...new Set([0, full])];
  }
  return c;
}

/** Predictions for every modelled VMA of every live process. */
export function predict(s: State): VmaPred[] {
  const out: VmaPred[] = [];
  for (const p of s.procs) {
    if (p.state !== 'live') continue;
    for (const v of p.vmas) out.push({ proc: p, vma: v, pages: v.ptes.map((_t, i) => pagePred(s, v, i)), counters: counters(s, v) });
  }
  return out;
}

export { ANY };
