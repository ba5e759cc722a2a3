// The reference model's transition function: state + step -> next state and
// the set of allowed return values. Pure and deterministic. Every decision
// names the spec rule it follows, so a mismatch can cite it.
import { parseReclaim, parseShrinkmem } from './parse.js';
import {
  folioRefs, hasVmFile, isFileKind, isPrivate, isShmemKind, objMappers, proc, spanPages, vma,
  type Advice, type Pte, type Proc, type State, type Step, type Vma, type Why,
} from './state.js';

/** A return value: ok with an optional value, or an errno name. */
export type Ret = { ok: true; value?: number | bigint } | { ok: false; code: string };

export interface Expect {
  allowed: Ret[];
  rule: string;
  note: string;
}

export interface Applied {
  state: State;
  expect: Expect;
}

/** Steps whose reply carries facts the model learns: addresses and pids. */
export interface Reply {
  pid?: number;
  addr?: bigint;
}

const ok = (value?: number | bigint): Ret => (value === undefined ? { ok: true } : { ok: true, value });
const err = (code: string): Ret => ({ ok: false, code });
const expect = (allowed: Ret[], rule: string, note: string): Expect => ({ allowed, rule, note });
const UIO_MAXIOV = 1024;

/** The text the harness writes to /proc/PID/reclaim for a step; the model parses the same bytes. */
export function reclaimText(s: State, st: Extract<Step, { op: 'reclaim' }>): string {
  if (st.text !== undefined) return st.text;
  if (st.mode) return st.mode;
  const r = st.range!;
  const v = vma(s, st.target, r.m);
  const [a, b] = spanPages(v, r);
  const page = s.kernel.pageSize;
  return `0x${(v.start + BigInt(a * page)).toString(16)} ${(b - a) * page + (r.extraBytes ?? 0)}`;
}

/** The iovecs (address, length) of a process_madvise step, or null. */
export function iovecsOf(s: State, st: Extract<Step, { op: 'pmadvise' }>): Array<[bigint, number]> | null {
  if (!st.vec) return null;
  const page = s.kernel.pageSize;
  return st.vec.map((sp) => {
    const v = vma(s, st.target, sp.m);
    const [a, b] = spanPages(v, sp);
    return [v.start + BigInt(a * page + (sp.offset ?? 0)), sp.len ?? (b - a) * page];
  });
}

function clone(s: State): State {
  return structuredClone(s);
}

const why = (rule: string, note: string): Why => ({ rule, note });

function newFolio(s: State, zero = false): number {
  const id = s.nextFolio++;
  s.folios[id] = { id, lazy: false, redirtied: false, zero };
  return id;
}

/** Drops folios no PTE refers to any more. */
function gcFolios(s: State): void {
  const used = new Set<number>();
  for (const p of s.procs) if (p.state !== 'gone') for (const v of p.vmas) for (const t of v.ptes) if (t.t === 'anon' || t.t === 'swap') used.add(t.folio);
  for (const id of Object.keys(s.folios)) if (!used.has(Number(id))) delete s.folios[Number(id)];
}

// ---- faults -------------------------------------------------------------------

/** A read (or, with write, a write; with zero, a write of zero bytes) access to page i of v. */
function fault(s: State, v: Vma, i: number, write: boolean, zero = false): void {
  const t = v.ptes[i]!;
  if (t.t === 'hole') return;
  if (v.obj) {
    const o = s.objs[v.obj]!.pages[i]!;
    const cow = write && v.kind === 'file-private';
    if (t.t === 'anon' || t.t === 'swap') return privateAnon(s, v, i, write, zero);
    if (cow) {
      o.cached = true;
      v.anonVma = true;
      v.ptes[i] = { t: 'anon', folio: newFolio(s), why: why('§6.1 row 3', 'write to a private file page: COW copy (an anon folio in a file VMA)') };
      return;
    }
    o.cached = true;
    o.swapped = false;
    delete o.maybeSwapped;
    if (write && v.kind !== 'file-private') o.dirty = true;
    v.ptes[i] = { t: 'obj', why: why('§6.1', `${write ? 'write' : 'read'} fault maps the ${s.objs[v.obj]!.backing} page`) };
    if (v.kind === 'hugetlb') {
      // One fault maps the whole huge page (2 MiB: 512 pages, the subject aligns it); fork copies its PTEs.
      v.anonVma = true;
      const first = i - (i % 512);
      for (let j = first; j < Math.min(v.pages, first + 512); j++) if (v.ptes[j]!.t === 'none') v.ptes[j] = { t: 'obj', why: why('§6.1 row 7', 'one fault maps the whole huge page') };
    }
    if (!write && v.kind !== 'hugetlb') faultAround(s, v, i);
    return;
  }
  privateAnon(s, v, i, write, zero);
}

