// Mechanical mutants: what the operators make of C, and that the schemata
// (every mutant in one program behind a switch) behave as each mutant alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { scratchDir } from '../helpers/cli.js';
import { mutateFile, windows } from '../../src/mutation/generate.js';
import { addedLines, withPrelude } from '../../src/mutation/schemata.js';
import { parseBitmapList, readEquivalents, sampleOf, scoreOf, type MutantResult } from '../../src/mutation/mechanical.js';

const BEFORE = `// SPDX-License-Identifier: GPL-2.0
#include <errno.h>

static int untouched(int a)
{
	return a < 1;
}
`;
const ADDED = `
int f(int a, int b)
{
	int r = 0;

	if (a < b)
		r = 1;
	if (a == 3 && b != 4)
		r += 10;
	for (int i = 0; i < a; i++) {
		if (i == 2)
			break;
		r += 100;
	}
	if (b >= 7)
		r = r | FLAG_B;
	if (b == 8)
		r |= FLAG_C;
	return r ? r : -EINVAL;
}
`;
const AFTER = BEFORE + ADDED;
const all = () => new Set(AFTER.split('\n').map((_, k) => k + 1));

test('added lines: the diff of the file, or every line of a new one', async () => {
  const added = await addedLines(BEFORE, AFTER);
  const first = BEFORE.split('\n').length;
  assert.deepEqual([...added].sort((x, y) => x - y), Array.from({ length: ADDED.split('\n').length - 1 }, (_, k) => first + k));
  assert.equal((await addedLines(undefined, 'a\nb')).size, 2);
});

test('only added lines are mutated, by every operator, with keys that survive a line move', async () => {
  const fm = await mutateFile('x.c', AFTER, await addedLines(BEFORE, AFTER), 1);
  assert.ok(fm.mutants.every((m) => m.func === 'f'), 'untouched() is not on an added line');
  const has = (op: string, original: string, mutated: string) =>
    assert.ok(fm.mutants.some((m) => m.op === op && m.original === original && m.mutated === mutated), `${op}: ${original} => ${mutated}\n${fm.mutants.map((m) => `${m.op} ${m.original} => ${m.mutated}`).join('\n')}`);
  has('negate', '(a < b)', '(!(a < b))');
  has('boundary', 'a < b', '(a <= b)');
  has('boundary', 'b >= 7', '(b > 7)');
  has('equality', 'a == 3', '(a != 3)');
  has('equality', 'b != 4', '(b == 4)');
  has('logical', 'a == 3 && b != 4', '(a == 3 || b != 4)');
  has('delete', 'r = 1;', ';');
  has('jump', 'break;', ';');
  has('constant', '3', '(3 + 1)');
  has('constant', '3', '0');
  has('constant', '0', '(0 + 1)');
  has('errno', 'EINVAL', 'EPERM');
  has('flag', 'r | FLAG_B', '(r)');
  has('flag', 'r |= FLAG_C', '(r &= ~FLAG_C)');
  has('negate', 'r ? r : -EINVAL', '(!(r) ? r : -EINVAL)');
  has('negate', 'i < a', '!(i < a)');
  assert.deepEqual(fm.mutants.map((m) => m.id), fm.mutants.map((_, k) => k + 1));
  assert.equal(new Set(fm.mutants.map((m) => m.key)).size, fm.mutants.length, 'keys are unique');
  // Ten lines further down, the same keys.
  const moved = await mutateFile('x.c', '\n'.repeat(10) + AFTER, new Set([...(await addedLines(BEFORE, AFTER))].map((l) => l + 10)), 1);
  assert.deepEqual(moved.mutants.map((m) => m.key), fm.mutants.map((m) => m.key));
  assert.deepEqual(moved.mutants.map((m) => m.line), fm.mutants.map((m) => m.line + 10));
  // Excluded keys are not made, and ids stay dense.
  const fewer = await mutateFile('x.c', AFTER, all(), 1, new Set([fm.mutants[0]!.key]));
  assert.ok(!fewer.mutants.some((m) => m.key === fm.mutants[0]!.key));
  assert.deepEqual(fewer.mutants.map((m) => m.id), fewer.mutants.map((_, k) => k + 1));
});

test('not mutated: constants that must stay constant, declarations by macro, code outside functions', async () => {
  const src = `static int table[4] = { 1, 2 };
int g(int x)
{
	static int calls = 5;
	LIST_HEAD(list);

	switch (x) {
	case 2:
		return 9;
	}
	return table[1];
}
`;
  const fm = await mutateFile('y.c', src, new Set(src.split('\n').map((_, k) => k + 1)), 1);
  const texts = fm.mutants.map((m) => `${m.op} ${m.original}`);
  assert.ok(!texts.includes('constant 5'), 'a static initialiser');
  assert.ok(!texts.includes('constant 2'), 'a case label');
  assert.ok(!texts.some((t) => t.startsWith('delete LIST_HEAD')), 'a declaring macro');
  assert.ok(texts.includes('constant 9') && texts.includes('constant 1'), texts.join('\n'));
});

