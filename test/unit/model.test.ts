// The reference model (src/model) against the behaviour spec
// (docs/spec.md), with no QEMU: every rule that
// apply() implements, what predict() makes of it, and how compare() explains
// an observation that breaks it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apply, iovecsOf, reclaimText, type Applied, type Reply, type Ret } from '../../src/model/apply.js';
import { bits, compare, describePred, retAllowed, showRet, type Observation, type PageObs } from '../../src/model/compare.js';
import { predict, predictProcs, type PagePred, type VmaPred } from '../../src/model/predict.js';
import { initialState, vma, type Kernel, type Kind, type State, type Step } from '../../src/model/state.js';
import { patchedEffects } from '../../src/model/effect.js';

// ---- helpers ---------------------------------------------------------------------

const PAGE = 4096;
/** pages per mapping, unless a test says otherwise */
const N = 4;
/** N pages in kB, as smaps counts them */
const KB = (N * PAGE) / 1024;
const BASE = 0x10000000n;
const STRIDE = 0x1000000n;

interface Opts {
  swap?: boolean;
  kernel?: Partial<Kernel>;
}

interface Run {
  /** the last step's result */
  a: Applied;
  s: State;
  preds: VmaPred[];
  all: Applied[];
}

function start(o: Opts = {}): State {
  return initialState({ pageSize: PAGE, procReclaim: true, pmadvRange: true, shrinkmem: true, ...o.kernel }, o.swap ?? true);
}

/** What the guest would answer: pids 100, 101, … in spawn/fork order; mappings at BASE + k*STRIDE. */
function replyFor(s: State, st: Step): Reply {
  if (st.op === 'spawn' || st.op === 'fork') return { pid: 100 + s.procs.length };
  if (st.op === 'map') {
    const starts = s.procs.flatMap((p) => p.vmas.map((v) => v.start));
    return { addr: starts.length ? starts.reduce((a, b) => (a > b ? a : b)) + STRIDE : BASE };
  }
  return {};
}

function run(steps: Step[], o: Opts = {}, from?: State): Run {
  let s = from ?? start(o);
  const all: Applied[] = [];
  for (const st of steps) {
    const a = apply(s, st, replyFor(s, st));
    all.push(a);
    s = a.state;
  }
  assert.ok(all.length > 0, 'run: no steps');
  return { a: all.at(-1)!, s, preds: predict(s), all };
}

type MapStep = Extract<Step, { op: 'map' }>;
const spawn = (p = 'P'): Step => ({ op: 'spawn', p });
const map = (m: string, kind: Kind, extra: Partial<MapStep> = {}): Step => ({ op: 'map', p: 'P', m, kind, pages: N, ...extra });
const touch = (m: string, how: 'read' | 'write' | 'zero', p = 'P', first?: number, count?: number): Step => ({ op: 'touch', p, span: { m, first, count }, how });
const fork = (p = 'P', child = 'C'): Step => ({ op: 'fork', p, child });
const madvise = (m: string, advice: 'free' | 'dontneed' | 'cold', p = 'P'): Step => ({ op: 'madvise', p, span: { m }, advice });
const reclaim = (mode: 'file' | 'anon' | 'all', target = 'P'): Step => ({ op: 'reclaim', target, mode });
const reclaimText_ = (text: string, target = 'P'): Step => ({ op: 'reclaim', target, text });
const pageout = (vec: Array<{ m: string; first?: number; count?: number; len?: number; offset?: number }> | null, flags?: number, target = 'P'): Step => ({ op: 'pmadvise', target, advice: 'pageout', vec, flags });
const kill = (p = 'P'): Step => ({ op: 'kill', p });
const reap = (p = 'P'): Step => ({ op: 'reap', p });

/** The §6.1 columns that touch pages: R keyword modes, R range, process_madvise(MADV_PAGEOUT). */
type Op = 'file' | 'anon' | 'all' | 'range' | 'PO';
const OPS: Op[] = ['file', 'anon', 'all', 'range', 'PO'];
const by = (op: Op, m = 'm', target = 'P'): Step =>
  op === 'PO' ? pageout([{ m }], undefined, target) : op === 'range' ? { op: 'reclaim', target, range: { m } } : reclaim(op, target);
/** The return value for `by(op)` on an N-page mapping at BASE: the bytes written, or the bytes advised. */
const okRet = (op: Op, pages = N) => (op === 'PO' ? `returns ${pages * PAGE}` : op === 'range' ? `returns ${`0x${BASE.toString(16)} ${pages * PAGE}`.length}` : `returns ${op.length}`);

function vp(r: { preds: VmaPred[] }, p: string, m: string): VmaPred {
  const x = r.preds.find((v) => v.proc.label === p && v.vma.label === m);
  assert.ok(x, `no prediction for ${p}/${m}`);
  return x;
}
const states = (r: Run, p: string, m: string) => vp(r, p, m).pages.map((x) => x.state);
const ptes = (s: State, p: string, m: string) => vma(s, p, m).ptes.map((t) => t.t);
const rets = (a: Applied) => a.expect.allowed.map(showRet);
const rep = <T>(n: number, x: T): T[] => Array<T>(n).fill(x);
const objOf = (s: State, p: string, m: string) => s.objs[vma(s, p, m).obj!]!;
const folioOf = (s: State, p: string, m: string, i: number) => {
  const t = vma(s, p, m).ptes[i]!;
  assert.ok(t.t === 'anon' || t.t === 'swap', `${p}/${m}[${i}] is ${t.t}, not an anon folio`);
  return t.folio;
};

/** A page observation exactly as the predictions allow: one PFN / swap offset per key. */
function observe(s: State, preds: VmaPred[]): Observation {
  const obs: Observation = {};
  const ids = new Map<string, bigint>();
  const idOf = (k: string) => {
    if (!ids.has(k)) ids.set(k, 0x40000n + BigInt(ids.size) * 0x10n);
    return ids.get(k)!;
  };
  const pageObs = (p: PagePred, i: number, where: string): PageObs => {
    if (p.state === 'none') return { present: false, swapped: false, file: false, exclusive: false };
    if (p.state === 'any') return { present: true, swapped: false, file: false, exclusive: true, pfn: idOf(`any ${where} ${i}`) };
    const present = p.state === 'present';
    const id = idOf(`${p.state}:${p.key ?? `${where} ${i}`}`);
    return {
      present,
      swapped: !present,
      file: p.file ?? false,
      exclusive: p.exclusive === true,
      ...(present ? { pfn: id } : { swapOffset: id }),
      mapcount: typeof p.mapcount === 'number' ? BigInt(p.mapcount) : null,
      zeroPage: p.zero ?? false,
    };
  };
  for (const v of preds) {
    const po = (obs[v.proc.label] ??= { pid: s.procs.find((p) => p.label === v.proc.label)!.pid, vmas: {} });
    po.vmas[v.vma.label] = {
      pages: v.pages.map((p, i) => pageObs(p, i, `${v.proc.label}/${v.vma.label}`)),
      smaps: Object.fromEntries(Object.entries(v.counters).map(([k, allowed]) => [k, allowed![0]!])),
    };
  }
  return obs;
}
const page = (o: Observation, p: string, m: string, i: number) => o[p]!.vmas[m]!.pages[i]!;

// ---- §6.1 matrix ---------------------------------------------------------------------

/** The counters every VMA kind predicts (Swap, Rss, Anonymous); the others are tested on their own. */
const core = (c: Record<string, number[] | undefined>) => Object.fromEntries(Object.entries(c).filter(([k]) => ['Swap', 'Rss', 'Anonymous'].includes(k)));

test('§6.1 row 1, swap: written private anon is swapped by R anon/all/range and PO (P0 S1 F0 X0, Swap +, Rss −); R file leaves it', () => {
  for (const op of OPS) {
    const r = run([spawn(), map('m', 'anon-private'), touch('m', 'write'), by(op)]);
    assert.deepEqual(rets(r.a), [okRet(op)], op);
    const v = vp(r, 'P', 'm');
    if (op === 'file') {
      assert.deepEqual(states(r, 'P', 'm'), rep(N, 'present'), op);
      assert.deepEqual(core(v.counters), { Swap: [0], Rss: [KB], Anonymous: [KB] }, op);
      assert.equal(v.pages[0]!.exclusive, true);
      assert.equal(v.pages[0]!.mapcount, 1);
      continue;
    }
    assert.deepEqual(states(r, 'P', 'm'), rep(N, 'swapped'), op);
    assert.deepEqual(ptes(r.s, 'P', 'm'), rep(N, 'swap'), op);
    assert.deepEqual({ file: v.pages[0]!.file, exclusive: v.pages[0]!.exclusive }, { file: false, exclusive: false }, op);
    assert.equal(v.pages[0]!.why.rule, '§6.1 row 1', op);
    assert.match(v.pages[0]!.why.note, op === 'PO' ? /^PO: private anon page written to swap/ : /^R: private anon page written to swap/, op);
    assert.deepEqual(core(v.counters), { Swap: [KB], Rss: [0], Anonymous: [0] }, op);
    // distinct folios, distinct keys: four pages, four swap slots
    assert.equal(new Set(v.pages.map((p) => p.key)).size, N, op);
  }
});

test('§6.1 row 1, no swap: the anon page stays (add_to_swap fails), for every column', () => {
  for (const op of OPS) {
    const r = run([spawn(), map('m', 'anon-private'), touch('m', 'write'), by(op)], { swap: false });
    assert.deepEqual(rets(r.a), [okRet(op)], op);
    assert.deepEqual(states(r, 'P', 'm'), rep(N, 'present'), op);
    assert.deepEqual(core(vp(r, 'P', 'm').counters), { Swap: [0], Rss: [KB], Anonymous: [KB] }, op);
    assert.equal(vp(r, 'P', 'm').pages[0]!.why.rule, op === 'file' ? '§6.1 row 1' : '§6.1 row 1 (no swap)', op);
  }
});

test('§6.1 row 1b: never-written private anon (zero page) is skipped by every column', () => {
  for (const op of OPS) {
    const r = run([spawn(), map('m', 'anon-private'), touch('m', 'read'), by(op)]);
    assert.deepEqual(rets(r.a), [okRet(op)], op);
    assert.deepEqual(ptes(r.s, 'P', 'm'), rep(N, 'zero'), op);
    for (const p of vp(r, 'P', 'm').pages) {
      assert.deepEqual({ state: p.state, zero: p.zero, file: p.file, exclusive: p.exclusive, key: p.key }, { state: 'present', zero: true, file: false, exclusive: false, key: 'zero' }, op);
      assert.equal(p.why.rule, '§6.1 row 1b', op);
    }
    assert.deepEqual(core(vp(r, 'P', 'm').counters), { Swap: [0], Rss: [0], Anonymous: [0] }, op);
    assert.equal(Object.keys(r.s.folios).length, 0, 'the zero page is no folio');
  }
});

test('§6.1 row 2: clean private file page, only mapper: dropped by R file/all/range and PO, untouched by R anon', () => {
  for (const op of OPS) {
    const r = run([spawn(), map('m', 'file-private'), touch('m', 'read'), by(op)]);
    assert.deepEqual(rets(r.a), [okRet(op)], op);
    const o = objOf(r.s, 'P', 'm');
    if (op === 'anon') {
      assert.deepEqual(states(r, 'P', 'm'), rep(N, 'present'));
      const p = vp(r, 'P', 'm').pages[0]!;
      assert.deepEqual({ file: p.file, exclusive: p.exclusive, mapcount: p.mapcount, key: p.key }, { file: true, exclusive: true, mapcount: 1, key: 'file:P.m page 0' });
      assert.ok(o.pages.every((g) => g.cached));
      continue;
    }
    assert.deepEqual(states(r, 'P', 'm'), rep(N, 'none'), op);
    assert.ok(o.pages.every((g) => !g.cached && !g.dirty), `${op}: page-cache page freed`);
    assert.equal(vp(r, 'P', 'm').pages[0]!.why.rule, '§6.1 row 2', op);
    assert.deepEqual(core(vp(r, 'P', 'm').counters), { Swap: [0], Rss: [0], Anonymous: [0] }, op);
  }
});

