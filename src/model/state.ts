// The reference model's state and step vocabulary. Pure data: no I/O.
// A step is what the harness does in the guest; the model replays it.
// Spec: §6.0 (operations), §6.1 (pages), §6.2 (returns), Part A.

export type Kind = 'anon-private' | 'anon-shared' | 'file-private' | 'file-shared' | 'memfd' | 'hugetlb';

/** The rule that last decided a page's state: the spec section and a short note. */
export interface Why {
  rule: string;
  note: string;
}

/** One page-table entry of a modelled VMA. */
export type Pte =
  | { t: 'none'; why?: Why }
  /** read fault on never-written private anon: the shared zero page (§6.1 row 1b) */
  | { t: 'zero'; why?: Why }
  /** present anon folio (private anon, or a COW copy in a private file VMA) */
  | { t: 'anon'; folio: number; why?: Why }
  /** swap entry of an anon folio; the folio may still be in the swap cache */
  | { t: 'swap'; folio: number; why?: Why }
  /** present page of the VMA's object (page cache, shmem, hugetlb) */
  | { t: 'obj'; why?: Why }
  /** a neighbour of a read fault that fault-around may or may not have mapped; the next observation decides */
  | { t: 'around'; why?: Why }
  /** unmapped by the subject: a hole */
  | { t: 'hole' };

export interface Folio {
  id: number;
  /** MADV_FREE'd and clean: reclaim discards it (§6.1 row 12) */
  lazy: boolean;
  /** written after MADV_FREE: the first reclaim remaps it (§6.1 row 12b) */
  redirtied: boolean;
  /** its contents are all zero bytes: what KSM merges here (§6.1 row 9) */
  zero: boolean;
  /** a KSM page (merged by ksmd) */
  ksm?: boolean;
}

/** A page of a file, shmem object or hugetlb object. */
export interface ObjPage {
  cached: boolean;
  dirty: boolean;
  /** shmem page on swap (§6.1 row 5) */
  swapped: boolean;
  /** a global reclaim (shrinkmem) may have put it on swap: not known until it is faulted in (A3) */
  maybeSwapped?: boolean;
}

export interface Obj {
  name: string;
  backing: 'file' | 'shmem' | 'hugetlb';
  pages: ObjPage[];
}

export interface Vma {
  label: string;
  kind: Kind;
  start: bigint;
  pages: number;
  locked: boolean;
  /**
   * THP requested (MADV_HUGEPAGE). 'pmd': PMD-mapped; 'split': just split or
   * swapped by reclaim; 'unknown': khugepaged may collapse it at any time (§7.6).
   */
  thp: 'pmd' | 'split' | 'unknown' | null;
  /** the VMA has an anon_vma (private, written once): fork copies its PTEs */
  anonVma: boolean;
  /** MADV_MERGEABLE: KSM may merge its identical pages */
  mergeable?: boolean;
  obj?: string;
  ptes: Pte[];
}

export interface Proc {
  label: string;
  pid: number;
  uid: number;
  /** dying: SIGKILLed, not yet reaped; gone: reaped */
  state: 'live' | 'dying' | 'zombie' | 'gone';
  parent?: string;
  vmas: Vma[];
  /** a whole-process step (keyword reclaim, PMADV_FLAG_RANGE) touched its other VMAs */
  wholeProcess: boolean;
  /** dying: process_madvise(MADV_DONTNEED) or process_mrelease() zapped it, and it is observed once more */
  zapped?: boolean;
}

/** What the kernel offers: the patched interfaces are optional (spec Part A). */
export interface Kernel {
  pageSize: number;
  procReclaim: boolean;
  pmadvRange: boolean;
  shrinkmem: boolean;
  /** uname -r; the version-dependent rules (versions.ts) follow it, and without it none apply */
  release?: string;
  cpus?: number;
  /** /sys/kernel/debug/fault_around_bytes; 65536 when unknown (mm/memory.c) */
  faultAroundBytes?: number;
}

export interface State {
  kernel: Kernel;
  swap: boolean;
  procs: Proc[];
  objs: Record<string, Obj>;
  folios: Record<number, Folio>;
  nextFolio: number;
  /**
   * Set for the one step of a global reclaim (shrinkmem): any evictable page may have gone, so
   * each page's prediction widens to what reclaim can make of it; the comparison after the step
   * takes what it saw as the new baseline (A3, §6.3).
   */
  globalReclaim?: string;
}

/** A part of a mapping: pages [first, first+count), or the whole mapping. */
export interface Span {
  m: string;
  first?: number;
  count?: number;
}

export type Advice = 'cold' | 'pageout' | 'willneed' | 'dontneed' | 'free';

