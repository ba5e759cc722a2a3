// The patch series as a maintainer gets it: git am applies it to pristine
// Debian 6.12 files, and checkpatch --strict finds no errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { debianSource, defaultPatches, readSeries } from '../../src/builds/kernel.js';

const series = readSeries(defaultPatches);

test('the series has one Kconfig option per feature and a real commit message per patch', () => {
  assert.ok(series.patches.length >= 6, `${series.patches.length} patches`);
  const all = series.patches.map((p) => readFileSync(p, 'utf8')).join('\n');
  for (const opt of ['PROCESS_RECLAIM', 'SHRINKMEM']) assert.match(all, new RegExp(`^\\+config ${opt}$`, 'm'));
  assert.match(all, /^\+config PROCESS_MADVISE_\w+$/m);
  for (const p of series.patches) {
    const body = readFileSync(p, 'utf8').split('\n---\n')[0]!.split('\n\n').slice(1).join('\n\n');
    assert.ok(body.trim().split('\n').length >= 5, `${p}: commit message too short`);
  }
});

test('git am applies the series to the pristine files it touches', async (t) => {
  const src = await debianSource();
  const repo = mkdtempSync(join(tmpdir(), 'reclaim-am-'));
  t.after(() => rmSync(repo, { recursive: true, force: true }));
  for (const f of series.files) {
    if (!existsSync(join(src.dir, f))) continue;
    mkdirSync(dirname(join(repo, f)), { recursive: true });
    copyFileSync(join(src.dir, f), join(repo, f));
  }
  const git = (...a: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t.invalid', ...a], { cwd: repo, encoding: 'utf8', stdio: 'pipe' });
  git('init', '-q');
  git('add', '-A', '-f');
  git('commit', '-qm', 'pristine');
  git('am', '-q', ...series.patches);
  assert.equal(git('log', '--format=%s', 'HEAD~' + series.patches.length + '..HEAD').trim().split('\n').length, series.patches.length);
});

test('checkpatch --strict: 0 errors in every patch', async () => {
  const src = await debianSource();
  for (const p of series.patches) {
    let out: string;
    try {
      out = execFileSync('perl', [join(src.dir, 'scripts', 'checkpatch.pl'), '--strict', p], { cwd: src.dir, encoding: 'utf8' });
    } catch (e) {
      out = (e as { stdout: string }).stdout; // exits 1 on warnings too
    }
    const total = /total: (\d+) errors, (\d+) warnings/.exec(out);
    assert.ok(total, `${p}: no checkpatch summary:\n${out}`);
    assert.equal(total[1], '0', `${p}:\n${out}`);
  }
});
