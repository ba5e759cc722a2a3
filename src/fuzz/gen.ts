// Random operation sequences for the lockstep fuzzer. fast-check generates
// raw operations that only name things by index; realize() turns them into a
// valid model trace, so every shrunk sequence is still a runnable one.
import fc from 'fast-check';
import type { Advice, Kind, Span, Step } from '../model/state.js';

const KINDS: Kind[] = ['anon-private', 'anon-shared', 'file-private', 'file-shared', 'memfd', 'hugetlb'];

/** Texts for /proc/PID/reclaim that are not a keyword or a valid range. */
export const MALFORMED = ['ALL', '', 'file anon', 'anon\0x', '4096', '4096\t8192', '0x1001 4096', 'x', ' ', '\n', '-1 4096', '16E 4096', '0xfffffffffffff000 8192'];

export type Raw =
  | { t: 'map'; proc: number; kind: number; pages: number; locked: boolean; fill?: 'read' | 'write' }
  | { t: 'touch'; proc: number; map: number; how: 'read' | 'write' | 'zero'; a: number; b: number }
  | { t: 'madvise'; proc: number; map: number; advice: Advice; a: number; b: number }
  | { t: 'lock'; proc: number; map: number; on: boolean }
  | { t: 'unmap1'; proc: number; map: number; at: number }
  | { t: 'fork' }
  | { t: 'spawnQ' }
  | { t: 'reclaim'; proc: number; mode: number; map: number; a: number; b: number; extra: number }
  | { t: 'bad'; proc: number; text: number }
  | { t: 'pmadvise'; proc: number; advice: Advice; vec: Array<{ map: number; a: number; b: number; odd: boolean }> | null; flags: number }
  | { t: 'kill'; proc: number; then: 'mrelease' | 'dontneed' | 'none' }
  | { t: 'verify'; proc: number }
  | { t: 'shrinkmem'; mb: number }
  | { t: 'mthp'; on: boolean };

const small = fc.nat({ max: 63 });
const proc = fc.nat({ max: 2 });
const advice = fc.constantFrom<Advice>('cold', 'pageout', 'willneed', 'dontneed', 'free');

export const rawOp: fc.Arbitrary<Raw> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('map' as const), proc, kind: fc.nat({ max: KINDS.length - 1 }), pages: fc.integer({ min: 1, max: 16 }), locked: fc.constant(false) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('map' as const), proc, kind: fc.constant(0), pages: fc.constant(16), locked: fc.constant(true) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('touch' as const), proc, map: small, how: fc.constantFrom('read' as const, 'write' as const, 'zero' as const), a: small, b: small }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('madvise' as const), proc, map: small, advice, a: small, b: small }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('lock' as const), proc, map: small, on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('unmap1' as const), proc, map: small, at: small }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('fork' as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('spawnQ' as const) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('reclaim' as const), proc, mode: fc.nat({ max: 5 }), map: small, a: small, b: small, extra: fc.oneof(fc.constant(0), fc.nat({ max: 4095 })) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('bad' as const), proc, text: fc.nat({ max: MALFORMED.length - 1 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('pmadvise' as const),
      proc,
      advice,
      vec: fc.option(fc.array(fc.record({ map: small, a: small, b: small, odd: fc.nat({ max: 9 }).map((n) => n === 0) }), { minLength: 1, maxLength: 3 }), { freq: 4 }),
      flags: fc.constantFrom(0, 0, 0, 1, 2),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('kill' as const), proc, then: fc.constantFrom('mrelease' as const, 'dontneed' as const, 'none' as const) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('verify' as const), proc }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('shrinkmem' as const), mb: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('mthp' as const), on: fc.boolean() }) },
);

/** A mapping of P filled at once: most sequences start with resident pages to reclaim. */
const filledMap: fc.Arbitrary<Raw> = fc.record({ t: fc.constant('map' as const), proc: fc.constant(0), kind: fc.nat({ max: KINDS.length - 1 }), pages: fc.integer({ min: 1, max: 16 }), locked: fc.constant(false), fill: fc.constantFrom('write' as const, 'write' as const, 'read' as const) });

/** A sequence: one to three filled mappings of P, then random operations. */
export const sequence = fc.tuple(fc.array(filledMap, { minLength: 1, maxLength: 3 }), fc.array(rawOp, { maxLength: 12 })).map(([a, b]) => [...a, ...b]);

export interface RealizeOptions {
  hugetlb: boolean;
  /** an anonymous mTHP size the kernel has (kB), for 'mthp' operations */
  mthp?: number;
}

/**
 * Raw operations -> a valid trace. Processes: P (always), C (P's fork), Q (a
 * second spawn). Indices pick among what exists at that point; an operation
 * with nothing to act on is dropped.
 */