/**
 * A read fault on a page-cache or shmem page also maps the neighbours in a
 * 16-page window that are in the cache by then (mm/memory.c do_fault_around:
 * from the 64 KiB-aligned start, or the VMA's start if later, 16 pages on,
 * within the VMA and the page table); read-ahead may or may not have
 * finished, so each empty neighbour is 'around' until observed.
 */
function faultAround(s: State, v: Vma, i: number): void {
  const page = BigInt(s.kernel.pageSize);
  const base = Number(v.start / page);
  const abs = base + i;
  const fromAbs = Math.max(abs - (abs % 16), base, abs - (abs % 512));
  const from = fromAbs - base;
  const to = Math.min(fromAbs + 16, abs - (abs % 512) + 512, base + v.pages) - base;
  for (let j = from; j < to; j++) {
    const o = s.objs[v.obj!]!.pages[j]!;
    const possible = v.kind === 'file-private' || v.kind === 'file-shared' || (o.cached && !o.swapped) || o.maybeSwapped === true;
    if (j !== i && v.ptes[j]!.t === 'none' && possible) v.ptes[j] = { t: 'around', why: why('§6.1, mm/memory.c do_fault_around', 'a neighbouring read fault may have mapped it (fault-around)') };
  }
}

function privateAnon(s: State, v: Vma, i: number, write: boolean, zero = false): void {
  const t = v.ptes[i]!;
  if (t.t === 'none' || t.t === 'zero') {
    if (write) {
      v.anonVma = true;
      v.ptes[i] = { t: 'anon', folio: newFolio(s, zero), why: why('§6.1 row 1', 'written private anon page') };
    } else if (t.t === 'none') v.ptes[i] = { t: 'zero', why: why('§6.1 row 1b', 'read of never-written anon maps the zero page') };
    return;
  }
  if (t.t !== 'anon' && t.t !== 'swap') return;
  const f = t.folio;
  const refs = folioRefs(s, f);
  const others = refs.length - 1;
  if (t.t === 'swap' && s.folios[f]!.ksm && !refs.some((r) => r.pte.t === 'anon')) {
    // A KSM page that went out to swap comes back as an ordinary page at one
    // address; every other address gets a copy (mm/ksm.c ksm_might_need_to_copy).
    v.anonVma = true;
    v.ptes[i] = { t: 'anon', folio: newFolio(s, s.folios[f]!.zero), why: why('§6.1 row 9', 'a KSM page read back from swap: each address gets its own copy') };
    return;
  }
  if (write && others > 0) {
    v.ptes[i] = { t: 'anon', folio: newFolio(s, zero), why: why('§6.1 row 10', 'write to a shared anon page: COW copy') };
  } else {
    if (write && s.folios[f]!.lazy) s.folios[f]!.redirtied = true;
    if (write) s.folios[f]!.zero = zero;
    v.ptes[i] = { t: 'anon', folio: f, why: t.t === 'swap' ? why('§6.1', 'swap-in: contents read back') : t.why };
  }
}

// ---- reclaim of one page --------------------------------------------------------

type Engine = 'R' | 'PO';

