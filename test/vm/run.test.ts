// End to end: the CLI boots the arm64 guest and runs the suite; crashes and
// interrupts are handled. Uses the cached kernels the boot smoke test builds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/native.js';
import { Guest, GuestError } from '../../src/target/guest.js';
import { prepare } from '../../src/pipeline.js';
import type { RunReport } from '../../src/report/json.js';
import { kcidbProblems } from '../../src/report/kcidb.js';
import { suite } from '../../src/scenarios/index.js';
import { cli, scratchDir } from '../helpers/cli.js';

const CLI = join(packageRoot, 'dist', 'src', 'cli', 'index.js');
/** Scenarios that need an interface only the patch series adds. */
const PATCHED_ONLY = new Set(suite.filter((s) => s.needs.feature && s.needs.feature !== 'process-mrelease').map((s) => s.id));

const qemuFor = (dir: string) => {
  try {
    return execFileSync('pgrep', ['-f', `reclaim-harness:${dir}`], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
};

test('run on the patched kernel: every scenario passes, exit 0, logs kept', async (t) => {
  const dir = scratchDir(t, 'reclaim-run-');
  const r = await cli(['run', '--format', 'json', '--output', dir]);
  const rep = JSON.parse(r.stdout) as RunReport;
  const bad = rep.results.filter((x) => x.status !== 'pass');
  assert.deepEqual(bad, [], r.stderr.slice(-3000));
  assert.equal(r.code, 0);
  assert.ok(rep.results.length >= 150 && rep.timings.bootMs > 0 && rep.timings.suiteMs > 0, `${rep.results.length} results`);
  for (const f of ['console.log', 'agent.log', 'results.json', 'results.ktap', 'results.junit.xml', 'results.kcidb.json', 'results.txt']) assert.ok(existsSync(join(dir, f)), f);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')).summary, rep.summary);
  // KCIDB: the v5.3 rules, the series' hash, the compiler from the guest's /proc/version
  const kcidb = JSON.parse(readFileSync(join(dir, 'results.kcidb.json'), 'utf8'));
  assert.deepEqual(kcidbProblems(kcidb), []);
  assert.equal(kcidb.tests.length, rep.results.length);
  assert.match(kcidb.checkouts[0].patchset_hash, /^[0-9a-f]{64}$/);
  assert.match(kcidb.builds[0].compiler, /aarch64-linux-gnu-gcc/);
});

test('run --patches none: patched interfaces SKIP with the reason, upstream scenarios PASS', async (t) => {
  const dir = scratchDir(t, 'reclaim-run-');
  const r = await cli(['run', '--patches', 'none', '--format', 'json', '--output', dir]);
  const rep = JSON.parse(r.stdout) as RunReport;
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  for (const x of rep.results) {
    if (PATCHED_ONLY.has(x.id)) assert.ok(x.status === 'skip' && /^kernel lacks (\/proc\/PID\/reclaim|\/dev\/shrinkmem|process_madvise PMADV_FLAG_RANGE)$/.test(x.reason ?? ''), `${x.id}: ${x.status} ${x.reason}`);
    else assert.equal(x.status, 'pass', `${x.id}: ${x.reason}`);
  }
  assert.ok(rep.summary.pass >= 60 && rep.summary.skip >= 80, JSON.stringify(rep.summary));
});

test('a kernel panic (sysrq-c) is reported within the step timeout, with the panic excerpt', async (t) => {
  const dir = scratchDir(t, 'reclaim-run-');
  const { kernel, image } = await prepare({ patches: 'none' });
  const guest = await Guest.start({ kernel: kernel.image, initrd: image.initrd, outDir: dir, timeoutMs: 60_000 });
  t.after(() => guest.kill());
  const t0 = Date.now();
  await assert.rejects(guest.request('write', { path: '/proc/sysrq-trigger', text: 'c' }, 30_000), (e: GuestError) => {
    assert.equal(e.code, 'ECRASH');
    assert.equal(e.crash?.kind, 'panic');
    assert.match(e.message, /Kernel panic - not syncing: sysrq triggered crash/);
    return true;
  });
  assert.ok(Date.now() - t0 < 30_000);
  const end = await guest.stop();
  assert.equal(end.crash?.kind, 'panic');
  assert.equal(qemuFor(dir), '');
  assert.match(readFileSync(join(dir, 'console.log'), 'utf8'), /sysrq triggered crash/);
});

test('SIGINT during a run stops QEMU, removes temporary files and keeps partial results', async (t) => {
  const dir = scratchDir(t, 'reclaim-run-');
  const before = new Set(readdirSync(tmpdir()).filter((f) => f.startsWith('reclaim-guest-')));
  const p = spawn(process.execPath, [CLI, 'run', '--patches', 'none', '--output', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    p.stderr.on('data', (d) => {
      stderr += d;
      if (/PASS|SKIP/.test(stderr)) resolve(); // mid-suite
    });
    p.on('exit', () => reject(new Error(`run ended before it was interrupted:\n${stderr}`)));
  });
  assert.notEqual(qemuFor(dir), '', 'QEMU runs mid-suite');
  p.kill('SIGINT');
  const code = await new Promise((r) => p.on('exit', (c) => r(c)));
  assert.equal(code, 130);
  assert.equal(qemuFor(dir), '', 'no QEMU left');
  const leftover = readdirSync(tmpdir()).filter((f) => f.startsWith('reclaim-guest-') && !before.has(f));
  assert.deepEqual(leftover, []);
  const rep = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunReport;
  assert.equal(rep.interrupted, 'SIGINT');
  assert.ok(rep.results.length >= 1 && rep.results.length < 16, `partial: ${rep.results.length} results`);
});

test('run --repeat 3: one boot, three rounds, each result its worst verdict, the changes listed', async (t) => {
  const dir = scratchDir(t, 'reclaim-run-');
  const r = await cli(['run', '--repeat', '3', '--filter', '^(reclaim\\.zombie-noop|globals\\.zero-filled-zeromap|mrelease\\.anon)$', '--format', 'json', '--output', dir]);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const rep = JSON.parse(r.stdout) as RunReport;
  assert.deepEqual(rep.results.map((x) => `${x.id} ${x.status}`).sort(), ['globals.zero-filled-zeromap pass', 'mrelease.anon pass', 'reclaim.zombie-noop pass']);
  assert.deepEqual([rep.repeat?.rounds, rep.repeat?.of, rep.repeat?.changed], [3, 3, []]);
  assert.equal(r.stderr.match(/run: round \d\/3: 3 pass, 0 fail/g)?.length, 3, r.stderr);
  assert.equal(r.stderr.match(/agent ready/g)?.length, 1, 'one boot');
});
