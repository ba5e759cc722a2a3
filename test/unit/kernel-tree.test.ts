// Kernel source handling without building a kernel: series sync and config checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { defaultPatches, droppedSymbols, readSeries, requestedSymbols, seriesInTree, syncTree } from '../../src/builds/kernel.js';

function scratch(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'reclaim-tree-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A tiny "kernel tree" and a two-patch series made with git format-patch. */
function fixture(root: string) {
  const src = join(root, 'src');
  mkdirSync(join(src, 'mm'), { recursive: true });
  writeFileSync(join(src, 'mm', 'a.c'), 'int a;\n');
  writeFileSync(join(src, 'mm', 'b.c'), 'int b;\n');
  writeFileSync(join(src, 'Makefile'), 'all:\n');
  const repo = join(root, 'repo');
  const git = (...a: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t.invalid', ...a], { cwd: repo, stdio: 'pipe' });
  execFileSync('cp', ['-a', src, repo]);
  git('init', '-q');
  git('add', '.');
  git('commit', '-qm', 'base');
  writeFileSync(join(repo, 'mm', 'a.c'), 'int a = 1;\n');
  git('commit', '-qam', 'change a');
  writeFileSync(join(repo, 'mm', 'new.c'), 'int n;\n');
  git('add', '.');
  git('commit', '-qm', 'add new');
  const patches = join(root, 'patches');
  git('format-patch', '-q', '-o', patches, 'HEAD~2');
  return { src, patches };
}

test('syncTree applies a series to a private copy, rewriting only what changes', async (t) => {
  const root = scratch(t);
  const { src, patches } = fixture(root);
  const tree = join(root, 'tree');
  const source = { id: 't', dir: src, identity: 'x' };
  const series = readSeries(patches);
  assert.deepEqual(series.files, ['mm/a.c', 'mm/new.c']);
  await syncTree(source, series, tree);
  assert.equal(readFileSync(join(tree, 'mm', 'a.c'), 'utf8'), 'int a = 1;\n');
  assert.equal(readFileSync(join(tree, 'mm', 'new.c'), 'utf8'), 'int n;\n');
  assert.equal(readFileSync(join(src, 'mm', 'a.c'), 'utf8'), 'int a;\n', 'the source tree is never modified');
  assert.ok(!existsSync(join(src, 'mm', 'new.c')));

  // Same series again: nothing is rewritten, so make would rebuild nothing.
  const old = new Date('2020-01-01');
  for (const f of ['mm/a.c', 'mm/new.c']) utimesSync(join(tree, f), old, old);
  const bTime = statSync(join(tree, 'mm', 'b.c')).mtimeMs;
  assert.equal(bTime, statSync(join(src, 'mm', 'b.c')).mtimeMs, 'untouched files keep the source mtime');
  await syncTree(source, series, tree);
  for (const f of ['mm/a.c', 'mm/new.c']) assert.equal(statSync(join(tree, f)).mtimeMs, old.getTime(), `${f} not rewritten`);
  assert.equal(statSync(join(tree, 'mm', 'b.c')).mtimeMs, bTime);

  // Back to no series: the patched file returns to the source, the new one goes.
  await syncTree(source, readSeries('none'), tree);
  assert.equal(readFileSync(join(tree, 'mm', 'a.c'), 'utf8'), 'int a;\n');
  assert.ok(!existsSync(join(tree, 'mm', 'new.c')));
  assert.equal(statSync(join(tree, 'mm', 'b.c')).mtimeMs, bTime);
});

test('a patch that does not apply is named', async (t) => {
  const root = scratch(t);
  const { src, patches } = fixture(root);
  writeFileSync(join(src, 'mm', 'a.c'), 'int different;\n');
  await assert.rejects(syncTree({ id: 't', dir: src, identity: 'x' }, readSeries(patches), join(root, 'tree')), /patch .*0001-change-a\.patch does not apply/);
});

test('config check names every requested symbol that olddefconfig dropped', (t) => {
  const root = scratch(t);
  const frag = join(root, 'f.config');
  writeFileSync(frag, 'CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x"\nCONFIG_D=y\nCONFIG_E=n\n');
  const final = join(root, '.config');
  writeFileSync(final, 'CONFIG_A=y\nCONFIG_B=y\nCONFIG_C="x"\n# CONFIG_E is not set\n');
  assert.deepEqual([...requestedSymbols([frag])], [['CONFIG_A', 'y'], ['CONFIG_B', 'n'], ['CONFIG_C', '"x"'], ['CONFIG_D', 'y'], ['CONFIG_E', 'n']]);
  assert.deepEqual(droppedSymbols(requestedSymbols([frag]), final), ['CONFIG_B: wanted n, got y', 'CONFIG_D: wanted y, got absent']);
});

test('seriesInTree: a tree whose Kconfig already defines the series symbols is built as it is', (t) => {
  const root = scratch(t);
  const src = join(root, 'src');
  mkdirSync(join(src, 'mm'), { recursive: true });
  const series = { ...readSeries(defaultPatches) };
  assert.ok(series.files.includes('mm/Kconfig'), 'the shipped series touches mm/Kconfig');
  const tree = { id: 't', dir: src, identity: 'x' };
  writeFileSync(join(src, 'mm', 'Kconfig'), 'config SWAP\n\tbool "swap"\n');
  assert.equal(seriesInTree(tree, series), false, 'an upstream tree');
  writeFileSync(join(src, 'mm', 'Kconfig'), 'config SWAP\n\tbool\nconfig PROCESS_RECLAIM\n\tbool\nconfig PROCESS_MADVISE_REAP\n\tbool\n');
  assert.equal(seriesInTree(tree, series), false, 'CONFIG_SHRINKMEM is missing');
  writeFileSync(join(src, 'mm', 'Kconfig'), 'config PROCESS_RECLAIM\n\tbool\nconfig PROCESS_MADVISE_REAP\n\tbool\n  config SHRINKMEM\n\tbool\n');
  assert.equal(seriesInTree(tree, series), true, 'every symbol of reclaim.config');
  assert.equal(seriesInTree(tree, readSeries('none')), false, '--patches none never is');
});