/**
 * One page through the 6.12 reclaim engine. 'R' is /proc/PID/reclaim with
 * patch 4 (unmap from the target VMA only, A1); 'PO' is MADV_PAGEOUT, which
 * skips pages mapped more than once (§5.1).
 */
function reclaimPage(s: State, p: Proc, v: Vma, i: number, engine: Engine): void {
  const t = v.ptes[i]!;
  const col = engine === 'R' ? 'R' : 'PO';
  if (t.t === 'anon') {
    const f = s.folios[t.folio]!;
    const refs = folioRefs(s, t.folio);
    const present = refs.filter((r) => r.pte.t === 'anon');
    if (engine === 'PO' && present.length !== 1) {
      v.ptes[i] = { ...t, why: why('§6.1 row 10 (PO)', 'PAGEOUT skips a folio mapped more than once') };
      return;
    }
    if (present.some((r) => r.v.locked)) {
      v.ptes[i] = { ...t, why: why('§6.1 row 6', 'the page is mlocked through another mapping of it: unevictable') };
      return;
    }
    if (f.lazy) {
      if (f.redirtied) {
        f.lazy = f.redirtied = false;
        v.ptes[i] = { ...t, why: why('§6.1 row 12b', 'MADV_FREE page written again: remapped, swap-backed again') };
        return;
      }
      v.ptes[i] = { t: 'none', why: why('§6.1 row 12', 'clean MADV_FREE page is discarded, no swap needed') };
      gcFolios(s);
      return;
    }
    if (!s.swap) {
      v.ptes[i] = { ...t, why: why('§6.1 row 1 (no swap)', 'no swap: add_to_swap fails, the anon page stays') };
      return;
    }
    const mine = refs.filter((r) => r.v === v && r.p === p && r.pte.t === 'anon');
    const own = v.kind === 'file-private' ? '§6.1 row 3' : '§6.1 row 1';
    for (const r of mine) r.v.ptes[r.i] = { t: 'swap', folio: t.folio, why: why(present.length > mine.length ? '§6.1 row 10, A1 shared pages' : own, present.length > mine.length ? `${col}: only this process's PTE becomes a swap entry; the page stays in the swap cache for the other mapper` : `${col}: private anon page written to swap`) };
    return;
  }
  if (t.t !== 'obj') return;
  const o = s.objs[v.obj!]!;
  const pg = o.pages[i]!;
  const mappers = objMappers(s, o.name, i);
  if (engine === 'PO' && mappers.length !== 1) {
    v.ptes[i] = { ...t, why: why('§6.1 row 11 (PO)', 'PAGEOUT skips a page mapped by another process') };
    return;
  }
  if (mappers.some((m) => m.v.locked)) {
    v.ptes[i] = { ...t, why: why('§6.1 row 6', 'the page is mlocked through another mapping of it: unevictable') };
    return;
  }
  const last = mappers.length === 1;
  let note: Why;
  if (!last) note = why('§6.1 row 11, A1 shared pages', `${col}: only this process's PTE is removed; the page stays for the other mapper`);
  else if (o.backing === 'shmem' && !pg.dirty) {
    pg.cached = false;
    note = why('§6.1 row 5', `${col}: a shmem page never written is clean: dropped, not swapped`);
  } else if (o.backing === 'shmem') {
    if (s.swap) {
      pg.swapped = true;
      pg.cached = false;
      delete pg.maybeSwapped;
      note = why('§6.1 row 5', `${col}: shmem page written to shmem swap; pagemap shows 0, not a swap entry`);
    } else note = why('§6.1 row 5 (no swap)', `${col}: PTE removed, page kept in the shmem cache`);
  } else if (pg.dirty) note = why('§6.1 row 4b', `${col}: dirty page-cache page loses its PTE but stays cached and dirty`);
  else {
    pg.cached = false;
    note = why(v.kind === 'file-shared' ? '§6.1 row 4a' : '§6.1 row 2', `${col}: clean page-cache page dropped`);
  }
  v.ptes[i] = { t: 'none', why: note };
}

