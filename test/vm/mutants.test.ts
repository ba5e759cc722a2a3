// Known-bug kernels killed for real: a fast subset of the shipped mutants, built and run under QEMU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MutantResult } from '../../src/mutation/handwritten.js';
import { packageRoot } from '../../src/native.js';

const CLI = join(packageRoot, 'dist', 'src', 'cli', 'index.js');

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
