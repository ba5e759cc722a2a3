// `reclaim-harness lava`: the job for a lab, the qemu job with its device dictionary, and
// `lava --run` through lava-dispatcher's lava-run: one LAVA test case per scenario, equal to the KTAP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ktapCases, lavaCases } from '../../src/target/lava.js';
import { selectScenarios } from '../../src/suite/runner.js';
import { suite } from '../../src/scenarios/index.js';
import { lavaName } from '../../src/report/lava.js';
import { cli, scratchDir } from '../helpers/cli.js';

test('lava --run on the qemu device type: a test case per scenario, equal to the KTAP the runner printed', async (t) => {
  const dir = scratchDir(t, 'reclaim-lava-');
  const r = await cli(['lava', '--run', '--output', dir]);
  assert.equal(r.code, 0, r.stdout + r.stderr.slice(-3000));
  const res = JSON.parse(readFileSync(join(dir, 'lava-results.json'), 'utf8'));
  const ids = selectScenarios(suite).map((s) => lavaName(s.id)).sort();
  assert.deepEqual(res.testCases.map((c: { name: string }) => c.name).sort(), ids, 'one test case per scenario');
  assert.equal(res.ktapAgrees, true);
  assert.equal(res.ktapCases, ids.length);
  assert.equal(res.pass, ids.length, 'every scenario passes on the patched kernel');
  assert.equal(res.jobResult, 'pass');
  const job = readFileSync(join(dir, 'job.yaml'), 'utf8');
  assert.match(job, /lava-signal: "kmsg"/);
  assert.match(job, /runner\.cjs --lava --swap 256 --scratch \/mnt\/scratch --expect proc-reclaim,pmadv-range,shrinkmem/, 'what the kernel was built with reaches the runner');
  assert.match(job, /printk\.devkmsg=on/);
  assert.match(readFileSync(join(dir, 'device.yaml'), 'utf8'), /command: "qemu-system-aarch64"/);
  console.log(`# lava-run ${res.seconds.toFixed(1)} s for ${res.cases} test cases`);
});

test('lava: a lab device type gets a tftp job with its URLs, and nothing is run', async (t) => {
  const dir = scratchDir(t, 'reclaim-lava-lab-');
  const r = await cli(['lava', '--output', dir, '--device-type', 'bcm2711-rpi-4-b', '--kernel-url', 'https://lab.example/Image', '--ramdisk-url', 'https://lab.example/ramdisk.cpio.gz', '--modules-url', 'https://lab.example/modules.tar.xz', '--expect', 'shrinkmem', '--filter', '^reclaim\\.']);
  assert.equal(r.code, 0, r.stderr);
  const job = readFileSync(join(dir, 'job.yaml'), 'utf8');
  assert.match(job, /device_type: "bcm2711-rpi-4-b"/);
  assert.match(job, /to: "tftp"/);
  assert.match(job, /url: "https:\/\/lab\.example\/modules\.tar\.xz"\n\s+compression: "xz"/);
  assert.match(job, /method: "u-boot"/);
  assert.match(job, /runner\.cjs --lava --swap 256 --scratch \/mnt\/scratch --expect shrinkmem --filter '\^reclaim\\\\\.'/);
  assert.throws(() => readFileSync(join(dir, 'device.yaml')), /ENOENT/, 'no device dictionary for a lab');
  const bad = await cli(['lava', '--run', '--device-type', 'rpi', '--kernel-url', 'Image', '--modules-url', 'https://x/m.tgz', '--kernel', '/etc/passwd']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--run: lava-run here has only the qemu device type's dictionary/);
  assert.match(bad.stderr, /--kernel-url Image: want an http\(s\):\/\/, ftp:\/\/ or file:\/\/ URL/);
});

test('lava results: test cases from lava-run\'s log lines, KTAP cases from the console, a failing case seen', () => {
  const line = (o: unknown) => JSON.stringify(o);
  const log = [
    line({ dt: 't', lvl: 'target', msg: 'KTAP version 1' }),
    line({ dt: 't', lvl: 'target', msg: '  ok 1 reclaim.a' }),
    line({ dt: 't', lvl: 'target', msg: '  not ok 2 reclaim.b' }),
    line({ dt: 't', lvl: 'target', msg: '  ok 3 reclaim.c # SKIP kernel lacks x' }),
    line({ dt: 't', lvl: 'results', msg: { case: 'reclaim.a', definition: '0_reclaim-harness', result: 'pass' } }),
    line({ dt: 't', lvl: 'results', msg: { case: 'reclaim.b', definition: '0_reclaim-harness', result: 'fail' } }).replace('"result"', '"endtc": ! "3", "result"'),
    line({ dt: 't', lvl: 'results', msg: { case: 'reclaim.c', definition: '0_reclaim-harness', result: 'skip' } }),
    line({ dt: 't', lvl: 'results', msg: { case: 'validate', definition: 'lava', result: 'pass' } }),
  ].join('\n');
  const got = lavaCases(log);
  assert.deepEqual(got.cases, [{ name: 'reclaim.a', result: 'pass' }, { name: 'reclaim.b', result: 'fail' }, { name: 'reclaim.c', result: 'skip' }]);
  assert.deepEqual(ktapCases(got.console), got.cases);
});