/** After reclaim touched a THP VMA: swapped out or split, AnonHugePages reads 0 (§6.1 rows 8, 8b; C.1 14'). */
function thpAfterReclaim(v: Vma): void {
  if (v.thp) v.thp = 'split';
}

// ---- /proc/PID/reclaim ------------------------------------------------------------

/** Which VMAs a keyword selects (A1 VMA selection): type by vm_file; hugetlb never. */
function selects(mode: 'file' | 'anon' | 'all', v: Vma): boolean {
  if (v.kind === 'hugetlb') return false;
  return mode === 'all' || (mode === 'file') === hasVmFile(v.kind);
}

function reclaimStep(s: State, st: Extract<Step, { op: 'reclaim' }>): Expect {
  if (!s.kernel.procReclaim) return expect([err('ENOENT')], 'A1 registration', 'the kernel has no /proc/PID/reclaim');
  const p = proc(s, st.target);
  if (p.state === 'gone') return expect([err('ENOENT')], '§6.2 reclaim', 'the pid no longer exists at open');
  const text = reclaimText(s, st);
  const parsed = parseReclaim(Buffer.from(text, 'latin1'), s.kernel.pageSize);
  if (!parsed.ok) return expect([err('EINVAL')], `A1 parsing: ${parsed.rule}`, 'the parser rejects this input');
  const ret = expect([ok(parsed.ret)], 'A1 return value', 'a parsed write returns count');
  if (p.state !== 'live') return expect(ret.allowed, '§6.2 reclaim', 'a task without an mm: count, no-op');
  const a = parsed.action;
  if (a.kind === 'noop') return ret;
  const page = BigInt(s.kernel.pageSize);
  if (a.kind === 'keyword') p.wholeProcess = true;
  for (const v of p.vmas) {
    let lo = 0;
    let hi = v.pages;
    if (a.kind === 'keyword') {
      if (!selects(a.which, v)) continue;
    } else {
      if (v.kind === 'hugetlb') continue;
      const end = v.start + BigInt(v.pages) * page;
      if (a.start >= end || a.start + a.len <= v.start) continue;
      lo = a.start > v.start ? Number((a.start - v.start) / page) : 0;
      hi = Math.min(v.pages, Number((a.start + a.len - v.start + page - 1n) / page));
    }
    if (v.locked) {
      for (let i = lo; i < hi; i++) if (v.ptes[i]!.t !== 'hole') v.ptes[i] = { ...v.ptes[i]!, why: why('§6.1 row 6', 'mlocked: unevictable, reclaim leaves it') } as Pte;
      continue;
    }
    for (let i = lo; i < hi; i++) reclaimPage(s, p, v, i, 'R');
    thpAfterReclaim(v);
  }
  gcFolios(s);
  return ret;
}

// ---- madvise and process_madvise --------------------------------------------------

/** madvise(2) semantics on pages [a, b) of one VMA by the engine of `advice` (§5.1). */
function adviseVma(s: State, p: Proc, v: Vma, a: number, b: number, advice: Advice, caller: 'self' | 'process_madvise'): Ret | undefined {
  // A range that is all hole meets no VMA: only the unmapped error (do_madvise).
  if (v.ptes.slice(a, b).every((t) => t.t === 'hole')) return err('ENOMEM');
  if ((advice === 'cold' || advice === 'pageout') && (v.locked || v.kind === 'hugetlb')) return err('EINVAL');
  if ((advice === 'dontneed' || advice === 'free') && v.locked) return err('EINVAL'); // hugetlb is allowed for DONTNEED (madvise_dontneed_free_valid_vma)
  if (advice === 'free' && v.kind !== 'anon-private') return err('EINVAL');
  let hole = false;
  for (let i = a; i < b; i++) {
    const t = v.ptes[i]!;
    if (t.t === 'hole') {
      hole = true;
      continue;
    }
    if (advice === 'pageout') reclaimPage(s, p, v, i, 'PO');
    else if (advice === 'dontneed') {
      if (t.t !== 'none') v.ptes[i] = { t: 'none', why: why(caller === 'self' ? 'madvise(2)' : 'A2 MADV_DONTNEED', 'MADV_DONTNEED zaps the PTE') };
    } else if (advice === 'free') {
      if (t.t === 'swap') v.ptes[i] = { t: 'none', why: why('§6.1 row 12', 'MADV_FREE drops a swap entry') };
      else if (t.t === 'anon' && folioRefs(s, t.folio).length === 1) {
        s.folios[t.folio]!.lazy = true;
        s.folios[t.folio]!.redirtied = false;
      }
    }
    // cold: deactivation only; willneed: read-ahead into the caches, no PTE change (§6.1 notes, §7.5)
  }
  if (advice === 'pageout') thpAfterReclaim(v);
  gcFolios(s);
  return hole ? err('ENOMEM') : undefined;
}

