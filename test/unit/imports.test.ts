// The house's shape: imports flow one way, model ← protocol ← suite ← scenarios ← report ←
// agent | builds ← target ← pipeline ← fuzz | mutation ← cli, and no two files or folders import
// each other round a circle. log.ts and native.ts are leaves anyone may use.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import test from 'node:test';
import { packageRoot } from '../../src/native.js';

const RANK: Record<string, number> = {
  log: 0, native: 0,
  model: 1, protocol: 2, suite: 3, scenarios: 4, report: 5,
  agent: 6, builds: 6, target: 7, pipeline: 8, fuzz: 9, mutation: 9, cli: 10,
};

const SRC = join(packageRoot, 'src');
const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
/** src/builds/guest/image.ts -> builds; src/pipeline.ts -> pipeline */
const areaOf = (file: string) => relative(SRC, file).split('/')[0]!.replace(/\.ts$/, '');

/** Every relative import of each source file, type-only ones included: a cycle of types is still a knot to read. */
export function importGraph(root = SRC): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of files(root)) {
    const text = readFileSync(f, 'utf8');
    const specs = [...text.matchAll(/(?:from\s+|import\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
    g.set(f, specs.map((s) => normalize(join(dirname(f), s)).replace(/\.js$/, '.ts')));
  }
  return g;
}

/** The strongly connected parts with more than one member (Tarjan). */
export function circles(g: ReadonlyMap<string, readonly string[]>): string[][] {
  let n = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, n);
    low.set(v, n++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const part: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        part.push(w);
      } while (w !== v);
      if (part.length > 1) out.push(part.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return out;
}

test('circles: found in a graph that has one, none in one that has none', () => {
  assert.deepEqual(circles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]])), [['a', 'b', 'c']]);
  assert.deepEqual(circles(new Map([['a', ['b']], ['b', ['c']], ['c', []]])), []);
});

test('imports: no circle between files or folders, and every arrow points down the layers', () => {
  const g = importGraph();
  const rel = (f: string) => relative(packageRoot, f);
  assert.ok(g.size > 50, `read ${g.size} source files`);
  for (const [f, deps] of g) for (const d of deps) assert.ok(g.has(d), `${rel(f)} imports ${rel(d)}, which is not a source file`);
  assert.deepEqual(circles(g).map((c) => c.map(rel)), [], 'circles between files');
  const folders = new Map<string, string[]>();
  for (const [f, deps] of g) folders.set(areaOf(f), [...new Set([...(folders.get(areaOf(f)) ?? []), ...deps.map(areaOf).filter((a) => a !== areaOf(f))])]);
  assert.deepEqual(circles(folders), [], 'circles between folders');
  const against: string[] = [];
  for (const [f, deps] of g) {
    const a = areaOf(f);
    assert.ok(a in RANK, `${rel(f)}: the folder '${a}' has no place in the layers (add it to RANK, and to the README's layout)`);
    for (const d of deps) {
      const b = areaOf(d);
      if (a !== b && (RANK[b]! >= RANK[a]! || RANK[a] === 0)) against.push(`${rel(f)} -> ${rel(d)}`);
    }
  }
  assert.deepEqual(against, [], 'arrows against the layers');
});