test('§6.1 row 3: COWed private file page (anon folio in a file VMA): R file/all/range and PO swap it, R anon leaves it; no swap: kept', () => {
  for (const swap of [true, false]) {
    for (const op of OPS) {
      const r = run([spawn(), map('m', 'file-private'), touch('m', 'write'), by(op)], { swap });
      const tag = `${op}, swap ${swap}`;
      assert.deepEqual(rets(r.a), [okRet(op)], tag);
      if (op === 'anon' || !swap) {
        assert.deepEqual(states(r, 'P', 'm'), rep(N, 'present'), tag);
        const p = vp(r, 'P', 'm').pages[0]!;
        assert.deepEqual({ file: p.file, exclusive: p.exclusive }, { file: false, exclusive: true }, `${tag}: a COW copy is anon (F0)`);
        if (op === 'anon') assert.equal(p.why.rule, '§6.1 row 3', tag);
        assert.deepEqual(core(vp(r, 'P', 'm').counters), { Swap: [0], Rss: [KB], Anonymous: [KB] }, tag);
        continue;
      }
      assert.deepEqual(states(r, 'P', 'm'), rep(N, 'swapped'), tag);
      assert.deepEqual(core(vp(r, 'P', 'm').counters), { Swap: [KB], Rss: [0], Anonymous: [0] }, tag);
    }
  }
});

test('§6.1 row 4a: clean MAP_SHARED file page: dropped by R file/all/range and PO, untouched by R anon', () => {
  for (const op of OPS) {
    const r = run([spawn(), map('m', 'file-shared'), touch('m', 'read'), by(op)]);
    assert.deepEqual(rets(r.a), [okRet(op)], op);
    const o = objOf(r.s, 'P', 'm');
    if (op === 'anon') {
      assert.deepEqual(states(r, 'P', 'm'), rep(N, 'present'));
      assert.equal(vp(r, 'P', 'm').pages[0]!.file, true);
      continue;
    }
    assert.deepEqual(states(r, 'P', 'm'), rep(N, 'none'), op);
    assert.ok(o.pages.every((g) => !g.cached), op);
    assert.equal(vp(r, 'P', 'm').pages[0]!.why.rule, '§6.1 row 4a', op);
  }
});

test('§6.1 row 4b: dirty MAP_SHARED file page: the PTE goes, the page stays cached and dirty (with or without swap)', () => {
  for (const swap of [true, false]) {
    for (const op of OPS) {
      const r = run([spawn(), map('m', 'file-shared'), touch('m', 'write'), by(op)], { swap });
      const tag = `${op}, swap ${swap}`;
      assert.deepEqual(rets(r.a), [okRet(op)], tag);
      const o = objOf(r.s, 'P', 'm');
      assert.ok(o.pages.every((g) => g.cached && g.dirty && !g.swapped), `${tag}: cached and dirty`);
      if (op === 'anon') {
        assert.deepEqual(states(r, 'P', 'm'), rep(N, 'present'), tag);
        continue;
      }
      assert.deepEqual(states(r, 'P', 'm'), rep(N, 'none'), tag);
      assert.equal(vp(r, 'P', 'm').pages[0]!.why.rule, '§6.1 row 4b', tag);
      assert.deepEqual(core(vp(r, 'P', 'm').counters), { Swap: [0], Rss: [0], Anonymous: [0] }, tag);
    }
  }
});

test('§6.1 row 5: shmem and memfd: pagemap none (not S1), smaps Swap rises with swap; without swap the page stays in the shmem cache', () => {
  for (const kind of ['anon-shared', 'memfd'] as const) {
    for (const swap of [true, false]) {
      for (const op of OPS) {
        const r = run([spawn(), map('m', kind), touch('m', 'write'), by(op)], { swap });
        const tag = `${kind} ${op}, swap ${swap}`;
        assert.deepEqual(rets(r.a), [okRet(op)], tag);
        const o = objOf(r.s, 'P', 'm');
        assert.equal(o.backing, 'shmem');
        if (op === 'anon') {
          assert.deepEqual(states(r, 'P', 'm'), rep(N, 'present'), `${tag}: has vm_file, not selected by anon`);
          assert.equal(vp(r, 'P', 'm').pages[0]!.file, true, tag);
          assert.deepEqual(core(vp(r, 'P', 'm').counters), { Swap: [0], Rss: [KB], Anonymous: [0] }, tag);
          continue;
        }
        assert.deepEqual(states(r, 'P', 'm'), rep(N, 'none'), tag);
        assert.equal(vp(r, 'P', 'm').pages[0]!.why.rule, swap ? '§6.1 row 5' : '§6.1 row 5 (no swap)', tag);
        if (swap) {
          assert.ok(o.pages.every((g) => g.swapped && !g.cached), tag);
          assert.deepEqual(core(vp(r, 'P', 'm').counters), { Swap: [KB], Rss: [0], Anonymous: [0] }, tag);
        } else {
          assert.ok(o.pages.every((g) => !g.swapped && g.cached), tag);
          assert.deepEqual(core(vp(r, 'P', 'm').counters), { Swap: [0], Rss: [0], Anonymous: [0] }, tag);
        }
      }
    }
  }
});

test('§6.1 row 6: an mlocked VMA is untouched by R (no error); process_madvise(PAGEOUT) gives EINVAL', () => {
  for (const how of ['MAP_LOCKED', 'mlock'] as const) {
    const setup: Step[] = how === 'MAP_LOCKED' ? [spawn(), map('m', 'anon-private', { locked: true }), touch('m', 'write')] : [spawn(), map('m', 'anon-private'), touch('m', 'write'), { op: 'mlock', p: 'P', m: 'm' }];
    for (const op of OPS) {
      const r = run([...setup, by(op)]);
      const tag = `${how} ${op}`;
      assert.deepEqual(states(r, 'P', 'm'), rep(N, 'present'), tag);
      assert.ok(vma(r.s, 'P', 'm').locked, tag);
      if (op === 'PO') {
        assert.deepEqual(rets(r.a), ['EINVAL'], tag);
        assert.equal(r.a.expect.rule, '§5.1, §6.1 rows 6-7');
        continue;
      }
      assert.deepEqual(rets(r.a), [okRet(op)], tag);
      if (op !== 'file') assert.equal(vp(r, 'P', 'm').pages[0]!.why.rule, '§6.1 row 6', tag);
    }
  }
  // munlock makes it reclaimable again
  const r = run([spawn(), map('m', 'anon-private', { locked: true }), { op: 'munlock', p: 'P', m: 'm' }, reclaim('anon')]);
  assert.deepEqual(states(r, 'P', 'm'), rep(N, 'swapped'));
});

test('§6.1 row 7: hugetlb is skipped by R in every mode (and by the range form); PAGEOUT gives EINVAL', () => {
  for (const op of OPS) {
    const r = run([spawn(), map('m', 'hugetlb'), touch('m', 'write'), by(op)]);
    assert.deepEqual(states(r, 'P', 'm'), rep(N, 'present'), op);
    assert.deepEqual(rets(r.a), [op === 'PO' ? 'EINVAL' : okRet(op)], op);
    const p = vp(r, 'P', 'm').pages[0]!;
    assert.deepEqual({ file: p.file, exclusive: p.exclusive, mapcount: p.mapcount, key: p.key }, { file: false, exclusive: 'any', mapcount: 'any', key: 'hugetlb:P.m page 0' }, op);
    assert.deepEqual(core(vp(r, 'P', 'm').counters), { Swap: [0] }, `${op}: no Rss/Anonymous prediction for hugetlb`);
  }
  // a range that covers a hugetlb VMA and an anon VMA: only the anon one is reclaimed
  const r = run([spawn(), map('h', 'hugetlb'), touch('h', 'write'), map('a', 'anon-private'), touch('a', 'write'), reclaimText_(`0x${BASE.toString(16)} ${STRIDE + BigInt(N * PAGE)}`)]);
  assert.deepEqual(states(r, 'P', 'h'), rep(N, 'present'));
  assert.deepEqual(states(r, 'P', 'a'), rep(N, 'swapped'));
});

test('§6.1 row 8: anon THP: AnonHugePages 0 or full before; after reclaim (swap) 512 × S1, Swap 2 MB, AnonHugePages 0; no swap: split, still present', () => {
  const T = 512;
  const setup = [spawn(), map('m', 'anon-private', { pages: T, thp: true }), touch('m', 'write')];
  const before = run(setup);
  assert.deepEqual(vp(before, 'P', 'm').counters.AnonHugePages, [0, 2048]);
  assert.equal(vp(before, 'P', 'm').pages[0]!.exclusive, 'any', 'PMD-mapped subpages: exclusive bit not predicted');
  assert.equal(vp(before, 'P', 'm').pages[0]!.mapcount, 'any');
  for (const swap of [true, false]) {
    for (const op of OPS) {
      const r = run([by(op)], {}, swap ? before.s : run(setup, { swap: false }).s);
      const tag = `${op}, swap ${swap}`;
      assert.deepEqual(rets(r.a), [okRet(op, T)], tag);
      const c = vp(r, 'P', 'm').counters;
      if (op === 'file') {
        assert.deepEqual(states(r, 'P', 'm'), rep(T, 'present'), tag);
        assert.deepEqual(c.AnonHugePages, [0, 2048], tag);
        assert.equal(vma(r.s, 'P', 'm').thp, 'unknown', tag);
        continue;
      }
      assert.equal(vma(r.s, 'P', 'm').thp, 'split', tag);
      assert.deepEqual(c.AnonHugePages, [0], tag);
      if (swap) {
        assert.deepEqual(states(r, 'P', 'm'), rep(T, 'swapped'), tag);
        assert.deepEqual(c.Swap, [2048], tag);
        assert.deepEqual(c.Rss, [0], tag);
      } else {
        assert.deepEqual(states(r, 'P', 'm'), rep(T, 'present'), tag);
        assert.deepEqual(c.Swap, [0], tag);
        assert.deepEqual(c.Rss, [2048], tag);
      }
    }
  }
  // 8b: a THP only partly in the range is split; only the covered half is reclaimed
  const r = run([{ op: 'reclaim', target: 'P', range: { m: 'm', first: 0, count: T / 2 } }], {}, before.s);
  assert.deepEqual(states(r, 'P', 'm'), [...rep(T / 2, 'swapped'), ...rep(T / 2, 'present')]);
  assert.deepEqual(vp(r, 'P', 'm').counters.AnonHugePages, [0]);
  assert.deepEqual(vp(r, 'P', 'm').counters.Swap, [1024]);
});

test('§6.1 row 10: COW-shared after fork: R on P leaves C present and exclusive; R on C then gives both the same swap key; PO skips in both', () => {
  const setup = [spawn(), map('m', 'anon-private'), touch('m', 'write'), fork()];
  const f = run(setup);
  for (let i = 0; i < N; i++) {
    const p = vp(f, 'P', 'm').pages[i]!;
    const c = vp(f, 'C', 'm').pages[i]!;
    assert.deepEqual({ state: p.state, exclusive: p.exclusive, mapcount: p.mapcount }, { state: 'present', exclusive: false, mapcount: 2 });
    assert.deepEqual({ state: c.state, exclusive: c.exclusive, mapcount: c.mapcount }, { state: 'present', exclusive: false, mapcount: 2 });
    assert.equal(p.key, c.key, 'one folio, one key');
  }

  const r1 = run([reclaim('anon', 'P')], {}, f.s);
  assert.deepEqual(states(r1, 'P', 'm'), rep(N, 'swapped'));
  assert.deepEqual(states(r1, 'C', 'm'), rep(N, 'present'));
  const c1 = vp(r1, 'C', 'm').pages[0]!;
  assert.deepEqual({ exclusive: c1.exclusive, mapcount: c1.mapcount }, { exclusive: true, mapcount: 1 }, 'C: X becomes 1, kpagecount 2 -> 1');
  assert.equal(vp(r1, 'P', 'm').pages[0]!.why.rule, '§6.1 row 10, A1 shared pages');
  assert.match(vp(r1, 'P', 'm').pages[0]!.why.note, /stays in the swap cache for the other mapper/);
  assert.equal(vp(r1, 'P', 'm').pages[0]!.key, c1.key, 'the swap entry and the present page are the same folio');
  assert.ok(r1.s.folios[folioOf(r1.s, 'C', 'm', 0)], 'the folio is still there (swap cache)');
  assert.deepEqual(core(vp(r1, 'P', 'm').counters), { Swap: [KB], Rss: [0], Anonymous: [0] });
  assert.deepEqual(core(vp(r1, 'C', 'm').counters), { Swap: [0], Rss: [KB], Anonymous: [KB] });

  const r2 = run([reclaim('anon', 'C')], {}, r1.s);
  assert.deepEqual(states(r2, 'P', 'm'), rep(N, 'swapped'));
  assert.deepEqual(states(r2, 'C', 'm'), rep(N, 'swapped'));
  for (let i = 0; i < N; i++) assert.equal(vp(r2, 'P', 'm').pages[i]!.key, vp(r2, 'C', 'm').pages[i]!.key, `page ${i}: one swap slot`);
  assert.equal(vp(r2, 'C', 'm').pages[0]!.why.rule, '§6.1 row 1', 'the last mapper writes it out');

  // PAGEOUT skips a folio mapped more than once, in either process
  const po = run([pageout([{ m: 'm' }], undefined, 'P'), pageout([{ m: 'm' }], undefined, 'C')], {}, f.s);
  assert.deepEqual(rets(po.all[0]!), ['returns 16384']);
  assert.deepEqual(rets(po.a), ['returns 16384']);
  for (const p of ['P', 'C']) {
    assert.deepEqual(states(po, p, 'm'), rep(N, 'present'), p);
    assert.equal(vp(po, p, 'm').pages[0]!.why.rule, '§6.1 row 10 (PO)', p);
    assert.equal(vp(po, p, 'm').pages[0]!.mapcount, 2, p);
  }

  // no swap: no change in either
  const ns = run([...setup, reclaim('anon', 'P')], { swap: false });
  assert.deepEqual(states(ns, 'P', 'm'), rep(N, 'present'));
  assert.deepEqual(states(ns, 'C', 'm'), rep(N, 'present'));
  assert.equal(vp(ns, 'C', 'm').pages[0]!.mapcount, 2);
});