function pmadviseStep(s: State, st: Extract<Step, { op: 'pmadvise' }>): Expect {
  const flags = st.flags ?? 0;
  const known = s.kernel.pmadvRange ? 1 : 0;
  if (flags & ~known) return expect([err('EINVAL')], s.kernel.pmadvRange ? 'A2 PMADV_FLAG_RANGE' : '§5.4 (1)', 'unknown flag bits');
  // A NULL vector is vlen 0: nothing advised, 0 bytes (lib/iov_iter.c:1398).
  const vec = iovecsOf(s, st) ?? [];
  if (vec.length > UIO_MAXIOV) return expect([err('EINVAL')], '§5.4 (2)', 'vlen above UIO_MAXIOV (1024)');
  const p = proc(s, st.target);
  if (p.state === 'gone') return expect([err('ESRCH')], '§6.2 PM-DN', 'the target was reaped');
  const validAdvice = st.advice === 'cold' || st.advice === 'pageout' || st.advice === 'willneed' || (st.advice === 'dontneed' && s.kernel.pmadvRange);
  if (!validAdvice) return expect([err('EINVAL')], '§5.4 (4)', `MADV_${st.advice.toUpperCase()} is not accepted by process_madvise here`);
  const range = (flags & 1) === 1;
  if (st.advice === 'dontneed') {
    if (p.state === 'live') return expect([err('EINVAL')], 'A2 MADV_DONTNEED', 'the target is not exiting (task_will_free_mem)');
    if (range) {
      // What it zaps (0005: madvise_range_skip_vma): every VMA but the locked, hugetlb and PFN-map
      // ones, and shared file and shmem mappings, left to the exit path. ESRCH (mm already gone)
      // unmaps the same pages from every other mapper's point of view.
      // process_mrelease does not set MMF_OOM_SKIP (6.12 mm/oom_kill.c): after it, the same zap again.
      if (p.state === 'dying') {
        for (const v of p.vmas) {
          const shared = v.kind === 'anon-shared' || v.kind === 'memfd' || v.kind === 'file-shared';
          if (!v.locked && v.kind !== 'hugetlb' && !shared) adviseVma(s, p, v, 0, v.pages, 'dontneed', 'process_madvise');
        }
      }
      if (p.state === 'dying') p.zapped = true;
      return expect([ok(0n), err('ESRCH')], 'A2 MADV_DONTNEED, §6.2 PM-DN', 'dying target: zapped but for locked, hugetlb, shared file and shmem VMAs, or its mm is already gone');
    }
    // Without the range flag, madvise(MADV_DONTNEED) rules per iovec (A2), and the pages it zapped are observed.
    const r = iovecLoop(s, st, vec, p.label);
    if (p.state === 'dying') p.zapped = true;
    return expect([r.expect.allowed[0]!, err('ESRCH')], `A2 MADV_DONTNEED, ${r.expect.rule}`, `dying target: ${r.expect.note}, or its mm is already gone`);
  }
  if (p.state !== 'live') return expect([err('ESRCH')], '§6.2 PM-DN', 'the target has no mm');
  if (range) {
    p.wholeProcess = true;
    for (const v of p.vmas) if (!v.locked && v.kind !== 'hugetlb') adviseVma(s, p, v, 0, v.pages, st.advice, 'process_madvise');
    return expect([ok(0n)], 'A2 PMADV_FLAG_RANGE', 'the whole address space; locked and hugetlb VMAs skipped; returns 0');
  }
  return iovecLoop(s, st, vec, p.label).expect;
}

