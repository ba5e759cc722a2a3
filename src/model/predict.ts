// What the model allows the kernel to show for every page and VMA of every
// live process. Sets of allowed outcomes: a value outside is a FAIL.
// Spec: §5.5 (pagemap bits), §5.6 (kpagecount), §5.7 (smaps), §6.1.
import { folioRefs, objMappers, objMaybeMapped, type Proc, type Pte, type State, type Vma, type Why } from './state.js';

type Ref = { p: Proc; pte: Pte };

/** Every PTE of every process by the folio it refers to: one pass instead of one per page. */
function folioIndex(s: State): Map<number, Ref[]> {
  const idx = new Map<number, Ref[]>();
  for (const p of s.procs) {
    if (p.state === 'gone') continue;
    for (const v of p.vmas) for (const pte of v.ptes) if (pte.t === 'anon' || pte.t === 'swap') (idx.get(pte.folio) ?? idx.set(pte.folio, []).get(pte.folio)!).push({ p, pte });
  }
  return idx;
}

export interface PagePred {
  /** pagemap: present (bit 63), swapped (62), none (0), or anything */
  state: 'present' | 'swapped' | 'none' | 'any';
  /** present, or else none (fault-around may not have mapped it; a global reclaim may have dropped it) */
  orNone?: boolean;
  /** present, or else a swap entry (a global reclaim may have swapped it) */
  orSwapped?: boolean;
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
export type VmaCounters = Partial<Record<'Rss' | 'Swap' | 'SwapPss' | 'Anonymous' | 'LazyFree' | 'AnonHugePages', number[]>>;

/** /proc/PID/status counters, in kB: the part the modelled VMAs hold. */
export type ProcCounters = Record<'RssAnon' | 'RssFile' | 'RssShmem' | 'VmSwap', [from: number, to: number]>;

export interface ProcPred {
  proc: Proc;
  /** the modelled VMAs' share of each counter; the rest of the process adds between 0 and its size */
  counters: ProcCounters;
  /** total size of the modelled VMAs, kB */
  modelKb: number;
}

export interface VmaPred {
  proc: Proc;
  vma: Vma;
  pages: PagePred[];
  counters: VmaCounters;
}

function pagePred(s: State, v: Vma, i: number, folios: Map<number, Ref[]>): PagePred {
  const p = exactPred(s, v, i, folios);
  return s.globalReclaim ? widen(s, v, i, p) : p;
}

/**
 * What a global reclaim (shrinkmem, A3) can make of a page: an evictable present page may be
 * swapped (anon, with swap on) or unmapped (page cache, shmem, a clean MADV_FREE page). A swap
 * entry, an empty PTE, the zero page, hugetlb and mlocked pages stay as they are (§6.1 rows 1b,
 * 6, 7; no reclaim faults a page in).
 */
function widen(s: State, v: Vma, i: number, p: PagePred): PagePred {
  const t = v.ptes[i]!;
  if (p.state !== 'present' || p.zero || v.kind === 'hugetlb') return p;
  const why = { rule: 'A3, §6.3', note: s.globalReclaim! };
  const loose = { ...p, exclusive: 'any' as const, mapcount: 'any' as const, why };
  if (t.t === 'anon') {
    if (folioRefs(s, t.folio).some((r) => r.v.locked && r.pte.t === 'anon')) return p;
    const f = s.folios[t.folio]!;
    return { ...loose, orSwapped: s.swap, orNone: f.lazy && !f.redirtied };
  }
  if (objMappers(s, v.obj!, i).some((m) => m.v.locked)) return p;
  return { ...loose, orNone: true };
}

function exactPred(s: State, v: Vma, i: number, folios: Map<number, Ref[]>): PagePred {
  const t = v.ptes[i]!;
  const w = ('why' in t && t.why) || { rule: '§6.1', note: 'as mapped' };
  switch (t.t) {
    case 'hole':
    case 'none':
      return { state: 'none', why: w };
    case 'zero':
      return { state: 'present', file: false, exclusive: false, zero: true, key: 'zero', why: w };
    case 'anon':
    case 'swap': {
      const refs = folios.get(t.folio) ?? [];
      const present = refs.filter((r) => r.pte.t === 'anon').length;
      const settling = refs.some((r) => r.p.state !== 'live');
      if (t.t === 'swap') return { state: 'swapped', file: false, exclusive: false, key: `folio ${t.folio}`, why: w };
      const thp = v.thp !== null;
      return { state: 'present', file: false, exclusive: settling || thp ? 'any' : present === 1, key: `folio ${t.folio}`, mapcount: settling || thp ? 'any' : present, why: w };
    }
    case 'around':
      return { state: 'present', orNone: true, file: true, exclusive: 'any', key: `${v.obj} page ${i}`, mapcount: 'any', why: w };
    case 'obj': {
      const mappers = objMappers(s, v.obj!, i);
      const settling = mappers.some((r) => r.p.state !== 'live') || objMaybeMapped(s, v.obj!, i);
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

/** from, from + step, …, to */
const span = (from: number, to: number, step: number): number[] => Array.from({ length: Math.max(0, Math.round((to - from) / step)) + 1 }, (_x, k) => from + k * step);

/** A page the prediction lets go: fault-around's, or a global reclaim's (A3). */
const mayGo = (p: PagePred): boolean => p.state === 'present' && (p.orNone === true || p.orSwapped === true);

function counters(s: State, v: Vma, folios: Map<number, Ref[]>, pages: PagePred[]): VmaCounters {
  if (v.ptes.some((t) => t.t === 'hole')) return {};
  const kb = s.kernel.pageSize / 1024;
  const n = (pred: (i: number) => boolean) => v.ptes.filter((_t, i) => pred(i)).length * kb;
  const mapped = (i: number) => ['anon', 'obj', 'around'].includes(v.ptes[i]!.t);
  const anon = n((i) => v.ptes[i]!.t === 'anon');
  // what a global reclaim or fault-around may have taken: counters fall by up to this much, and no more
  const anonGo = n((i) => v.ptes[i]!.t === 'anon' && mayGo(pages[i]!));
  const toSwap = n((i) => v.ptes[i]!.t === 'anon' && pages[i]!.orSwapped === true);
  const shmem = v.kind === 'anon-shared' || v.kind === 'memfd';
  const swap = shmem ? n((i) => s.objs[v.obj!]!.pages[i]!.swapped) : n((i) => v.ptes[i]!.t === 'swap');
  // shmem pages a global reclaim may have put on swap: anything from none to all of them (A3)
  const maybe = shmem ? n((i) => s.objs[v.obj!]!.pages[i]!.maybeSwapped === true) : toSwap;
  const c: VmaCounters = { Swap: span(swap, swap + maybe, kb) };
  if (v.kind !== 'hugetlb') Object.assign(c, { Rss: span(n((i) => mapped(i) && !mayGo(pages[i]!)), n(mapped), kb), Anonymous: span(anon - anonGo, anon, kb) });
  // SwapPss: each swap entry's share of its slot (§5.7; §6.1 row 10 "SwapPss = 2K each");
  // a page a global reclaim swaps adds up to a page's worth (less if its slot is shared).
  const swaps = v.ptes.flatMap((t) => (t.t === 'swap' ? [folios.get(t.folio) ?? []] : []));
  if (!shmem && swaps.every((refs) => refs.every((r) => r.p.state === 'live'))) {
    const base = Math.floor(swaps.reduce((sum, refs) => sum + (kb * 1024) / refs.filter((r) => r.pte.t === 'swap').length, 0) / 1024);
    c.SwapPss = span(base, base + toSwap, 1);
  }
  // LazyFree: clean MADV_FREE pages; the per-CPU lru_lazyfree batch may still hold some (C.3 2).
  const lazy = n((i) => {
    const t = v.ptes[i]!;
    return t.t === 'anon' && s.folios[t.folio]!.lazy && !s.folios[t.folio]!.redirtied;
  });
  c.LazyFree = span(0, lazy, kb);
  if (v.thp) {
    const full = anon === v.pages * kb ? anon : 0;
    c.AnonHugePages = v.thp === 'pmd' ? [full] : v.thp === 'split' ? [0] : [...new Set([0, full])];
  }
  return c;
}

/**
 * The modelled VMAs' share of a process's status counters, from–to (§5.7: VmSwap is MM_SWAPENTS,
 * no shmem). Exact but for a global reclaim's step (A3): then each Rss counter may fall by the
 * pages it may take, and VmSwap rise by the anon pages it may swap.
 */
export function predictProcs(s: State): ProcPred[] {
  const kb = s.kernel.pageSize / 1024;
  const folios = folioIndex(s);
  return s.procs
    .filter((p) => p.state === 'live')
    .map((p) => {
      const c: ProcCounters = { RssAnon: [0, 0], RssFile: [0, 0], RssShmem: [0, 0], VmSwap: [0, 0] };
      const add = (field: keyof ProcCounters, sure: boolean, may = !sure) => {
        if (sure) c[field][0] += kb;
        if (sure || may) c[field][1] += kb;
      };
      for (const v of p.vmas) {
        if (v.kind === 'hugetlb') continue;
        v.ptes.forEach((t, i) => {
          const go = s.globalReclaim !== undefined && mayGo(pagePred(s, v, i, folios));
          if (t.t === 'anon') {
            add('RssAnon', !go);
            if (go && pagePred(s, v, i, folios).orSwapped) add('VmSwap', false, true);
          } else if (t.t === 'swap') add('VmSwap', true);
          else if (t.t === 'obj') add(v.kind === 'anon-shared' || v.kind === 'memfd' ? 'RssShmem' : 'RssFile', !go);
        });
      }
      return { proc: p, counters: c, modelKb: p.vmas.reduce((n, v) => n + v.pages * kb, 0) };
    });
}

/** Whose pages are observed: live processes, and a dying one right after process_madvise(MADV_DONTNEED) zapped it. */
export const observed = (p: Proc): boolean => p.state === 'live' || (p.state === 'dying' && p.zapped === true);

/** Predictions for every modelled VMA of every observed process. */
export function predict(s: State): VmaPred[] {
  const out: VmaPred[] = [];
  const folios = folioIndex(s);
  for (const p of s.procs) {
    if (!observed(p)) continue;
    for (const v of p.vmas) {
      const pages = v.ptes.map((_t, i) => pagePred(s, v, i, folios));
      out.push({ proc: p, vma: v, pages, counters: counters(s, v, folios, pages) });
    }
  }
  return out;
}