test('§6.1 row 11: a file page mapped by two processes: R removes only the target PTE, the other keeps it; PO skips it', () => {
  const setup: Step[] = [
    spawn(), spawn('Q'), map('m', 'file-private', { file: 'shared' }), touch('m', 'read'),
    map('m', 'file-private', { p: 'Q', file: 'shared', keep: true }), touch('m', 'read', 'Q'),
  ];
  const f = run(setup);
  assert.equal(vma(f.s, 'P', 'm').obj, vma(f.s, 'Q', 'm').obj, 'one file');
  assert.deepEqual(vp(f, 'P', 'm').pages.map((p) => p.mapcount), rep(N, 2));
  assert.equal(vp(f, 'P', 'm').pages[0]!.key, vp(f, 'Q', 'm').pages[0]!.key);

  for (const op of ['file', 'all', 'range'] as const) {
    const r = run([by(op)], {}, f.s);
    assert.deepEqual(states(r, 'P', 'm'), rep(N, 'none'), op);
    assert.deepEqual(states(r, 'Q', 'm'), rep(N, 'present'), op);
    const q = vp(r, 'Q', 'm').pages[0]!;
    assert.deepEqual({ exclusive: q.exclusive, mapcount: q.mapcount }, { exclusive: true, mapcount: 1 }, op);
    assert.equal(vp(r, 'P', 'm').pages[0]!.why.rule, '§6.1 row 11, A1 shared pages', op);
    assert.ok(objOf(r.s, 'Q', 'm').pages.every((g) => g.cached), `${op}: the page stays for Q`);
    // the last mapper reclaims: now it is dropped (row 2)
    const last = run([by(op, 'm', 'Q')], {}, r.s);
    assert.deepEqual(states(last, 'Q', 'm'), rep(N, 'none'), op);
    assert.ok(objOf(last.s, 'Q', 'm').pages.every((g) => !g.cached), op);
    assert.equal(vp(last, 'Q', 'm').pages[0]!.why.rule, '§6.1 row 2', op);
  }
  const po = run([pageout([{ m: 'm' }])], {}, f.s);
  assert.deepEqual(rets(po.a), ['returns 16384']);
  assert.deepEqual(states(po, 'P', 'm'), rep(N, 'present'));
  assert.deepEqual(states(po, 'Q', 'm'), rep(N, 'present'));
  assert.equal(vp(po, 'P', 'm').pages[0]!.why.rule, '§6.1 row 11 (PO)');
  // R anon does not select the file VMA
  assert.deepEqual(states(run([reclaim('anon')], {}, f.s), 'P', 'm'), rep(N, 'present'));
});

test('§6.1 row 12: a clean MADV_FREE page is discarded by R anon/all/range and PO, even without swap', () => {
  for (const swap of [true, false]) {
    for (const op of OPS) {
      const r = run([spawn(), map('m', 'anon-private'), touch('m', 'write'), madvise('m', 'free'), by(op)], { swap });
      const tag = `${op}, swap ${swap}`;
      assert.deepEqual(rets(r.a), [okRet(op)], tag);
      if (op === 'file') {
        assert.deepEqual(states(r, 'P', 'm'), rep(N, 'present'), tag);
        assert.ok(r.s.folios[folioOf(r.s, 'P', 'm', 0)]!.lazy, `${tag}: still lazyfree`);
        continue;
      }
      assert.deepEqual(states(r, 'P', 'm'), rep(N, 'none'), tag);
      assert.equal(vp(r, 'P', 'm').pages[0]!.why.rule, '§6.1 row 12', tag);
      assert.deepEqual(core(vp(r, 'P', 'm').counters), { Swap: [0], Rss: [0], Anonymous: [0] }, tag);
      assert.equal(Object.keys(r.s.folios).length, 0, `${tag}: the folios are freed`);
      // a later read gives the zero page
      const v = run([{ op: 'verify', p: 'P' }], {}, r.s);
      assert.deepEqual(ptes(v.s, 'P', 'm'), rep(N, 'zero'), tag);
    }
  }
});

test('§6.1 row 12b: written again after MADV_FREE: the first reclaim remaps it, the second swaps it (no swap: stays)', () => {
  for (const swap of [true, false]) {
    const r = run([spawn(), map('m', 'anon-private'), touch('m', 'write'), madvise('m', 'free'), touch('m', 'write'), reclaim('anon')], { swap });
    assert.deepEqual(states(r, 'P', 'm'), rep(N, 'present'), `first pass, swap ${swap}`);
    assert.equal(vp(r, 'P', 'm').pages[0]!.why.rule, '§6.1 row 12b');
    const f = r.s.folios[folioOf(r.s, 'P', 'm', 0)]!;
    assert.deepEqual({ lazy: f.lazy, redirtied: f.redirtied }, { lazy: false, redirtied: false }, 'swap-backed again');
    const r2 = run([reclaim('anon')], {}, r.s);
    assert.deepEqual(states(r2, 'P', 'm'), rep(N, swap ? 'swapped' : 'present'), `second pass, swap ${swap}`);
  }
});

test('§6.1 range form: only pages in [ADDR, ADDR+SIZE), SIZE rounded up to pages, any VMA type the range meets', () => {
  const setup = [spawn(), map('m', 'anon-private', { pages: 8 }), touch('m', 'write')];
  const s0 = run(setup).s;
  const r = run([{ op: 'reclaim', target: 'P', range: { m: 'm', first: 2, count: 3 } }], {}, s0);
  assert.deepEqual(states(r, 'P', 'm'), ['present', 'present', 'swapped', 'swapped', 'swapped', 'present', 'present', 'present']);
  // one byte past a page: rounded up to the next page
  const st: Step = { op: 'reclaim', target: 'P', range: { m: 'm', first: 2, count: 1, extraBytes: 1 } };
  assert.equal(reclaimText(s0, st as Extract<Step, { op: 'reclaim' }>), '0x10002000 4097');
  const up = run([st], {}, s0);
  assert.deepEqual(rets(up.a), ['returns 15']);
  assert.deepEqual(states(up, 'P', 'm'), ['present', 'present', 'swapped', 'swapped', 'present', 'present', 'present', 'present']);
  // raw text: a range that ends inside page 0 of the second mapping (a file VMA) takes that page too
  const two = run([...setup, map('f', 'file-private'), touch('f', 'read'), reclaimText_(`0x10000000 ${Number(STRIDE) + 1}`)]);
  assert.deepEqual(states(two, 'P', 'm'), rep(8, 'swapped'));
  assert.deepEqual(states(two, 'P', 'f'), ['none', 'present', 'present', 'present']);
  // a range over nothing mapped: count, nothing changes
  const none = run([reclaimText_('0x40000000 4096')], {}, s0);
  assert.deepEqual(rets(none.a), ['returns 15']);
  assert.deepEqual(none.s, s0);
  // a range with a hole: the hole is ignored, no error
  const hole = run([{ op: 'unmap', p: 'P', span: { m: 'm', first: 3, count: 1 } }, { op: 'reclaim', target: 'P', range: { m: 'm' } }], {}, s0);
  assert.deepEqual(rets(hole.a), ['returns 16']);
  assert.deepEqual(ptes(hole.s, 'P', 'm'), ['swap', 'swap', 'swap', 'hole', 'swap', 'swap', 'swap', 'swap']);
});

test('A1 keyword modes: file selects every VMA with vm_file, anon only VMAs without, all both; the whole process is touched', () => {
  const r0 = run([
    spawn(), map('a', 'anon-private'), touch('a', 'write'), map('f', 'file-private'), touch('f', 'read'),
    map('s', 'anon-shared'), touch('s', 'write'), map('d', 'memfd'), touch('d', 'write'), map('w', 'file-shared'), touch('w', 'read'),
  ]);
  const expectFor: Record<'file' | 'anon' | 'all', Record<string, string>> = {
    file: { a: 'present', f: 'none', s: 'none', d: 'none', w: 'none' },
    anon: { a: 'swapped', f: 'present', s: 'present', d: 'present', w: 'present' },
    all: { a: 'swapped', f: 'none', s: 'none', d: 'none', w: 'none' },
  };
  for (const mode of ['file', 'anon', 'all'] as const) {
    const r = run([reclaim(mode)], {}, r0.s);
    for (const [m, st] of Object.entries(expectFor[mode])) assert.deepEqual(states(r, 'P', m), rep(N, st), `${mode} ${m}`);
    assert.equal(r.s.procs[0]!.wholeProcess, true);
  }
});

// ---- §6.2 and Part A: return values ------------------------------------------------------

test('§6.2, A1: /proc/PID/reclaim returns count; parse errors EINVAL (nothing reclaimed); SIZE 0 is a no-op; writes truncated at 199', () => {
  const s0 = run([spawn(), map('m', 'anon-private'), touch('m', 'write')]).s;
  const cases: Array<[string, string]> = [
    ['anon', 'returns 4'],
    [' all\n', 'returns 5'],
    ['ALL', 'EINVAL'],
    ['', 'EINVAL'],
    ['file anon', 'EINVAL'],
    ['0x10000001 4096', 'EINVAL'],
    ['0x10000000', 'EINVAL'],
    ['0x10000000\t4096', 'EINVAL'],
    ['0xfffffffffffff000 8192', 'EINVAL'],
    ['0x10000000 0', 'returns 12'],
    ['0x10000000  4096', 'returns 16'],
  ];
  for (const [text, want] of cases) {
    const r = run([reclaimText_(text)], {}, s0);
    assert.deepEqual(rets(r.a), [want], JSON.stringify(text));
    if (want === 'EINVAL') {
      assert.match(r.a.expect.rule, /^A1 parsing: /, text);
      assert.deepEqual(r.s, s0, `${JSON.stringify(text)}: nothing changes`);
    }
    if (text.startsWith('0x10000000 ') || text.startsWith('0x10000000  ')) assert.deepEqual(states(r, 'P', 'm'), rep(N, 'present'), `${text}: no-op`);
  }
  const long = run([reclaimText_(`anon${' '.repeat(300)}`)], {}, s0);
  assert.deepEqual(rets(long.a), ['returns 199']);
  assert.deepEqual(states(long, 'P', 'm'), rep(N, 'swapped'), 'the truncated text still parses as anon');
});