/** Each iovec through do_madvise; a failure returns the bytes of the iovecs before it (§5.4 (7, 8)). */
function iovecLoop(s: State, st: Extract<Step, { op: 'pmadvise' }>, vec: Array<[bigint, number]>, target: string): { expect: Expect } {
  const p = proc(s, target);
  const page = s.kernel.pageSize;
  let done = 0;
  for (let k = 0; k < vec.length; k++) {
    const [addr, len] = vec[k]!;
    const v = vma(s, target, st.vec![k]!.m);
    let r: Ret | undefined;
    if (addr % BigInt(page) !== 0n) r = err('EINVAL');
    else if (len > 0) {
      const a = Number((addr - v.start) / BigInt(page));
      r = adviseVma(s, p, v, a, Math.min(v.pages, a + Math.ceil(len / page)), st.advice, 'process_madvise');
    }
    if (r && !r.ok) {
      if (done > 0) return { expect: expect([ok(BigInt(done))], '§5.4 (7, 8)', `iovec ${k} failed (${r.code}): the bytes of the earlier iovecs`) };
      return { expect: expect([r], r.code === 'ENOMEM' ? '§5.4 (8), C.3 5' : '§5.1, §6.1 rows 6-7', r.code === 'ENOMEM' ? 'the range has a hole (mapped pages are still advised)' : 'mlocked or hugetlb VMA, or an unaligned address') };
    }
    done += len;
  }
  return { expect: expect([ok(BigInt(vec.reduce((n, [, len]) => n + len, 0)))], '§5.4', 'the sum of the iovec lengths as passed') };
}

// ---- the transition function ---------------------------------------------------------