export function realize(raw: readonly Raw[], o: RealizeOptions): Step[] {
  const steps: Step[] = [{ op: 'spawn', p: 'P' }];
  const maps = new Map<string, Array<{ m: string; kind: Kind; pages: number; holes: Set<number> }>>([['P', []]]);
  const live = ['P'];
  let seq = 0;
  let hugetlbUsed = false;
  const pick = <T>(xs: readonly T[], i: number): T | undefined => (xs.length ? xs[i % xs.length] : undefined);
  const span = (m: { m: string; pages: number }, a: number, b: number): Span => {
    const first = a % m.pages;
    return { m: m.m, first, count: 1 + (b % (m.pages - first)) };
  };
  for (const r of raw) {
    const p = 'proc' in r ? pick(live, r.proc) : undefined;
    const mine = p ? maps.get(p)! : [];
    switch (r.t) {
      case 'map': {
        let kind = KINDS[r.kind]!;
        if (kind === 'hugetlb' && (!o.hugetlb || hugetlbUsed)) kind = 'anon-private';
        if (kind === 'hugetlb') hugetlbUsed = true;
        const pages = kind === 'hugetlb' ? 512 : r.pages;
        const m = `m${seq++}`;
        steps.push({ op: 'map', p: p!, m, kind, pages, ...(r.locked ? { locked: true } : {}) });
        mine.push({ m, kind, pages, holes: new Set() });
        if (r.fill) steps.push({ op: 'touch', p: p!, span: { m, first: 0, count: pages }, how: r.fill });
        break;
      }
      case 'touch': {
        const m = pick(mine, r.map);
        if (!m) break;
        const how = r.how === 'zero' && m.kind !== 'anon-private' ? 'write' : r.how;
        steps.push({ op: 'touch', p: p!, span: span(m, r.a, r.b), how });
        break;
      }
      case 'madvise': {
        const m = pick(mine, r.map);
        if (!m || (r.advice === 'willneed' && m.kind === 'hugetlb')) break;
        steps.push({ op: 'madvise', p: p!, span: m.kind === 'hugetlb' ? { m: m.m } : span(m, r.a, r.b), advice: r.advice });
        break;
      }
      case 'lock': {
        const m = pick(mine, r.map);
        if (m && !m.holes.size) steps.push({ op: r.on ? 'mlock' : 'munlock', p: p!, m: m.m });
        break;
      }
      case 'unmap1': {
        const m = pick(mine, r.map);
        if (!m || m.kind === 'hugetlb' || m.pages < 3) break;
        const at = 1 + (r.at % (m.pages - 2));
        if (m.holes.has(at)) break;
        m.holes.add(at);
        steps.push({ op: 'unmap', p: p!, span: { m: m.m, first: at, count: 1 } });
        break;
      }
      case 'fork':
        if (!live.includes('P') || maps.has('C') || hugetlbUsed) break;
        steps.push({ op: 'fork', p: 'P', child: 'C' });
        maps.set('C', maps.get('P')!.map((m) => ({ ...m, holes: new Set(m.holes) })));
        live.push('C');
        break;
      case 'spawnQ':
        if (maps.has('Q')) break;
        steps.push({ op: 'spawn', p: 'Q' });
        maps.set('Q', []);
        live.push('Q');
        break;
      case 'reclaim': {
        if (r.mode < 3) {
          steps.push({ op: 'reclaim', target: p!, mode: (['file', 'anon', 'all'] as const)[r.mode]! }); // 3..5: a range
          break;
        }
        const m = pick(mine, r.map);
        if (m) steps.push({ op: 'reclaim', target: p!, range: { ...span(m, r.a, r.b), extraBytes: r.extra } });
        break;
      }
      case 'bad':
        steps.push({ op: 'reclaim', target: p!, text: MALFORMED[r.text]! });
        break;
      case 'pmadvise': {
        // Every vector under every flag: NULL without the range flag is vlen 0, and the range flag ignores a vector.
        if (r.vec === null) {
          steps.push({ op: 'pmadvise', target: p!, advice: r.advice, vec: null, flags: r.flags });
          break;
        }
        const vec = r.vec.flatMap((x) => {
          const m = pick(mine, x.map);
          return m ? [{ ...span(m, x.a, x.b), ...(x.odd ? { offset: 8 } : {}) }] : [];
        });
        if (vec.length) steps.push({ op: 'pmadvise', target: p!, advice: r.advice, vec, flags: r.flags });
        break;
      }
      case 'kill': {
        // C is reaped by P, so P goes only after C.
        if (!p || (p === 'P' && live.includes('C'))) break;
        steps.push({ op: 'kill', p });
        if (r.then === 'mrelease') steps.push({ op: 'mrelease', p });
        if (r.then === 'dontneed') steps.push({ op: 'pmadvise', target: p, advice: 'dontneed', vec: null, flags: 1 });
        steps.push({ op: 'reap', p });
        live.splice(live.indexOf(p), 1);
        break;
      }
      case 'verify':
        if (p) steps.push({ op: 'verify', p });
        break;
      case 'shrinkmem':
        steps.push({ op: 'shrinkmem', text: String(r.mb) });
        break;
      case 'mthp':
        if (o.mthp) steps.push({ op: 'mthp', kb: o.mthp, on: r.on });
        break;
    }
    if (!live.length) break;
  }
  return steps;
}