/** The harness's step vocabulary: what the agent and the subject can be told to do. */
export type Step =
  | { op: 'spawn'; p: string; uid?: number }
  | { op: 'fork'; p: string; child: string }
  | { op: 'map'; p: string; m: string; kind: Kind; pages: number; locked?: boolean; thp?: boolean; file?: string; keep?: boolean }
  | { op: 'unmap'; p: string; span: Span }
  /** zero: write zero bytes (private anon only): identical pages for KSM */
  | { op: 'touch'; p: string; span: Span; how: 'read' | 'write' | 'zero' }
  /** MADV_MERGEABLE on a mapping, then ksmd scans until it has merged what it can (§7.7) */
  | { op: 'merge'; p: string; m: string }
  /** madvise(2) by the subject on its own memory */
  | { op: 'madvise'; p: string; span: Span; advice: Advice }
  | { op: 'mlock' | 'munlock'; p: string; m: string }
  /** a write to /proc/PID/reclaim by root: a keyword, a range of a mapping, or raw text */
  | { op: 'reclaim'; target: string; mode?: 'file' | 'anon' | 'all'; range?: Span & { extraBytes?: number }; text?: string }
  /** process_madvise(pidfd, vec, advice, flags) by root; vec null with PMADV_FLAG_RANGE */
  | { op: 'pmadvise'; target: string; advice: Advice; vec: Array<Span & { len?: number; offset?: number }> | null; flags?: number }
  | { op: 'kill'; p: string }
  | { op: 'mrelease'; p: string; flags?: number }
  /** wait until a killed process is reaped */
  | { op: 'reap'; p: string }
  /** the subject reads every page and checks its pattern (data integrity) */
  | { op: 'verify'; p: string }
  | { op: 'swap'; on: boolean }
  | { op: 'shrinkmem'; text: string }
  /** anonymous mTHP of kb kB on ('always') or off ('never') for faults from here on; put back after the trace */
  | { op: 'mthp'; kb: number; on: boolean };

export const isFileKind = (k: Kind) => k === 'file-private' || k === 'file-shared';
export const isShmemKind = (k: Kind) => k === 'anon-shared' || k === 'memfd';
/** VMAs with vm_file: the historical 'file' selector (§1.2, §8.2). MAP_HUGETLB has one too. */
export const hasVmFile = (k: Kind) => k !== 'anon-private';
export const isPrivate = (k: Kind) => k === 'anon-private' || k === 'file-private' || k === 'hugetlb';

export function initialState(kernel: Kernel, swap: boolean): State {
  return { kernel, swap, procs: [], objs: {}, folios: {}, nextFolio: 1 };
}

export function proc(s: State, label: string): Proc {
  const p = s.procs.find((x) => x.label === label);
  if (!p) throw new Error(`model: no process '${label}'`);
  return p;
}

export function vma(s: State, p: string, m: string): Vma {
  const v = proc(s, p).vmas.find((x) => x.label === m);
  if (!v) throw new Error(`model: process '${p}' has no mapping '${m}'`);
  return v;
}

/** Page indices [first, first+count) of a span, clamped to the VMA. */
export function spanPages(v: Vma, sp: Span): [number, number] {
  const first = sp.first ?? 0;
  return [first, Math.min(v.pages, first + (sp.count ?? v.pages - first))];
}

/** Every PTE in every process that refers to folio f (present or swap). */
export function folioRefs(s: State, f: number): Array<{ p: Proc; v: Vma; i: number; pte: Pte }> {
  const out: Array<{ p: Proc; v: Vma; i: number; pte: Pte }> = [];
  for (const p of s.procs) {
    if (p.state === 'gone') continue;
    for (const v of p.vmas) v.ptes.forEach((pte, i) => (pte.t === 'anon' || pte.t === 'swap') && pte.folio === f && out.push({ p, v, i, pte }));
  }
  return out;
}

/** Whether some process may have page `idx` of `obj` mapped by fault-around (not known until observed). */
export function objMaybeMapped(s: State, obj: string, idx: number): boolean {
  return s.procs.some((p) => p.state !== 'gone' && p.vmas.some((v) => v.obj === obj && v.ptes[idx]?.t === 'around'));
}

/** Present PTEs mapping page `idx` of object `obj`. */
export function objMappers(s: State, obj: string, idx: number): Array<{ p: Proc; v: Vma; i: number }> {
  const out: Array<{ p: Proc; v: Vma; i: number }> = [];
  for (const p of s.procs) {
    if (p.state === 'gone') continue;
    for (const v of p.vmas) if (v.obj === obj && v.ptes[idx]?.t === 'obj') out.push({ p, v, i: idx });
  }
  return out;
}