export function apply(s0: State, st: Step, reply: Reply = {}): Applied {
  const s = clone(s0);
  // A zapped dying process is observed in its step's own batch only: later it may be mid-exit.
  for (const p of s.procs) delete p.zapped;
  // A global reclaim widens its own step's predictions only (compare() adopts what it saw).
  delete s.globalReclaim;
  const done = (e: Expect): Applied => {
    gcFolios(s);
    return { state: s, expect: e };
  };
  const fine = (note: string) => done(expect([ok()], '-', note));
  switch (st.op) {
    case 'spawn':
      s.procs.push({ label: st.p, pid: reply.pid ?? 0, uid: st.uid ?? 0, state: 'live', vmas: [], wholeProcess: false });
      return fine('a new subject');
    case 'fork': {
      const parent = proc(s, st.p);
      const vmas = parent.vmas.map((v): Vma => {
        // Fork copies PTEs only of VMAs with an anon_vma; mlock is not inherited (mm/memory.c vma_needs_copy).
        const copy = v.anonVma && isPrivate(v.kind);
        const shared = why('§6.1 row 10', 'COW-shared with the other process since fork');
        if (copy) v.ptes.forEach((t, i) => (t.t === 'anon' || t.t === 'swap') && (v.ptes[i] = { ...t, why: shared }));
        return { ...v, locked: false, ptes: v.ptes.map((t) => (t.t === 'hole' ? t : copy ? (t.t === 'anon' || t.t === 'swap' ? { ...t, why: shared } : { ...t }) : { t: 'none' as const })) };
      });
      s.procs.push({ label: st.child, pid: reply.pid ?? 0, uid: parent.uid, state: 'live', parent: st.p, vmas, wholeProcess: false });
      return fine('fork: private pages become COW-shared');
    }
    case 'map': {
      const p = proc(s, st.p);
      const pages = st.pages;
      let obj: string | undefined;
      if (st.kind !== 'anon-private') {
        obj = isFileKind(st.kind) ? `file:${st.file ?? `${st.p}.${st.m}`}` : `${st.kind}:${st.p}.${st.m}`;
        if (!(st.keep && s.objs[obj])) s.objs[obj] = { name: obj, backing: isFileKind(st.kind) ? 'file' : isShmemKind(st.kind) ? 'shmem' : 'hugetlb', pages: Array.from({ length: pages }, () => ({ cached: false, dirty: false, swapped: false })) };
      }
      const v: Vma = { label: st.m, kind: st.kind, start: reply.addr ?? 0n, pages, locked: false, thp: st.thp ? 'unknown' : null, anonVma: false, obj, ptes: Array.from({ length: pages }, () => ({ t: 'none' as const })) };
      p.vmas.push(v);
      if (st.locked) lockVma(s, v);
      return fine('a new mapping');
    }
    case 'unmap': {
      const v = vma(s, st.p, st.span.m);
      const [a, b] = spanPages(v, st.span);
      for (let i = a; i < b; i++) v.ptes[i] = { t: 'hole' };
      if (v.ptes.every((t) => t.t === 'hole')) proc(s, st.p).vmas = proc(s, st.p).vmas.filter((x) => x !== v);
      gcFolios(s);
      return fine('munmap');
    }
    case 'touch': {
      const v = vma(s, st.p, st.span.m);
      const [a, b] = spanPages(v, st.span);
      // 'write' reads each page first (the subject checks what is there), then writes it.
      for (let i = a; i < b; i++) {
        if (st.how === 'write') fault(s, v, i, false);
        fault(s, v, i, st.how !== 'read', st.how === 'zero');
      }
      if (st.how !== 'read' && v.thp === 'pmd' && (a > 0 || b < v.pages)) v.thp = 'unknown';
      return fine(`${st.how} access`);
    }
    case 'madvise': {
      const p = proc(s, st.p);
      const v = vma(s, st.p, st.span.m);
      const [a, b] = spanPages(v, st.span);
      const r = adviseVma(s, p, v, a, b, st.advice, 'self');
      return done(r ? expect([r], 'madvise(2)', 'the advice is refused for this VMA') : expect([ok()], 'madvise(2)', `MADV_${st.advice.toUpperCase()}`));
    }
    case 'merge': {
      vma(s, st.p, st.m).mergeable = true;
      // ksmd merges identical anon pages of every mergeable VMA into one KSM folio: here, the zero-filled ones.
      const refs: Array<{ v: Vma; i: number }> = [];
      for (const p of s.procs) if (p.state === 'live') for (const v of p.vmas) if (v.mergeable) v.ptes.forEach((t, i) => t.t === 'anon' && s.folios[t.folio]!.zero && refs.push({ v, i }));
      if (refs.length > 1) {
        const k = (refs[0]!.v.ptes[refs[0]!.i] as { folio: number }).folio;
        s.folios[k]!.ksm = true;
        for (const r of refs) r.v.ptes[r.i] = { t: 'anon', folio: k, why: why('§6.1 row 9', 'KSM merged the identical pages into one') };
      }
      return fine('MADV_MERGEABLE and ksmd scans');
    }
    case 'mlock':
      lockVma(s, vma(s, st.p, st.m));
      return fine('mlock populates and locks');
    case 'munlock':
      vma(s, st.p, st.m).locked = false;
      return fine('munlock');
    case 'reclaim':
      return done(reclaimStep(s, st));
    case 'pmadvise':
      return done(pmadviseStep(s, st));
    case 'kill': {
      const p = proc(s, st.p);
      if (p.state === 'live') p.state = 'dying';
      return fine('SIGKILL');
    }
    case 'mrelease': {
      const p = proc(s, st.p);
      if (st.flags) return done(expect([err('EINVAL')], '§2.5', 'flags must be 0'));
      if (p.state === 'gone') return done(expect([err('ESRCH')], '§2.5', 'the process was reaped'));
      if (p.state === 'live') return done(expect([err('EINVAL')], '§2.5, C.1 11', 'the process is not dying'));
      oomReap(p);
      p.zapped = true;
      return done(expect([ok(), err('ESRCH')], '§2.5, §7.4', 'dying: reaped now (0), or its mm is already gone (ESRCH)'));
    }
    case 'reap': {
      proc(s, st.p).state = 'gone';
      gcFolios(s);
      return fine('the process is gone; its mappings went with it');
    }
    case 'verify': {
      for (const v of proc(s, st.p).vmas) for (let i = 0; i < v.pages; i++) fault(s, v, i, false);
      return done(expect([ok(0)], '§6.1 re-access', 'every page reads back what was last written (0 bad pages)'));
    }
    case 'swap': {
      if (!st.on) {
        // swapoff brings every swapped page back: anon PTEs present again, shmem into its cache.
        for (const p of s.procs) for (const v of p.vmas) v.ptes.forEach((t, i) => t.t === 'swap' && (v.ptes[i] = { t: 'anon', folio: t.folio, why: why('§6.1', 'swapoff read the page back') }));
        for (const o of Object.values(s.objs)) for (const pg of o.pages) if (pg.swapped || pg.maybeSwapped) Object.assign(pg, { swapped: false, maybeSwapped: undefined, cached: true });
      }
      s.swap = st.on;
      return fine(st.on ? 'swapon' : 'swapoff');
    }
    case 'mthp':
      // Folio size changes no page's state: a large folio is split where a range ends inside it (§6.1 row 8b).
      return fine(`${st.kb} kB mTHP ${st.on ? 'on' : 'off'}`);
    case 'shrinkmem': {
      if (!s.kernel.shrinkmem) return done(expect([err('ENOENT')], 'A3', 'the kernel has no /dev/shrinkmem'));
      const r = parseShrinkmem(Buffer.from(st.text, 'latin1'));
      if (!r.ok) return done(expect([err('EINVAL')], `A3: ${r.rule}`, 'the parser rejects this input'));
      if (r.action.mb > 0n) globalReclaim(s);
      return done(expect([ok(r.ret)], 'A3 write', 'returns count'));
    }
  }
}

