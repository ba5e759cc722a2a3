// --format kcidb: KCIDB I/O schema v5.3, and the check of its rules, which must also fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { defaultPatches } from '../../src/builds/kernel.js';
import type { RunReport } from '../../src/report/json.js';
import { kcidbProblems, kcidbReport, patchsetHash } from '../../src/report/kcidb.js';

const series = readdirSync(defaultPatches).filter((f) => f.endsWith('.patch')).sort().map((f) => join(defaultPatches, f));
const report: RunReport = {
  kernel: { release: '6.12.117', image: '/cache/images/abc/Image', cacheKey: 'abc123', patches: 'default', series, config: '/cache/build/x/.config', procVersion: 'Linux version 6.12.117 (root@vm) (aarch64-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #25 SMP' },
  startedAt: '2026-12-01T17:00:00.000Z',
  features: { kernel: { arch: 'arm64' } },
  results: [
    { id: 'reclaim.range.anon', status: 'pass', durationMs: 120 },
    { id: 'reclaim.einval.keyword-case', status: 'fail', reason: "write 'ALL': expected EINVAL, got ok", durationMs: 30 },
    { id: 'shrinkmem.cap', status: 'skip', reason: 'kernel lacks /dev/shrinkmem', durationMs: 0, depth: 'full' },
    { id: 'madvise.range.pageout', status: 'error', reason: 'step 3: agent: ENOMEM', durationMs: 5 },
    { id: 'pageout.anon', status: 'error', reason: 'guest lost earlier: ECRASH', durationMs: 0 },
  ],
  summary: { pass: 1, fail: 1, skip: 1, error: 2 },
  timings: { bootMs: 3000, suiteMs: 40000 },
};

test('patchsetHash is sha256sum *.patch | cut -c-64 | sha256sum, and empty without patches', () => {
  const shell = execSync(`sha256sum ${series.map((p) => `'${p}'`).join(' ')} | cut -c-64 | sha256sum | cut -c-64`, { encoding: 'utf8' }).trim();
  assert.equal(patchsetHash(series), shell);
  assert.equal(patchsetHash([]), '');
});

test('a run as KCIDB v5.3: checkout with the series, build, one test per result with the status mapping', () => {
  const doc = kcidbReport(report) as { checkouts: Array<Record<string, unknown>>; builds: Array<Record<string, unknown>>; tests: Array<Record<string, unknown>> };
  assert.deepEqual(kcidbProblems(doc), []);
  assert.deepEqual(doc.tests.map((t) => [t.path, t.status]), [
    ['reclaim_harness.reclaim.range.anon', 'PASS'],
    ['reclaim_harness.reclaim.einval.keyword-case', 'FAIL'],
    ['reclaim_harness.shrinkmem.cap', 'SKIP'],
    ['reclaim_harness.madvise.range.pageout', 'ERROR'],
    ['reclaim_harness.pageout.anon', 'MISS'],
  ]);
  assert.equal(doc.tests[2]!.comment, 'kernel lacks /dev/shrinkmem');
  assert.equal(doc.checkouts[0]!.patchset_hash, patchsetHash(series));
  assert.equal((doc.checkouts[0]!.patchset_files as unknown[]).length, series.length);
  assert.deepEqual([doc.builds[0]!.architecture, doc.builds[0]!.compiler, doc.builds[0]!.config_name], ['arm64', 'aarch64-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40', '.config']);
  assert.equal(new Set(doc.tests.map((t) => t.id)).size, doc.tests.length, 'test ids unique');
  assert.equal(doc.tests[0]!.build_id, doc.builds[0]!.id);
  assert.equal(doc.builds[0]!.checkout_id, doc.checkouts[0]!.id);
});

test('the check fails on a broken document, naming each broken rule', () => {
  const good = kcidbReport(report) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const broken = (f: (d: any) => void) => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const d = structuredClone(good);
    f(d);
    return kcidbProblems(d);
  };
  assert.match(broken((d) => (d.version.minor = 4)).join('\n'), /version: want/);
  assert.match(broken((d) => delete d.tests[0].id).join('\n'), /tests\[0\]: id is required/);
  assert.match(broken((d) => (d.tests[1].id = 'no-origin-colon')).join('\n'), /tests\[1\]\.id: .* does not match/);
  assert.match(broken((d) => (d.tests[0].path = 'reclaim harness.x')).join('\n'), /tests\[0\]\.path/);
  assert.match(broken((d) => (d.tests[0].status = 'OK')).join('\n'), /tests\[0\]\.status: "OK" is not one of/);
  assert.match(broken((d) => (d.builds[0].valid = true)).join('\n'), /builds\[0\]: valid is not a v5.3 field/);
  assert.match(broken((d) => (d.checkouts[0].patchset_hash = 'abc')).join('\n'), /patchset_hash/);
  assert.match(broken((d) => (d.checkouts[0].patchset_files[0].name = 'a/b.patch')).join('\n'), /patchset_files\[0\]\.name/);
  assert.match(broken((d) => (d.tests[0].start_time = 'yesterday')).join('\n'), /not an RFC 3339 date-time/);
  assert.match(broken((d) => (d.tests[0].comment = null)).join('\n'), /null is not allowed/);
  assert.match(broken((d) => (d.revisions = [])).join('\n'), /revisions is not a v5.3 section/);
});