test('§6.2, A1: no /proc/PID/reclaim -> ENOENT; a reaped target ENOENT; a dying target: count, no-op', () => {
  const noFile = run([spawn(), map('m', 'anon-private'), touch('m', 'write'), reclaim('anon')], { kernel: { procReclaim: false } });
  assert.deepEqual(rets(noFile.a), ['ENOENT']);
  assert.equal(noFile.a.expect.rule, 'A1 registration');
  assert.deepEqual(states(noFile, 'P', 'm'), rep(N, 'present'));

  const reaped = run([spawn(), map('m', 'anon-private'), touch('m', 'write'), kill(), reap(), reclaim('anon')]);
  assert.deepEqual(rets(reaped.a), ['ENOENT']);
  assert.equal(reaped.a.expect.rule, '§6.2 reclaim');

  const dying = run([spawn(), map('m', 'anon-private'), touch('m', 'write'), kill(), reclaim('anon')]);
  assert.deepEqual(rets(dying.a), ['returns 4']);
  assert.deepEqual(ptes(dying.s, 'P', 'm'), rep(N, 'anon'), 'no-op');
  assert.equal(dying.preds.length, 0, 'no predictions for a process that is not live');
});

test('§5.4, A2: process_madvise flags: unknown bits EINVAL; flag 1 only with PMADV_FLAG_RANGE', () => {
  const setup = [spawn(), map('m', 'anon-private'), touch('m', 'write')];
  const noRange = run([...setup, pageout(null, 1)], { kernel: { pmadvRange: false } });
  assert.deepEqual(rets(noRange.a), ['EINVAL']);
  assert.equal(noRange.a.expect.rule, '§5.4 (1)');
  assert.deepEqual(states(noRange, 'P', 'm'), rep(N, 'present'));
  const two = run([...setup, pageout([{ m: 'm' }], 2)]);
  assert.deepEqual(rets(two.a), ['EINVAL']);
  assert.equal(two.a.expect.rule, 'A2 PMADV_FLAG_RANGE');
  assert.deepEqual(states(two, 'P', 'm'), rep(N, 'present'));
  const one = run([...setup, pageout(null, 1)]);
  assert.deepEqual(rets(one.a), ['returns 0']);
  assert.deepEqual(states(one, 'P', 'm'), rep(N, 'swapped'));
});

test('§5.4 (2): vlen above UIO_MAXIOV (1024) is EINVAL; 1024 iovecs are fine; vlen 0 returns 0', () => {
  const setup = [spawn(), map('m', 'anon-private'), touch('m', 'write')];
  const vec = (n: number) => Array.from({ length: n }, () => ({ m: 'm', first: 0, count: 1 }));
  const over = run([...setup, pageout(vec(1025))]);
  assert.deepEqual(rets(over.a), ['EINVAL']);
  assert.equal(over.a.expect.rule, '§5.4 (2)');
  assert.deepEqual(states(over, 'P', 'm'), rep(N, 'present'));
  const max = run([...setup, pageout(vec(1024))]);
  assert.deepEqual(rets(max.a), ['returns 4194304']);
  assert.deepEqual(states(max, 'P', 'm'), ['swapped', 'present', 'present', 'present']);
  const zero = run([...setup, pageout([])]);
  assert.deepEqual(rets(zero.a), ['returns 0']);
  // the limit holds with PMADV_FLAG_RANGE too: import_iovec still validates vec
  assert.deepEqual(rets(run([...setup, pageout(vec(1025), 1)]).a), ['EINVAL']);
});

test('§5.4 (4), A2: MADV_DONTNEED: EINVAL on a live target; {0, ESRCH} on a dying one; MADV_FREE always EINVAL', () => {
  const setup = [spawn(), map('m', 'anon-private'), touch('m', 'write')];
  const dn = (vec: Array<{ m: string }> | null, flags?: number): Step => ({ op: 'pmadvise', target: 'P', advice: 'dontneed', vec, flags });
  const live = run([...setup, dn(null, 1)]);
  assert.deepEqual(rets(live.a), ['EINVAL']);
  assert.equal(live.a.expect.rule, 'A2 MADV_DONTNEED');
  assert.deepEqual(states(live, 'P', 'm'), rep(N, 'present'), 'nothing zapped');
  assert.deepEqual(rets(run([...setup, dn([{ m: 'm' }])]).a), ['EINVAL']);
  // an unpatched kernel does not know DONTNEED here at all
  const upstream = run([...setup, dn([{ m: 'm' }])], { kernel: { pmadvRange: false } });
  assert.deepEqual(rets(upstream.a), ['EINVAL']);
  assert.equal(upstream.a.expect.rule, '§5.4 (4)');

  const dying = run([...setup, kill(), dn(null, 1)]);
  assert.deepEqual(rets(dying.a), ['returns 0', 'ESRCH']);
  const dyingVec = run([...setup, kill(), dn([{ m: 'm' }])]);
  assert.deepEqual(rets(dyingVec.a), ['returns 16384', 'ESRCH']);
  const reaped = run([...setup, kill(), reap(), dn(null, 1)]);
  assert.deepEqual(rets(reaped.a), ['ESRCH']);

  for (const kernel of [{ pmadvRange: true }, { pmadvRange: false }]) {
    const free = run([...setup, { op: 'pmadvise', target: 'P', advice: 'free', vec: [{ m: 'm' }] }], { kernel });
    assert.deepEqual(rets(free.a), ['EINVAL'], JSON.stringify(kernel));
    assert.equal(free.s.folios[folioOf(free.s, 'P', 'm', 0)]!.lazy, false, 'not made lazyfree');
  }
});

test('A2 (0005 madvise_range_skip_vma): MADV_DONTNEED with the range flag zaps a dying target but for locked, hugetlb, shared file and shmem VMAs, observed in its own batch only', () => {
  const dn: Step = { op: 'pmadvise', target: 'P', advice: 'dontneed', vec: null, flags: 1 };
  const kinds: Array<[string, Kind, Partial<MapStep>]> = [['a', 'anon-private', {}], ['f', 'file-private', { file: 'f' }], ['s', 'file-shared', { file: 's' }], ['h', 'anon-shared', {}], ['d', 'memfd', {}], ['l', 'anon-private', { locked: true }]];
  const setup = [spawn(), ...kinds.flatMap(([m, kind, extra]) => [map(m, kind, extra), touch(m, 'write')])];
  const r = run([...setup, kill(), dn]);
  assert.deepEqual(rets(r.a), ['returns 0', 'ESRCH']);
  for (const m of ['a', 'f']) assert.deepEqual(ptes(r.s, 'P', m), rep(N, 'none'), `${m} zapped`);
  for (const m of ['s', 'h', 'd', 'l']) assert.ok(!ptes(r.s, 'P', m).includes('none'), `${m} kept: ${ptes(r.s, 'P', m).join(' ')}`);
  assert.deepEqual([...new Set(r.preds.map((p) => p.proc.label))], ['P'], 'the dying target is observed in its batch');
  assert.deepEqual(run([reap('C')], {}, run([...setup, fork(), kill(), dn]).s).preds.map((p) => p.proc.label).filter((l) => l === 'P'), [], 'and not after');
  // process_mrelease reaped it first (§2.5: every private VMA, mlocked ones too; VM_SHARED kept);
  // DONTNEED then zaps the same VMAs again (process_mrelease sets no MMF_OOM_SKIP), and the target is observed after each.
  const mr = run([...setup, kill(), { op: 'mrelease', p: 'P' }]);
  for (const m of ['a', 'f', 'l']) assert.deepEqual(ptes(mr.s, 'P', m), rep(N, 'none'), `${m} reaped`);
  for (const m of ['s', 'h', 'd']) assert.ok(!ptes(mr.s, 'P', m).includes('none'), `${m} kept: ${ptes(mr.s, 'P', m).join(' ')}`);
  assert.deepEqual([...new Set(mr.preds.map((p) => p.proc.label))], ['P'], 'observed after process_mrelease');
  assert.deepEqual(rets(mr.a), ['ok', 'ESRCH']);
  const released = run([dn], {}, mr.s);
  assert.deepEqual(released.s.procs[0]!.vmas.map((v) => v.ptes), mr.s.procs[0]!.vmas.map((v) => v.ptes));
  assert.deepEqual([...new Set(released.preds.map((p) => p.proc.label))], ['P']);
});

test('A2: DONTNEED through iovecs on a dying target zaps exactly the pages of its iovecs, which are observed in the batch', () => {
  const setup = [spawn(), map('a', 'anon-private'), touch('a', 'write'), map('b', 'anon-private'), touch('b', 'write'), map('f', 'file-private'), touch('f', 'read')];
  const r = run([...setup, kill(), { op: 'pmadvise', target: 'P', advice: 'dontneed', vec: [{ m: 'a', first: 1, count: 2 }, { m: 'f' }] }]);
  assert.deepEqual(rets(r.a), [`returns ${(2 + N) * PAGE}`, 'ESRCH']);
  assert.deepEqual(states(r, 'P', 'a'), ['present', 'none', 'none', 'present']);
  assert.deepEqual(states(r, 'P', 'b'), rep(N, 'present'));
  assert.deepEqual(states(r, 'P', 'f'), rep(N, 'none'));
  // a kernel that returns the bytes and zaps nothing is caught
  const obs = observe(r.s, r.preds);
  Object.assign(page(obs, 'P', 'a', 1), { present: true, pfn: 0x5151n });
  assert.match(compare(r.s, r.preds, obs, '9: process_madvise').findings[0]?.explain ?? '', /should be unmapped but is present/);
});

test(
  'A2, §6.1 row 6 (PM-DN column): non-range MADV_DONTNEED on a dying target follows madvise rules per iovec (mlocked VMA: EINVAL; hole: ENOMEM)',
  () => {
    const locked = run([spawn(), map('l', 'anon-private', { locked: true }), kill(), { op: 'pmadvise', target: 'P', advice: 'dontneed', vec: [{ m: 'l' }] }]);
    assert.ok(rets(locked.a).includes('EINVAL'), `locked: ${rets(locked.a).join(', ')}`);
    assert.ok(!rets(locked.a).includes('returns 16384'), `locked: ${rets(locked.a).join(', ')}`);
    const hole = run([spawn(), map('m', 'anon-private'), touch('m', 'write'), { op: 'unmap', p: 'P', span: { m: 'm', first: 1, count: 1 } }, kill(), { op: 'pmadvise', target: 'P', advice: 'dontneed', vec: [{ m: 'm' }] }]);
    assert.ok(rets(hole.a).includes('ENOMEM'), `hole: ${rets(hole.a).join(', ')}`);
  },
);

test('§5.4 (7): an unaligned address is EINVAL as the first iovec; as a later one the call returns the bytes before it', () => {
  const setup = [spawn(), map('a', 'anon-private'), touch('a', 'write'), map('b', 'anon-private'), touch('b', 'write')];
  const first = run([...setup, pageout([{ m: 'a', offset: 1 }])]);
  assert.deepEqual(rets(first.a), ['EINVAL']);
  assert.deepEqual(states(first, 'P', 'a'), rep(N, 'present'));
  const iov = iovecsOf(first.all.at(-2)!.state, pageout([{ m: 'a', offset: 1 }]) as Extract<Step, { op: 'pmadvise' }>);
  assert.deepEqual(iov, [[BASE + 1n, N * PAGE]]);
  const second = run([...setup, pageout([{ m: 'a', first: 0, count: 2 }, { m: 'b', offset: 1 }])]);
  assert.deepEqual(rets(second.a), ['returns 8192']);
  assert.equal(second.a.expect.rule, '§5.4 (7, 8)');
  assert.deepEqual(states(second, 'P', 'a'), ['swapped', 'swapped', 'present', 'present']);
  assert.deepEqual(states(second, 'P', 'b'), rep(N, 'present'));
});

test('§5.4 (8), C.3 5: a hole gives ENOMEM, yet every mapped page of the range is paged out; after a good iovec, the bytes before it', () => {
  const setup = [spawn(), map('m', 'anon-private', { pages: 8 }), touch('m', 'write'), { op: 'unmap', p: 'P', span: { m: 'm', first: 3, count: 1 } } as Step];
  const r = run([...setup, pageout([{ m: 'm' }])]);
  assert.deepEqual(rets(r.a), ['ENOMEM']);
  assert.equal(r.a.expect.rule, '§5.4 (8), C.3 5');
  assert.deepEqual(ptes(r.s, 'P', 'm'), ['swap', 'swap', 'swap', 'hole', 'swap', 'swap', 'swap', 'swap']);
  assert.deepEqual(core(vp(r, 'P', 'm').counters), {}, 'a VMA split by a hole has no smaps prediction');
  // [2-page iovec, iovec over the hole] -> 8192 (C.1 10e)
  const two = run([spawn(), map('a', 'anon-private'), touch('a', 'write'), ...setup.slice(1), pageout([{ m: 'a', first: 0, count: 2 }, { m: 'm' }])]);
  assert.deepEqual(rets(two.a), ['returns 8192']);
  assert.deepEqual(states(two, 'P', 'a'), ['swapped', 'swapped', 'present', 'present']);
});