/**
 * __oom_reap_task_mm (§2.5): every VMA but hugetlb and VM_SHARED ones is unmapped whole, mlocked
 * ones too since 5.18 (a213e5cf71cb "mm/munlock: delete munlock_vma_pages_all(), allow oomreap");
 * a private file page loses its PTE and stays in the page cache.
 */
function oomReap(p: Proc): void {
  for (const v of p.vmas) {
    if (v.kind !== 'anon-private' && v.kind !== 'file-private') continue;
    v.ptes.forEach((t, i) => t.t !== 'hole' && t.t !== 'none' && (v.ptes[i] = { t: 'none', why: why('§2.5, §6.1 MR', 'process_mrelease unmaps every private VMA, mlocked ones too') }));
  }
}

/**
 * shrink_all_memory() takes evictable pages of every process (A3): the step's predictions widen
 * (predict.ts), a written shmem page out of every page table may have gone to swap, and a
 * PMD-mapped THP may have been split.
 */
function globalReclaim(s: State): void {
  s.globalReclaim = 'shrink_all_memory() may reclaim any evictable page of any process';
  if (s.swap) for (const o of Object.values(s.objs)) if (o.backing === 'shmem') for (const pg of o.pages) if (pg.dirty && !pg.swapped) pg.maybeSwapped = true;
  for (const p of s.procs) for (const v of p.vmas) if (v.thp === 'pmd') v.thp = 'unknown';
}

/** mlock/MAP_LOCKED: populate (write faults for private writable VMAs, which breaks COW) and lock (§6.1 row 6). */
function lockVma(s: State, v: Vma): void {
  for (let i = 0; i < v.pages; i++) fault(s, v, i, isPrivate(v.kind));
  if (v.kind === 'anon-private') v.anonVma = true;
  v.locked = true;
}
