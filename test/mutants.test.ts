// Known-bug kernels: the shipped mutants, the kill rule, and a fast subset killed for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killers, listMutants, type MutantResult } from '../src/host/mutants.js';
import { packageRoot } from '../src/native.js';
import type { Result } from '../src/suite/types.js';

const CLI = join(packageRoot, 'dist', 'src', 'cli.js');

test('at least 12 mutants ship, each one small commit with a one-line description', () => {
  const ms = listMutants();
  assert.ok(ms.length >= 12, `${ms.length} mutants`);
  for (const m of ms) {
    const text = readFileSync(m.file, 'utf8');
    assert.match(text, /^From [0-9a-f]{40} /, `${m.name}: made with git format-patch`);
    assert.ok(m.description.length > 10 && !m.description.includes('\n'), `${m.name}: description '${m.description}'`);
    const changed = text.split('\n').filter((l) => /^[-+](?![-+])/.test(l)).length;
    assert.ok(changed > 0 && changed <= 40, `${m.name}: ${changed} changed lines`);
  }
  assert.deepEqual(listMutants(undefined, '^02-').map((m) => m.name), ['02-range-end-inclusive']);
});

test('kill rule: a FAIL kills, and so does a step that timed out or crashed the guest; the errors that follow do not count again', () => {
  const r = (id: string, status: Result['status'], reason?: string): Result => ({ id, status, reason, durationMs: 1 });
  const res = [
    r('a', 'pass'),
    r('b', 'skip', 'kernel lacks X'),
    r('c', 'fail', 'page kept'),
    r('d', 'error', "step 'write': write: ETIMEDOUT: no reply in 20000 ms"),
    r('e', 'error', 'guest lost earlier: ETIMEDOUT'),
    r('f', 'error', "step 'subject': subject: EAGENT: bad reply"),
    r('g', 'error', 'guest: ECRASH: kernel soft lockup:\n...'),
  ];
  assert.deepEqual(killers(res).map((k) => k.id), ['c', 'd', 'g']);
  assert.match(killers(res)[1]!.why, /step 'write'.*ETIMEDOUT/);
  assert.deepEqual(killers([r('a', 'pass'), r('b', 'skip')]), []);
});

test('mutants: a fast subset (02, 05, 10) is killed by the suite; kill table and mutants.json', { timeout: 30 * 60_000 }, async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'reclaim-mutants-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, 'mutants', '--only', '^(02|05|10)-', '--output', out], { maxBuffer: 1 << 26 }, (e, stdout, stderr) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr.slice(-3000)}`);
  const rep = JSON.parse(readFileSync(join(out, 'mutants.json'), 'utf8')) as { results: MutantResult[]; seconds: number };
  assert.deepEqual(rep.results.map((m) => [m.name, m.verdict]), [['02-range-end-inclusive', 'killed'], ['05-anon-file-swapped', 'killed'], ['10-dontneed-live', 'killed']]);
  for (const m of rep.results) assert.ok(m.killedBy.length > 0 && m.killedBy.every((k) => k.why.length > 0));
  assert.match(r.stdout, /02-range-end-inclusive\s+KILLED/);
  assert.match(r.stdout, /3\/3 mutants killed in [\d.]+ min/);
  console.log(`# ${r.stdout.split('\n').filter((l) => /KILLED|killed in/.test(l)).join('\n# ')}`);
});