test('§5.4 (7, 8): a later iovec on an mlocked VMA fails; the call returns the bytes of the earlier iovecs', () => {
  const r = run([spawn(), map('a', 'anon-private'), touch('a', 'write'), map('l', 'anon-private', { locked: true }), map('b', 'anon-private'), touch('b', 'write'), pageout([{ m: 'a' }, { m: 'l' }, { m: 'b' }])]);
  assert.deepEqual(rets(r.a), ['returns 16384']);
  assert.deepEqual(states(r, 'P', 'a'), rep(N, 'swapped'));
  assert.deepEqual(states(r, 'P', 'l'), rep(N, 'present'));
  assert.deepEqual(states(r, 'P', 'b'), rep(N, 'present'), 'the walk stopped at the failing iovec');
});

test('§5.4, C.1 10e: len 5 returns 5 (the sum as passed, not rounded) and pages out the one page it touches; len 0 returns 0', () => {
  const setup = [spawn(), map('m', 'anon-private'), touch('m', 'write')];
  const r = run([...setup, pageout([{ m: 'm', len: 5 }])]);
  assert.deepEqual(rets(r.a), ['returns 5']);
  assert.deepEqual(states(r, 'P', 'm'), ['swapped', 'present', 'present', 'present']);
  const z = run([...setup, pageout([{ m: 'm', len: 0 }])]);
  assert.deepEqual(rets(z.a), ['returns 0']);
  assert.deepEqual(states(z, 'P', 'm'), rep(N, 'present'));
});

test('A2 PMADV_FLAG_RANGE: returns 0, whole address space, skips mlocked and hugetlb VMAs, holes are not errors', () => {
  const r = run([
    spawn(), map('a', 'anon-private', { pages: 8 }), touch('a', 'write'), { op: 'unmap', p: 'P', span: { m: 'a', first: 2, count: 1 } },
    map('l', 'anon-private', { locked: true }), map('h', 'hugetlb'), touch('h', 'write'), map('s', 'anon-shared'), touch('s', 'write'),
    pageout(null, 1),
  ]);
  assert.deepEqual(rets(r.a), ['returns 0']);
  assert.equal(r.a.expect.rule, 'A2 PMADV_FLAG_RANGE');
  assert.deepEqual(ptes(r.s, 'P', 'a'), ['swap', 'swap', 'hole', 'swap', 'swap', 'swap', 'swap', 'swap']);
  assert.deepEqual(ptes(r.s, 'P', 'l'), rep(N, 'anon'));
  assert.deepEqual(ptes(r.s, 'P', 'h'), rep(N, 'obj'));
  assert.deepEqual(states(r, 'P', 's'), rep(N, 'none'));
  assert.deepEqual(vp(r, 'P', 's').counters.Swap, [KB]);
  assert.equal(r.s.procs[0]!.wholeProcess, true);
});

test('§5.4: COLD and WILLNEED return the bytes and change no PTE; a reaped or dying target gives ESRCH', () => {
  const setup = [spawn(), map('m', 'anon-private'), touch('m', 'write')];
  for (const advice of ['cold', 'willneed'] as const) {
    const r = run([...setup, { op: 'pmadvise', target: 'P', advice, vec: [{ m: 'm' }] }]);
    assert.deepEqual(rets(r.a), ['returns 16384'], advice);
    assert.deepEqual(ptes(r.s, 'P', 'm'), rep(N, 'anon'), advice);
  }
  assert.deepEqual(rets(run([...setup, kill(), reap(), pageout([{ m: 'm' }])]).a), ['ESRCH']);
  assert.deepEqual(rets(run([...setup, kill(), pageout([{ m: 'm' }])]).a), ['ESRCH']);
});

test('§2.5 process_mrelease: flags EINVAL; live EINVAL; dying {0, ESRCH}; reaped ESRCH', () => {
  const setup = [spawn(), map('m', 'anon-private'), touch('m', 'write')];
  const flags = run([...setup, kill(), { op: 'mrelease', p: 'P', flags: 1 }]);
  assert.deepEqual(rets(flags.a), ['EINVAL']);
  assert.equal(flags.a.expect.rule, '§2.5');
  const live = run([...setup, { op: 'mrelease', p: 'P' }]);
  assert.deepEqual(rets(live.a), ['EINVAL']);
  assert.equal(live.a.expect.rule, '§2.5, C.1 11');
  const dying = run([...setup, kill(), { op: 'mrelease', p: 'P' }]);
  assert.deepEqual(rets(dying.a), ['ok', 'ESRCH']);
  const reaped = run([...setup, kill(), reap(), { op: 'mrelease', p: 'P' }]);
  assert.deepEqual(rets(reaped.a), ['ESRCH']);
});

test('A3 /dev/shrinkmem: parse errors EINVAL; returns count; 0 is a no-op; nonzero widens that one step; missing device ENOENT', () => {
  const setup = [spawn(), map('m', 'anon-private'), touch('m', 'write')];
  const s0 = run(setup).s;
  for (const text of ['abc', '', ' 1', '1x', '-1', '1\n\n', '99999999999999999999999']) {
    const r = run([{ op: 'shrinkmem', text }], {}, s0);
    assert.deepEqual(rets(r.a), ['EINVAL'], JSON.stringify(text));
    assert.match(r.a.expect.rule, /^A3: /);
    assert.equal(r.s.globalReclaim, undefined);
  }
  for (const [text, n] of [['0', 1], ['0\n', 2], ['+0x0', 4]] as const) {
    const r = run([{ op: 'shrinkmem', text }], {}, s0);
    assert.deepEqual(rets(r.a), [`returns ${n}`], text);
    assert.equal(r.s.globalReclaim, undefined, `${text}: no-op`);
    assert.deepEqual(states(r, 'P', 'm'), rep(N, 'present'));
  }
  const big = run([{ op: 'shrinkmem', text: '100\n' }], {}, s0);
  assert.deepEqual(rets(big.a), ['returns 4']);
  assert.match(big.s.globalReclaim ?? '', /shrink_all_memory/);
  assert.deepEqual(core(vp(big, 'P', 'm').counters).Rss, [0, 4, 8, 12, 16], 'bounded: from none of the pages to all of them');
  assert.deepEqual(rets(run([...setup, { op: 'shrinkmem', text: '1' }], { kernel: { shrinkmem: false } }).a), ['ENOENT']);
});

test('A3 /dev/shrinkmem: each page may become only what reclaim makes of it, and what was seen is the baseline after', () => {
  const steps = [
    spawn(), map('a', 'anon-private'), touch('a', 'write'), map('z', 'anon-private'), touch('z', 'read'), map('l', 'anon-private', { locked: true }),
    map('f', 'file-private'), touch('f', 'read'), map('s', 'anon-shared'), touch('s', 'write'), map('w', 'anon-private'), touch('w', 'write'), reclaim('anon'),
    touch('a', 'write'), touch('l', 'write'), touch('z', 'read'),
  ];
  const before = run(steps);
  const r = run([{ op: 'shrinkmem', text: '1' }], {}, before.s);
  const alt = (m: string) => vp(r, 'P', m).pages.map((x) => [x.state, x.orSwapped ?? false, x.orNone ?? false].join(' '));
  assert.deepEqual(alt('a'), rep(N, 'present true false'), 'written anon: present, or swapped');
  assert.deepEqual(alt('z'), rep(N, 'present false false'), 'the zero page is on no LRU');
  assert.deepEqual(alt('l'), rep(N, 'present false false'), 'mlocked: unevictable');
  assert.deepEqual(alt('w'), rep(N, 'swapped false false'), 'a swap entry stays one');
  assert.deepEqual(alt('f'), rep(N, 'present false true'), 'page cache: present, or unmapped');
  assert.deepEqual(alt('s'), rep(N, 'present false true'), 'shmem: present, or unmapped');
  assert.deepEqual(rets(run([{ op: 'shrinkmem', text: '1' }], { swap: false }, run(steps.slice(0, 3), { swap: false }).s).a), ['returns 1']);
  const noswap = run([{ op: 'shrinkmem', text: '1' }], {}, run(steps.slice(0, 3), { swap: false }).s);
  assert.deepEqual(vp(noswap, 'P', 'a').pages.map((x) => x.orSwapped ?? false), rep(N, false), 'no swap: an anon page cannot be swapped');
  // the kernel swapped half of 'a' and dropped all of 's' and 'f'
  const obs = observe(r.s, r.preds);
  for (const i of [0, 1]) Object.assign(page(obs, 'P', 'a', i), { present: false, swapped: true, pfn: undefined, swapOffset: 0x900n + BigInt(i) });
  for (const m of ['s', 'f']) for (let i = 0; i < N; i++) Object.assign(page(obs, 'P', m, i), { present: false, file: false });
  const v = compare(r.s, r.preds, obs, '17: shrinkmem "1"', predictProcs(r.s));
  assert.deepEqual(v.findings, []);
  // the step's counters are bounded both ways: they fall by at most what may go, and swap rises by at most that
  const pk = PAGE / 1024;
  const span = (to: number, st = pk) => Array.from({ length: to / st + 1 }, (_x, k) => k * st);
  assert.deepEqual(core(vp(r, 'P', 'a').counters), { Swap: span(KB), Rss: span(KB), Anonymous: span(KB) });
  assert.deepEqual(vp(r, 'P', 'a').counters.SwapPss, span(KB, 1));
  assert.deepEqual(core(vp(r, 'P', 'l').counters), { Swap: [0], Rss: [KB], Anonymous: [KB] }, 'mlocked: nothing may go');
  assert.deepEqual(core(vp(r, 'P', 'w').counters), { Swap: [KB], Rss: [0], Anonymous: [0] }, 'swap entries stay');
  assert.deepEqual(vp(r, 'P', 'f').counters.Rss, span(KB));
  const [pp] = predictProcs(r.s);
  assert.deepEqual(pp!.counters, { RssAnon: [KB, 2 * KB], RssFile: [0, KB], RssShmem: [0, KB], VmSwap: [KB, 2 * KB] });
  const mlockedGone = observe(r.s, r.preds);
  mlockedGone.P!.vmas.l!.smaps!.Rss = 0;
  mlockedGone.P!.status = { VmSize: 100 * KB, RssAnon: KB, RssFile: 0, RssShmem: 0, VmSwap: 200 * KB };
  const bad = compare(r.s, r.preds, mlockedGone, '17: shrinkmem "1"', predictProcs(r.s)).findings.map((f) => f.expected);
  assert.equal(bad.length, 2, bad.join('; '));
  assert.equal(bad[0], `smaps Rss ${KB} kB`);
  assert.match(bad[1]!, new RegExp(`^status VmSwap between ${KB} and \\d+ kB \\(the modelled VMAs hold ${KB} to ${2 * KB} kB`));
  assert.equal(v.state.globalReclaim, undefined, 'the widening is for the shrinkmem step only');
  assert.deepEqual(ptes(v.state, 'P', 'a'), ['swap', 'swap', 'anon', 'anon']);
  assert.deepEqual(ptes(v.state, 'P', 's'), rep(N, 'none'));
  // the next step is predicted in full from what was seen
  const next = run([touch('z', 'read')], {}, v.state);
  assert.deepEqual(states(next, 'P', 'a'), ['swapped', 'swapped', 'present', 'present']);
  assert.deepEqual(states(next, 'P', 'f'), rep(N, 'none'));
  // shmem pages out of the page tables may be in swap or still cached: smaps Swap from 0 to all of them
  assert.deepEqual(vp(next, 'P', 's').counters.Swap, [0, 4, 8, 12, 16]);
  assert.ok(next.preds.every((x) => x.pages.every((p) => !p.orSwapped)), 'nothing widened after the step');
  assert.ok(Object.values(predictProcs(next.s)[0]!.counters).every(([a, b]) => a === b), 'status counters exact after the step');
  // a page shrinkmem swapped that shows present one step later is a finding
  const later = observe(next.s, next.preds);
  Object.assign(page(later, 'P', 'a', 0), { present: true, swapped: false, pfn: 0x777n, exclusive: true });
  assert.equal(compare(next.s, next.preds, later, '18: touch P z read').findings.length, 1);
  // on the faulted-in shmem page, the maybe-swapped mark is gone
  const back = run([touch('s', 'read', 'P', 0, 1)], {}, v.state);
  assert.equal(objOf(back.s, 'P', 's').pages[0]!.maybeSwapped, undefined);
  assert.equal(objOf(back.s, 'P', 's').pages[1]!.maybeSwapped, true);
});