test('windows: only whole top-level constructs that hold added lines are parsed', () => {
  const src = 'int a;\nMACRO_THE_GRAMMAR_CANNOT_PARSE {{{\nint f(void)\n{\n\treturn 1;\n}\nint z;\n';
  const w = windows(src, new Set([5]));
  assert.equal(w.length, src.length, 'offsets are kept');
  assert.deepEqual(w.split('\n').map((l) => l.trim()), ['', '', 'int f(void)', '{', 'return 1;', '}', '', '']);
});

test('schemata: switch 0 is the original program, and switch N is mutant N', async (t) => {
  const fm = await mutateFile('x.c', AFTER, await addedLines(BEFORE, AFTER), 1);
  const dir = scratchDir(t, 'reclaim-schemata-');
  const main = `#include <stdio.h>
#include <stdlib.h>
int reclaim_mutant;
void reclaim_mutant_hit(int n) { (void)n; }
int f(int a, int b);
int main(int argc, char **argv)
{
	reclaim_mutant = atoi(argv[1]);
	for (int a = -1; a < 9; a++)
		for (int b = -1; b < 9; b++)
			printf("%d ", f(a, b));
	return 0;
}
`;
  writeFileSync(join(dir, 'main.c'), main);
  writeFileSync(join(dir, 'orig.c'), `#define FLAG_B 0x40\n#define FLAG_C 0x80\n${AFTER}`);
  writeFileSync(join(dir, 'schemata.c'), withPrelude(`#define FLAG_B 0x40\n#define FLAG_C 0x80\n${fm.schemata}`));
  await execa('gcc', ['-Wall', '-Werror', '-Wno-unused-function', '-o', join(dir, 'orig'), join(dir, 'main.c'), join(dir, 'orig.c')]);
  await execa('gcc', ['-Wall', '-Werror', '-Wno-unused-function', '-Wno-parentheses', '-o', join(dir, 'schemata'), join(dir, 'main.c'), join(dir, 'schemata.c')]);
  const out = async (bin: string, n: number) => (await execa(join(dir, bin), [String(n)])).stdout;
  const original = await out('orig', 0);
  assert.equal(await out('schemata', 0), original, 'no mutant live: the original');
  // Every mutant of f changes some result on this grid; the same mutant made
  // by hand (one edit, nothing else) gives the same results as the schemata.
  for (const m of fm.mutants) assert.notEqual(await out('schemata', m.id), original, `#${m.id} ${m.op} ${m.original} => ${m.mutated} changes nothing`);
  const lt = fm.mutants.find((m) => m.op === 'boundary' && m.original === 'a < b')!;
  writeFileSync(join(dir, 'hand.c'), `#define FLAG_B 0x40\n#define FLAG_C 0x80\n${AFTER.replace('if (a < b)', 'if (a <= b)')}`);
  await execa('gcc', ['-o', join(dir, 'hand'), join(dir, 'main.c'), join(dir, 'hand.c')]);
  assert.equal(await out('schemata', lt.id), await out('hand', 0));
});

test('score, sample, bitmap list and the equivalents list', (t) => {
  const r = (verdict: MutantResult['verdict']) => ({ verdict }) as MutantResult;
  const s = scoreOf([r('killed'), r('killed'), r('killed'), r('survived'), r('unreached'), r('equivalent'), r('not run')]);
  assert.deepEqual([s.generated, s.equivalent, s.ran, s.killed], [7, 1, 5, 3]);
  assert.equal(s.score, 3 / 5);
  const items = Array.from({ length: 50 }, (_, k) => k);
  assert.deepEqual(sampleOf(items, 10, 7), sampleOf(items, 10, 7));
  assert.notDeepEqual(sampleOf(items, 10, 7), sampleOf(items, 10, 8));
  assert.equal(new Set(sampleOf(items, 10, 7)).size, 10);
  assert.deepEqual(sampleOf(items, 99, 1), items);
  assert.deepEqual(parseBitmapList('1-3,7,10-11\n'), [1, 2, 3, 7, 10, 11]);
  assert.deepEqual(parseBitmapList('\n'), []);
  const dir = scratchDir(t, 'reclaim-eq-');
  writeFileSync(join(dir, 'ok.txt'), '# comment\nmm/a.c:f: x => y\tonly a cond_resched\n');
  assert.equal(readEquivalents(join(dir, 'ok.txt')).get('mm/a.c:f: x => y'), 'only a cond_resched');
  writeFileSync(join(dir, 'bad.txt'), 'mm/a.c:f: x => y\n');
  assert.throws(() => readEquivalents(join(dir, 'bad.txt')), /bad.txt:1: want "key<TAB>reason"/);
});
