// Kernels the harness did not build, with their drivers as modules: Debian's arm64 cloud kernels,
// fetched with apt-get download. The whole suite: no FAIL, no ERROR, and every SKIP says why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunReport } from '../../src/report/json.js';
import { debianCloudKernel } from '../helpers/distro-kernel.js';
import { cli, scratchDir } from '../helpers/cli.js';

function verdict(dir: string, stderr: string): RunReport {
  const rep = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunReport;
  const bad = rep.results.filter((r) => r.status === 'fail' || r.status === 'error');
  assert.deepEqual(bad.map((r) => `${r.id}: ${r.status}: ${r.reason}`), [], stderr.slice(-2000));
  for (const r of rep.results) if (r.status === 'skip') assert.match(r.reason ?? '', /\S{3}/, `${r.id} skipped without a reason`);
  assert.ok(rep.summary.pass >= 90, `only ${rep.summary.pass} PASS`);
  return rep;
}

// 6.12 with --modules DEB, 6.1 with --kernel DEB alone (its modules come with it); the
// lib/modules tree and tarball forms are in modules.test.ts.
for (const [meta, how] of [['linux-image-6.12-cloud-arm64', 'modules-deb'], ['linux-image-cloud-arm64', 'kernel-deb']] as const) {
  test(`${meta}: the suite through ${how === 'modules-deb' ? '--kernel vmlinuz --modules DEB' : '--kernel DEB'}`, async (t) => {
    const k = await debianCloudKernel(meta);
    const release = k.vmlinuz.replace(/.*\/vmlinuz-/, '');
    const args = how === 'kernel-deb' ? ['--kernel', k.deb] : ['--kernel', k.vmlinuz, '--modules', k.deb];
    const dir = scratchDir(t, 'reclaim-distro-');
    const r = await cli(['run', ...args, '--output', dir]);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    const rep = verdict(dir, r.stderr);
    assert.equal(rep.kernel.release, release);
    assert.match(r.stderr, new RegExp(`modules: ${release.replace(/[+.]/g, '\\$&')}: loading .*zram`));
    console.log(`# ${release}: ${rep.summary.pass} pass, ${rep.summary.skip} skip; boot ${(rep.timings.bootMs / 1000).toFixed(1)} s, suite ${(rep.timings.suiteMs / 1000).toFixed(1)} s`);
  });
}