// ---- other transitions ---------------------------------------------------------------

test('swapoff brings swapped anon pages back present (same folio) and shmem pages back into its cache', () => {
  const r0 = run([spawn(), map('a', 'anon-private'), touch('a', 'write'), map('s', 'anon-shared'), touch('s', 'write'), fork(), reclaim('anon', 'P'), reclaim('anon', 'C'), reclaim('file', 'P')]);
  assert.deepEqual(states(r0, 'P', 'a'), rep(N, 'swapped'));
  assert.ok(objOf(r0.s, 'P', 's').pages.every((g) => g.swapped));
  const keys = vp(r0, 'P', 'a').pages.map((p) => p.key);
  const r = run([{ op: 'swap', on: false }], {}, r0.s);
  assert.equal(r.s.swap, false);
  assert.deepEqual(states(r, 'P', 'a'), rep(N, 'present'));
  assert.deepEqual(states(r, 'C', 'a'), rep(N, 'present'));
  assert.deepEqual(vp(r, 'P', 'a').pages.map((p) => p.key), keys, 'the same folios');
  assert.deepEqual(vp(r, 'C', 'a').pages.map((p) => p.mapcount), rep(N, 2), 'still COW-shared');
  assert.ok(objOf(r.s, 'P', 's').pages.every((g) => g.cached && !g.swapped));
  assert.deepEqual(vp(r, 'P', 's').counters.Swap, [0]);
  assert.deepEqual(states(r, 'P', 's'), rep(N, 'none'), 'swapoff does not map shmem pages');
  // reclaim after swapoff: anon stays
  assert.deepEqual(states(run([reclaim('anon')], {}, run([spawn(), map('m', 'anon-private'), touch('m', 'write'), { op: 'swap', on: false }]).s), 'P', 'm'), rep(N, 'present'));
});

test('fork copies PTEs only of written private VMAs (anon_vma); mlock is not inherited; reaping the partner makes pages exclusive', () => {
  const r = run([
    spawn(), map('w', 'anon-private'), touch('w', 'write'), map('z', 'anon-private'), touch('z', 'read'),
    map('f', 'file-private'), touch('f', 'read'), map('c', 'file-private'), touch('c', 'read'), touch('c', 'write', 'P', 0, 1),
    map('s', 'file-shared'), touch('s', 'read'), map('h', 'anon-shared'), touch('h', 'write'), map('l', 'anon-private', { locked: true }),
    fork(),
  ]);
  assert.deepEqual(rets(r.a), ['ok']);
  assert.equal(r.s.procs[1]!.pid, 101);
  assert.equal(r.s.procs[1]!.parent, 'P');
  assert.deepEqual(ptes(r.s, 'C', 'w'), rep(N, 'anon'));
  assert.deepEqual(ptes(r.s, 'C', 'z'), rep(N, 'none'), 'zero-page reads create no anon_vma');
  assert.deepEqual(ptes(r.s, 'C', 'f'), rep(N, 'none'), 'read-only private file: not copied');
  assert.deepEqual(ptes(r.s, 'C', 'c'), ['anon', 'obj', 'obj', 'obj'], 'a COWed private file VMA is copied whole');
  assert.deepEqual(ptes(r.s, 'C', 's'), rep(N, 'none'), 'shared file: not copied');
  assert.deepEqual(ptes(r.s, 'C', 'h'), rep(N, 'none'), 'shmem: not copied');
  assert.deepEqual(ptes(r.s, 'C', 'l'), rep(N, 'anon'));
  assert.equal(vma(r.s, 'C', 'l').locked, false, 'mlock is not inherited');
  assert.equal(vma(r.s, 'P', 'l').locked, true);
  assert.equal(folioOf(r.s, 'C', 'w', 0), folioOf(r.s, 'P', 'w', 0));
  assert.deepEqual(vp(r, 'C', 'c').pages.map((p) => p.mapcount), [2, 2, 2, 2]);

  // a write in the child breaks COW: a new folio; both sides exclusive again
  const w = run([touch('w', 'write', 'C', 0, 1)], {}, r.s);
  assert.notEqual(folioOf(w.s, 'C', 'w', 0), folioOf(w.s, 'P', 'w', 0));
  assert.equal(vp(w, 'C', 'w').pages[0]!.why.rule, '§6.1 row 10');
  assert.equal(vp(w, 'P', 'w').pages[0]!.exclusive, true);
  assert.equal(vp(w, 'P', 'w').pages[1]!.exclusive, false);

  // the partner dying: the exclusive bit is not predicted; reaped: exclusive again
  const k = run([kill('C')], {}, r.s);
  assert.deepEqual({ x: vp(k, 'P', 'w').pages[0]!.exclusive, n: vp(k, 'P', 'w').pages[0]!.mapcount }, { x: 'any', n: 'any' });
  const g = run([reap('C')], {}, k.s);
  assert.deepEqual({ x: vp(g, 'P', 'w').pages[0]!.exclusive, n: vp(g, 'P', 'w').pages[0]!.mapcount }, { x: true, n: 1 });
  assert.ok(!g.preds.some((p) => p.proc.label === 'C'));
});

test('mlock populates: write faults in private VMAs (breaking COW of a private file page), read faults in shared ones', () => {
  const r = run([spawn(), map('a', 'anon-private'), map('f', 'file-private'), touch('f', 'read'), map('s', 'file-shared'), { op: 'mlock', p: 'P', m: 'a' }, { op: 'mlock', p: 'P', m: 'f' }, { op: 'mlock', p: 'P', m: 's' }]);
  assert.deepEqual(ptes(r.s, 'P', 'a'), rep(N, 'anon'), 'anon populated with written pages, not the zero page');
  assert.ok(vma(r.s, 'P', 'a').anonVma);
  assert.deepEqual(ptes(r.s, 'P', 'f'), rep(N, 'anon'), 'private file: COW copies');
  assert.equal(vp(r, 'P', 'f').pages[0]!.why.rule, '§6.1 row 3');
  assert.equal(vp(r, 'P', 'f').pages[0]!.file, false);
  assert.ok(vma(r.s, 'P', 'f').anonVma);
  assert.ok(objOf(r.s, 'P', 'f').pages.every((g) => g.cached && !g.dirty));
  assert.deepEqual(ptes(r.s, 'P', 's'), rep(N, 'obj'));
  assert.ok(objOf(r.s, 'P', 's').pages.every((g) => g.cached && !g.dirty), 'a shared mapping is populated by read faults');
  for (const m of ['a', 'f', 's']) assert.ok(vma(r.s, 'P', m).locked, m);
});

test('verify re-reads every page: swapped and dropped pages come back, data intact (returns 0 bad pages)', () => {
  const r0 = run([spawn(), map('a', 'anon-private'), touch('a', 'write'), map('f', 'file-shared'), touch('f', 'read'), map('s', 'memfd'), touch('s', 'write'), reclaim('all')]);
  const keys = vp(r0, 'P', 'a').pages.map((p) => p.key);
  const r = run([{ op: 'verify', p: 'P' }], {}, r0.s);
  assert.deepEqual(rets(r.a), ['returns 0']);
  assert.deepEqual(states(r, 'P', 'a'), rep(N, 'present'));
  assert.deepEqual(vp(r, 'P', 'a').pages.map((p) => p.key), keys, 'swap-in brings back the same folio');
  assert.deepEqual(states(r, 'P', 'f'), rep(N, 'present'));
  assert.deepEqual(states(r, 'P', 's'), rep(N, 'present'));
  assert.ok(objOf(r.s, 'P', 's').pages.every((g) => g.cached && !g.swapped));
});

// ---- purity and determinism ------------------------------------------------------------

const SCENARIO: Step[] = [
  spawn(), spawn('Q'),
  map('a', 'anon-private'), touch('a', 'write'), map('z', 'anon-private'), touch('z', 'read'),
  map('f', 'file-private', { file: 'x' }), touch('f', 'read'), touch('f', 'write', 'P', 1, 2),
  map('f', 'file-private', { p: 'Q', file: 'x', keep: true }), touch('f', 'read', 'Q'),
  map('s', 'anon-shared'), touch('s', 'write'), map('d', 'file-shared'), touch('d', 'write'),
  map('l', 'anon-private', { locked: true }), map('h', 'hugetlb'), touch('h', 'write'),
  map('t', 'anon-private', { pages: 16, thp: true }), touch('t', 'write'),
  fork(), madvise('a', 'free', 'C'), touch('a', 'write', 'C', 0, 1), reclaim('anon', 'P'), reclaim('file', 'P'),
  pageout([{ m: 'a' }, { m: 't' }], undefined, 'C'), reclaimText_('0x10000000 8k', 'Q'), pageout(null, 1, 'Q'),
  { op: 'unmap', p: 'P', span: { m: 'a', first: 1, count: 1 } }, { op: 'swap', on: false }, { op: 'verify', p: 'C' },
  { op: 'munlock', p: 'P', m: 'l' }, kill('C'), { op: 'mrelease', p: 'C' }, reap('C'), { op: 'shrinkmem', text: '1' },
];

test('the model is deterministic: the same steps give deep-equal states, expectations and predictions', () => {
  const r1 = run(SCENARIO);
  const r2 = run(SCENARIO);
  assert.deepEqual(r1.s, r2.s);
  assert.deepEqual(r1.all.map((a) => a.expect), r2.all.map((a) => a.expect));
  // predictions of every intermediate state agree too
  for (let k = 0; k < r1.all.length; k++) assert.deepEqual(predict(r1.all[k]!.state), predict(r2.all[k]!.state), `step ${k}`);
  // and the scenario did something: a non-trivial end state
  assert.equal(r1.s.procs.length, 3);
  assert.ok(Object.keys(r1.s.folios).length > 0);
});

test('apply, predict and compare are pure: the input state is never mutated, the output shares nothing with it', () => {
  let s = start();
  for (const st of SCENARIO) {
    const before = structuredClone(s);
    const a = apply(s, st, replyFor(s, st));
    assert.deepEqual(s, before, `apply mutated its input at ${st.op}`);
    assert.notEqual(a.state, s);
    if (s.procs.length) {
      assert.notEqual(a.state.procs, s.procs);
      assert.notEqual(a.state.procs[0], s.procs[0]);
    }
    const preds = predict(a.state);
    const after = structuredClone(a.state);
    compare(a.state, preds, observe(a.state, preds), st.op);
    assert.deepEqual(a.state, after, `predict/compare mutated the state at ${st.op}`);
    s = a.state;
  }
  // mutating an output leaves the input alone
  const s0 = run([spawn(), map('m', 'anon-private'), touch('m', 'write')]).s;
  const copy = structuredClone(s0);
  const a = apply(s0, reclaim('anon'));
  vma(a.state, 'P', 'm').ptes[0] = { t: 'none' };
  a.state.folios[1]!.lazy = true;
  assert.deepEqual(s0, copy);
});

// ---- the comparator ------------------------------------------------------------------

const swappedRun = () => run([spawn(), map('m', 'anon-private'), touch('m', 'write'), reclaim('anon')]);
const forkRun = (reclaimP: boolean) => run([spawn(), map('m', 'anon-private'), touch('m', 'write'), fork(), ...(reclaimP ? [reclaim('anon', 'P')] : [])]);

test('compare (a): an observation inside every allowed set gives no findings, and the outcomes seen are listed for coverage', () => {
  const r = run([
    spawn(), map('a', 'anon-private'), touch('a', 'write'), map('z', 'anon-private'), touch('z', 'read'),
    map('f', 'file-private'), touch('f', 'read'), map('s', 'anon-shared'), touch('s', 'write'),
    map('t', 'anon-private', { pages: 512, thp: true }), touch('t', 'write'), map('l', 'anon-private', { locked: true }),
    fork(), reclaim('all', 'P'),
  ]);
  const obs = observe(r.s, r.preds);
  const v = compare(r.s, r.preds, obs, '14: reclaim P all');
  assert.deepEqual(v.findings, []);
  assert.ok(v.seen.length > 0);
  for (const s of ['§6.1 row 10, A1 shared pages: swapped', '§6.1 row 1b: present', '§6.1 row 2: none', '§6.1 row 5: none', '§6.1 row 6: present', '§7.6: THP not PMD-mapped']) {
    assert.ok(v.seen.includes(s), `seen lacks '${s}': ${[...new Set(v.seen)].join(' | ')}`);
  }
});

test('compare: a process the model holds live but the kernel shows gone, or a VMA shorter than the model\'s, is a finding; a dying one is not compared', () => {
  const r = run([spawn(), map('a', 'anon-private'), touch('a', 'write'), map('b', 'anon-private'), touch('b', 'write'), fork(), reclaim('anon', 'P')]);
  const obs = observe(r.s, r.preds);
  const gone = structuredClone(obs);
  gone.C = { pid: 101, gone: 'no such process', vmas: {} };
  const f = compare(r.s, r.preds, gone, '7: reclaim P anon').findings;
  assert.equal(f.length, 1, 'one finding for the process, not one per page or VMA');
  assert.equal(f[0]!.process, 'C (pid 101)');
  assert.equal(f[0]!.observed, 'no such process');
  assert.match(f[0]!.explain, /the process the model holds live is gone/);
  const missing = structuredClone(obs);
  delete missing.C;
  assert.equal(compare(r.s, r.preds, missing, 'x').findings[0]!.observed, 'not observed');
  const short = structuredClone(obs);
  short.P!.vmas.b!.pages.splice(1);
  const sf = compare(r.s, r.preds, short, 'x').findings;
  assert.equal(sf.length, 1);
  assert.match(sf[0]!.vma!, /^b anon-private/);
  assert.equal(sf[0]!.observed, '1 entries');
  // the model too expects C to be dying: its exit may be done, nothing is compared
  const k = run([kill('C'), { op: 'pmadvise', target: 'C', advice: 'dontneed', vec: null, flags: 1 }], {}, r.s);
  assert.ok(k.preds.some((x) => x.proc.label === 'C'), 'the zapped dying process is predicted');
  const dying = observe(k.s, k.preds);
  dying.C = { pid: 101, gone: 'exiting', vmas: {} };
  assert.deepEqual(compare(k.s, k.preds, dying, 'x').findings, []);
});

test('compare (b): present where a swap entry is expected: process+pid, address, VMA and type, expected/observed decoded, rule, explanation', () => {
  const r = swappedRun();
  const obs = observe(r.s, r.preds);
  obs.P!.vmas.m!.pages[1] = { present: true, swapped: false, file: false, exclusive: true, pfn: 0x4242n };
  const v = compare(r.s, r.preds, obs, '4: reclaim P anon');
  assert.deepEqual(v.findings, [{
    step: '4: reclaim P anon',
    process: 'P (pid 100)',
    addr: '0x10001000',
    vma: 'm anon-private 0x10000000-0x10004000 (4 pages)',
    expected: 'swapped S1 F0 X0',
    observed: 'P1 S0 F0 X1',
    rule: '§6.1 row 1',
    explain: 'anon-private page should be a swap entry but is present: R: private anon page written to swap',
  }]);
  // the VMA name says mlocked / THP when it is
  const l = run([spawn(), map('m', 'anon-private', { locked: true, thp: true }), reclaim('anon')]);
  const lo = observe(l.s, l.preds);
  page(lo, 'P', 'm', 0).present = false;
  assert.equal(compare(l.s, l.preds, lo, 'x').findings[0]!.vma, 'm anon-private 0x10000000-0x10004000 (4 pages, mlocked, THP)');
});

test('compare (c): a COW-shared page freed in the partner: "freed although the model keeps it (still mapped by P)"', () => {
  const r = forkRun(true);
  const obs = observe(r.s, r.preds);
  obs.C!.vmas.m!.pages[2] = { present: false, swapped: false, file: false, exclusive: false };
  const v = compare(r.s, r.preds, obs, '5: reclaim P anon');
  assert.equal(v.findings.length, 1);
  const f = v.findings[0]!;
  assert.equal(f.process, 'C (pid 101)');
  assert.equal(f.addr, '0x10002000');
  assert.equal(f.expected, 'present F0 X1 kpagecount 1');
  assert.equal(f.observed, 'P0 S0 F0 X0');
  assert.match(f.explain, /^anon-private page was freed or unmapped although the model keeps it \(still mapped by P \(pid 100\)\): /);
});

test('compare (d): a wrong exclusive bit, both ways, with the other mapper named', () => {
  const shared = forkRun(false);
  const o1 = observe(shared.s, shared.preds);
  page(o1, 'P', 'm', 0).exclusive = true;
  const f1 = compare(shared.s, shared.preds, o1, 'x').findings;
  assert.equal(f1.length, 1);
  assert.deepEqual(
    { expected: f1[0]!.expected, observed: f1[0]!.observed, explain: f1[0]!.explain },
    { expected: 'present F0 X0 kpagecount 2', observed: 'P1 S0 F0 X1 kpagecount 2', explain: "anon-private page: mapped exclusively by the kernel's count, the model counts several (still mapped by C (pid 101))" },
  );
  const alone = forkRun(true);
  const o2 = observe(alone.s, alone.preds);
  page(o2, 'C', 'm', 3).exclusive = false;
  const f2 = compare(alone.s, alone.preds, o2, 'x').findings;
  assert.equal(f2.length, 1);
  assert.equal(f2[0]!.addr, '0x10003000');
  assert.equal(f2[0]!.explain, "anon-private page: mapped more than once by the kernel's count, the model counts one mapper");
});

test('compare (e): relations: one key seen at two PFNs or two swap offsets; two keys sharing one PFN', () => {
  const shared = forkRun(false);
  const o1 = observe(shared.s, shared.preds);
  const pfn = page(o1, 'P', 'm', 0).pfn!;
  assert.equal(page(o1, 'C', 'm', 0).pfn, pfn, 'the synthetic observation shares the PFN');
  page(o1, 'C', 'm', 0).pfn = 0xdead0n;
  const f1 = compare(shared.s, shared.preds, o1, 'x').findings;
  assert.equal(f1.length, 1);
  assert.deepEqual(
    { process: f1[0]!.process, addr: f1[0]!.addr, expected: f1[0]!.expected, observed: f1[0]!.observed },
    { process: 'C (pid 101)', addr: '0x10000000', expected: `the same PFN as P (pid 100) 0x10000000 (0x${pfn.toString(16)})`, observed: 'pfn 0xdead0' },
  );
  assert.match(f1[0]!.explain, /^one page in the model, two in the kernel: /);

  const both = run([reclaim('anon', 'C')], {}, forkRun(true).s);
  const o2 = observe(both.s, both.preds);
  const off = page(o2, 'P', 'm', 1).swapOffset!;
  assert.equal(page(o2, 'C', 'm', 1).swapOffset, off);
  page(o2, 'C', 'm', 1).swapOffset = 0x777n;
  const f2 = compare(both.s, both.preds, o2, 'x').findings;
  assert.equal(f2.length, 1);
  assert.equal(f2[0]!.expected, `the same swap offset as P (pid 100) 0x10001000 (0x${off.toString(16)})`);
  assert.equal(f2[0]!.observed, 'swap 0x777');

  const one = run([spawn(), map('m', 'anon-private'), touch('m', 'write')]);
  const o3 = observe(one.s, one.preds);
  const p0 = page(o3, 'P', 'm', 0).pfn!;
  page(o3, 'P', 'm', 1).pfn = p0;
  const f3 = compare(one.s, one.preds, o3, 'x').findings;
  assert.equal(f3.length, 1);
  assert.deepEqual(
    { addr: f3[0]!.addr, expected: f3[0]!.expected, observed: f3[0]!.observed, explain: f3[0]!.explain },
    { addr: '0x10001000', expected: 'a PFN of its own', observed: `pfn 0x${p0.toString(16)}, also used by P (pid 100) 0x10000000`, explain: 'two different pages in the model share one page (or swap slot) in the kernel' },
  );
  // PFN 0 (an unprivileged reader) is no relation
  for (const p of o3.P!.vmas.m!.pages) p.pfn = 0n;
  assert.deepEqual(compare(one.s, one.preds, o3, 'x').findings, []);
  // the zero page: every read-only page shares one PFN, which is fine
  const z = run([spawn(), map('m', 'anon-private'), touch('m', 'read')]);
  const oz = observe(z.s, z.preds);
  assert.equal(new Set(oz.P!.vmas.m!.pages.map((p) => p.pfn)).size, 1);
  assert.deepEqual(compare(z.s, z.preds, oz, 'x').findings, []);
});

test('compare (f): an smaps counter outside its allowed set (Swap)', () => {
  const r = swappedRun();
  const obs = observe(r.s, r.preds);
  obs.P!.vmas.m!.smaps!.Swap = 0;
  assert.deepEqual(compare(r.s, r.preds, obs, '4: reclaim P anon').findings, [{
    step: '4: reclaim P anon',
    process: 'P (pid 100)',
    vma: 'm anon-private 0x10000000-0x10004000 (4 pages)',
    expected: `smaps Swap ${KB} kB`,
    observed: '0 kB',
    rule: '§5.7, §6.1',
    explain: 'smaps Swap disagrees with the pages the model holds in this VMA',
  }]);
  // shmem: Swap counts the object's swapped pages
  const sh = run([spawn(), map('m', 'anon-shared'), touch('m', 'write'), reclaim('file')]);
  const so = observe(sh.s, sh.preds);
  assert.equal(so.P!.vmas.m!.smaps!.Swap, KB);
  so.P!.vmas.m!.smaps!.Swap = 0;
  assert.equal(compare(sh.s, sh.preds, so, 'x').findings[0]!.expected, `smaps Swap ${KB} kB`);
  // a field the harness did not read is not compared
  delete obs.P!.vmas.m!.smaps!.Swap;
  assert.deepEqual(compare(r.s, r.preds, obs, 'x').findings, []);
});

test('compare (g): AnonHugePages: an "unknown" THP seen at full size becomes "pmd" in the returned state; seen at 0 stays "unknown"', () => {
  const r = run([spawn(), map('t', 'anon-private', { pages: 512, thp: true }), touch('t', 'write')]);
  assert.equal(vma(r.s, 'P', 't').thp, 'unknown');
  const obs = observe(r.s, r.preds);
  obs.P!.vmas.t!.smaps!.AnonHugePages = 2048;
  const v = compare(r.s, r.preds, obs, 'x');
  assert.deepEqual(v.findings, []);
  assert.equal(vma(v.state, 'P', 't').thp, 'pmd');
  assert.equal(vma(r.s, 'P', 't').thp, 'unknown', 'the input state is not changed');
  assert.ok(v.seen.includes('§7.6: THP PMD-mapped'));
  // once known PMD-mapped, 0 is a finding
  const preds = predict(v.state);
  assert.deepEqual(vp({ preds }, 'P', 't').counters.AnonHugePages, [2048]);
  const o2 = observe(v.state, preds);
  o2.P!.vmas.t!.smaps!.AnonHugePages = 0;
  const f = compare(v.state, preds, o2, 'x').findings;
  assert.equal(f.length, 1);
  assert.equal(f[0]!.expected, 'smaps AnonHugePages 2048 kB');
  // seen at 0: stays unknown (khugepaged may still collapse it)
  obs.P!.vmas.t!.smaps!.AnonHugePages = 0;
  const v0 = compare(r.s, r.preds, obs, 'x');
  assert.equal(vma(v0.state, 'P', 't').thp, 'unknown');
  assert.ok(v0.seen.includes('§7.6: THP not PMD-mapped'));
  // neither 0 nor full: a finding, and no narrowing
  obs.P!.vmas.t!.smaps!.AnonHugePages = 1024;
  const vx = compare(r.s, r.preds, obs, 'x');
  assert.equal(vx.findings.length, 1);
  assert.equal(vx.findings[0]!.expected, 'smaps AnonHugePages 0 or 2048 kB');
  assert.equal(vma(vx.state, 'P', 't').thp, 'unknown');
});

test('compare: the other explanation classes, and at most 8 page findings per VMA plus a summary', () => {
  const base = run([spawn(), map('a', 'anon-private'), touch('a', 'write'), map('z', 'anon-private'), touch('z', 'read'), map('f', 'file-private'), touch('f', 'read'), map('n', 'anon-private')]);
  const explainOf = (mut: (o: Observation) => void) => {
    const o = observe(base.s, base.preds);
    mut(o);
    const f = compare(base.s, base.preds, o, 'x').findings;
    assert.equal(f.length, 1, JSON.stringify(f));
    return f[0]!.explain;
  };
  assert.match(explainOf((o) => Object.assign(page(o, 'P', 'a', 0), { present: false, swapped: true, swapOffset: 0x9n })), /^anon-private page was swapped out although the model keeps it: /);
  assert.match(explainOf((o) => Object.assign(page(o, 'P', 'n', 0), { present: true, pfn: 0x9n })), /^anon-private page should be unmapped but is present: /);
  assert.equal(explainOf((o) => (page(o, 'P', 'f', 0).file = false)), 'file-private page: the file/shared bit (61) is 0, expected 1');
  assert.equal(explainOf((o) => (page(o, 'P', 'z', 0).zeroPage = false)), 'anon-private page: expected the shared zero page');
  assert.equal(explainOf((o) => (page(o, 'P', 'a', 0).mapcount = 3n)), 'anon-private page: kpagecount 3, the model counts 1 mapper(s)');

  const big = run([spawn(), map('m', 'anon-private', { pages: 12 }), touch('m', 'write'), reclaim('anon')]);
  const o = observe(big.s, big.preds);
  for (const p of o.P!.vmas.m!.pages) Object.assign(p, { present: true, swapped: false, pfn: 0x5n });
  const f = compare(big.s, big.preds, o, 'x').findings.filter((x) => x.vma?.startsWith('m '));
  assert.equal(f.filter((x) => x.addr).length, 8);
  assert.deepEqual({ observed: f.at(-1)!.observed, explain: f.at(-1)!.explain }, { observed: '4 more pages like the above', explain: 'further mismatches in this VMA not listed' });
});

test('bits and describePred decode pagemap entries and predictions as people read them', () => {
  assert.equal(bits({ present: true, swapped: false, file: false, exclusive: true }), 'P1 S0 F0 X1');
  assert.equal(bits({ present: false, swapped: true, file: false, exclusive: false, mapcount: null }), 'P0 S1 F0 X0');
  assert.equal(bits({ present: true, swapped: false, file: true, exclusive: false, mapcount: 2n, zeroPage: true }), 'P1 S0 F1 X0 kpagecount 2 zero-page');
  const w = { rule: '-', note: '-' };
  assert.equal(describePred({ state: 'any', why: w }), 'any state');
  assert.equal(describePred({ state: 'none', why: w }), 'none');
  assert.equal(describePred({ state: 'swapped', file: false, exclusive: false, why: w }), 'swapped S1 F0 X0');
  assert.equal(describePred({ state: 'present', zero: true, file: false, exclusive: false, why: w }), 'present the zero page X0');
  assert.equal(describePred({ state: 'present', file: true, exclusive: 'any', mapcount: 'any', why: w }), 'present F1 X any');
  assert.equal(describePred({ state: 'present', file: false, exclusive: true, mapcount: 1, why: w }), 'present F0 X1 kpagecount 1');
});

test('compare (h): retAllowed and showRet: ok values compare as numbers (number vs bigint), errnos by name', () => {
  const ok = (value?: number | bigint): Ret => (value === undefined ? { ok: true } : { ok: true, value });
  const err = (code: string): Ret => ({ ok: false, code });
  assert.equal(retAllowed([ok(4)], ok(4n)), true);
  assert.equal(retAllowed([ok(16384n)], ok(16384)), true);
  assert.equal(retAllowed([ok(4)], ok(5n)), false);
  assert.equal(retAllowed([ok(0n)], ok()), false, 'a value is expected; none came back');
  assert.equal(retAllowed([ok()], ok(7)), true, 'ok without a value allows any value');
  assert.equal(retAllowed([ok()], ok()), true);
  assert.equal(retAllowed([err('EINVAL')], err('EINVAL')), true);
  assert.equal(retAllowed([err('EINVAL')], err('ENOMEM')), false);
  assert.equal(retAllowed([err('EINVAL')], ok(0)), false);
  assert.equal(retAllowed([ok(0)], err('EINVAL')), false);
  assert.equal(retAllowed([ok(0n), err('ESRCH')], err('ESRCH')), true);
  assert.equal(retAllowed([ok(0n), err('ESRCH')], ok(0)), true);
  assert.equal(retAllowed([], ok()), false);
  assert.equal(showRet(ok()), 'ok');
  assert.equal(showRet(ok(5)), 'returns 5');
  assert.equal(showRet(ok(8192n)), 'returns 8192');
  assert.equal(showRet(ok(0n)), 'returns 0');
  assert.equal(showRet(err('ESRCH')), 'ESRCH');
  // the model's own expectations go through the same check
  const r = run([spawn(), map('m', 'anon-private'), touch('m', 'write'), pageout([{ m: 'm' }])]);
  assert.equal(retAllowed(r.a.expect.allowed, ok(16384)), true);
  assert.equal(retAllowed(r.a.expect.allowed, ok(16383)), false);
});

test('§5.7, §6.1 row 10: SwapPss is each swap entry\'s share of its slot: full for P alone, half each once C reclaims too', () => {
  const f = run([spawn(), map('m', 'anon-private'), touch('m', 'write'), fork()]);
  const r1 = run([reclaim('anon', 'P')], {}, f.s);
  assert.deepEqual(vp(r1, 'P', 'm').counters.SwapPss, [KB]);
  assert.deepEqual(vp(r1, 'C', 'm').counters.SwapPss, [0]);
  const r2 = run([reclaim('anon', 'C')], {}, r1.s);
  assert.deepEqual(vp(r2, 'P', 'm').counters.SwapPss, [KB / 2]);
  assert.deepEqual(vp(r2, 'C', 'm').counters.SwapPss, [KB / 2]);
  // shmem swap shows in Swap only, never in SwapPss
  const sh = run([spawn(), map('m', 'anon-shared'), touch('m', 'write'), reclaim('file')]);
  assert.deepEqual([vp(sh, 'P', 'm').counters.Swap, vp(sh, 'P', 'm').counters.SwapPss], [[KB], undefined]);
});

test('§6.1 row 12, C.3 2: LazyFree allows 0..all MADV_FREE pages (per-CPU batch), and 0 once they are discarded', () => {
  const r = run([spawn(), map('m', 'anon-private'), touch('m', 'write'), madvise('m', 'free')]);
  const lazy = vp(r, 'P', 'm').counters.LazyFree!;
  assert.equal(lazy[0], 0);
  assert.equal(lazy.at(-1), KB);
  assert.equal(lazy.length, N + 1);
  const d = run([reclaim('anon')], {}, r.s);
  assert.deepEqual(vp(d, 'P', 'm').counters.LazyFree, [0]);
  const rw = run([touch('m', 'write')], {}, r.s);
  assert.deepEqual(vp(rw, 'P', 'm').counters.LazyFree, [0], 'written again: dirty, not lazyfree');
});

test('§5.7: status counters are bounded by the modelled share and the rest of the address space', () => {
  const r = run([spawn(), map('a', 'anon-private'), touch('a', 'write'), map('s', 'anon-shared'), touch('s', 'write'), reclaim('all')], { swap: true });
  const [pp] = predictProcs(r.s);
  assert.deepEqual(pp!.counters, { RssAnon: [0, 0], RssFile: [0, 0], RssShmem: [0, 0], VmSwap: [KB, KB] }, 'VmSwap counts the anon swap entries, not shmem swap');
  assert.equal(pp!.modelKb, 2 * KB);
  const status = (VmSwap: number) => ({ P: { pid: 100, vmas: {}, status: { VmSize: 2 * KB + 1000, RssAnon: 100, RssFile: 300, RssShmem: 0, VmSwap } } });
  assert.deepEqual(compare(r.s, [], status(KB + 40), 'x', predictProcs(r.s)).findings, []);
  const low = compare(r.s, [], status(KB - 4), 'x', predictProcs(r.s)).findings;
  assert.equal(low.length, 1);
  assert.match(low[0]!.explain, /VmSwap counts less than the modelled pages alone/);
  assert.equal(low[0]!.rule, '§5.7');
  const high = compare(r.s, [], status(KB + 1004), 'x', predictProcs(r.s)).findings;
  assert.match(high[0]!.explain, /VmSwap exceeds what the whole address space could hold/);
});

test('§6.1 row 9: KSM-merged pages: one folio; R on P unmaps only P (patch 4); PO skips; swapped out alone, each address reads back its own copy', () => {
  const one = run([spawn(), map('m', 'anon-private'), touch('m', 'zero'), { op: 'merge', p: 'P', m: 'm' }]);
  const keys = new Set(vp(one, 'P', 'm').pages.map((p) => p.key));
  assert.equal(keys.size, 1, 'one KSM folio');
  assert.deepEqual(vp(one, 'P', 'm').pages.map((p) => [p.exclusive, p.mapcount]), rep(N, [false, N]));
  assert.equal(vp(one, 'P', 'm').pages[0]!.why.rule, '§6.1 row 9');
  // PAGEOUT: mapcount != 1, skipped
  assert.deepEqual(states(run([pageout([{ m: 'm' }])], {}, one.s), 'P', 'm'), rep(N, 'present'));
  // R anon: every PTE of the folio is in the target VMA: all become swap entries of one slot
  const r = run([reclaim('anon')], {}, one.s);
  assert.deepEqual(states(r, 'P', 'm'), rep(N, 'swapped'));
  assert.equal(new Set(vp(r, 'P', 'm').pages.map((p) => p.key)).size, 1, 'one swap slot');
  const back = run([{ op: 'verify', p: 'P' }], {}, r.s);
  assert.equal(new Set(vp(back, 'P', 'm').pages.map((p) => p.key)).size, N, 'each address its own page');
  assert.deepEqual(vp(back, 'P', 'm').pages.map((p) => [p.exclusive, p.mapcount]), rep(N, [true, 1]));

  // Shared with Q: R on P leaves the KSM page resident for Q; P reads it back shared.
  const two = run([spawn(), spawn('Q'), map('m', 'anon-private'), touch('m', 'zero'), { op: 'map', p: 'Q', m: 'm', kind: 'anon-private', pages: N }, touch('m', 'zero', 'Q'), { op: 'merge', p: 'P', m: 'm' }, { op: 'merge', p: 'Q', m: 'm' }, reclaim('anon')]);
  assert.deepEqual(states(two, 'P', 'm'), rep(N, 'swapped'));
  assert.deepEqual(states(two, 'Q', 'm'), rep(N, 'present'));
  const two2 = run([{ op: 'verify', p: 'P' }], {}, two.s);
  assert.deepEqual(vp(two2, 'P', 'm').pages.map((p) => p.mapcount), rep(N, 2 * N));
});

test('patchedEffects: the patched steps of a trace that change a page, so a no-op kernel is told apart', () => {
  const k = { pageSize: PAGE, procReclaim: true, pmadvRange: true, shrinkmem: true };
  const anon = [spawn(), map('m', 'anon-private'), touch('m', 'write')];
  assert.deepEqual(patchedEffects([...anon, reclaim('anon')], k, true), [4]);
  assert.deepEqual(patchedEffects([...anon, reclaim('file')], k, true), [], "'file' leaves private anon as it is");
  assert.deepEqual(patchedEffects([...anon, reclaim('anon')], k, false), [], 'no swap: the anon page stays');
  assert.deepEqual(patchedEffects([...anon, pageout([{ m: 'm' }])], k, true), [], 'PAGEOUT is upstream');
  assert.deepEqual(patchedEffects([...anon, kill(), { op: 'pmadvise', target: 'P', advice: 'dontneed', vec: [{ m: 'm' }] }], k, true), [5]);
  assert.deepEqual(patchedEffects([...anon, { op: 'reclaim', target: 'P', text: 'ALL' }], k, true), [], 'an errno row');
});
