// --target ssh:// against an emulated board: a second arm64 VM, booted here with the harness's
// kernel but not by the harness, with dropbear and no Node. The verdict of every scenario must be
// the qemu target's on the same kernel; the board must be left as it was; a lost board is an ERROR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/native.js';
import { buildKernel } from '../../src/builds/kernel.js';
import type { RunReport } from '../../src/report/json.js';
import { startBoard, type Board } from '../helpers/board.js';
import { cli, scratchDir } from '../helpers/cli.js';

const report = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunReport;
const verdicts = (r: RunReport) => Object.fromEntries(r.results.map((x) => [x.id, x.status]));
/** What the suite changes on a machine it did not boot, and must put back. */
const boardState = (b: Board) =>
  b.ssh('cat /proc/swaps; ls /sys/block | grep zram; cat /proc/sys/vm/dirty_writeback_centisecs /proc/sys/vm/nr_hugepages /sys/kernel/mm/transparent_hugepage/enabled /sys/kernel/mm/ksm/run /sys/kernel/mm/ksm/pages_sharing; ls -d /tmp/reclaim-harness-* 2>/dev/null; for p in /proc/[0-9]*; do [ -s $p/cmdline ] && tr "\\0" " " < $p/cmdline && echo; done | grep -v \'^sh -c\' | sort; true');

test('run --target ssh:// on an emulated board: the qemu target\'s verdict for every scenario, the board as it was', async (t) => {
  const dir = scratchDir(t, 'reclaim-ssh-');
  const kernel = await buildKernel({});
  // the qemu target first: never two guests at once
  const q = await cli(['run', '--kernel', kernel.image, '--output', join(dir, 'qemu')]);
  assert.equal(q.code, 0, q.stderr.slice(-2000));
  const board = await startBoard(kernel.image, dir);
  t.after(() => board.stop());
  assert.doesNotMatch(board.ssh('command -v node nodejs; true'), /node/, 'no Node on the board');
  const before = boardState(board);
  const target = `ssh://root@127.0.0.1:${board.port}`;
  const r = await cli(['run', '--target', target, '--identity', board.identity, '--host-key', 'any', '--output', join(dir, 'ssh')]);
  const ssh = report(join(dir, 'ssh'));
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  assert.equal((ssh.features.kernel as { arch: string }).arch, 'arm64');
  assert.deepEqual(ssh.target, { kind: 'ssh', address: `root@127.0.0.1:${board.port}`, console: false, note: ssh.target!.note });
  assert.match(ssh.target!.note!, /console is not visible over ssh/);
  assert.deepEqual(verdicts(ssh), verdicts(report(join(dir, 'qemu'))));
  assert.equal(boardState(board), before, 'swap, knobs, KSM counts, processes (no ssh master left) and the bundle as before');
  console.log(`# board up in ${(board.upMs / 1000).toFixed(1)} s; ssh: ready ${(ssh.timings.bootMs / 1000).toFixed(1)} s, suite ${(ssh.timings.suiteMs / 1000).toFixed(1)} s; qemu: ready ${(report(join(dir, 'qemu')).timings.bootMs / 1000).toFixed(1)} s, suite ${(report(join(dir, 'qemu')).timings.suiteMs / 1000).toFixed(1)} s`);

  // --keep: the bundle stays, and the next run does not push it again
  const k1 = await cli(['run', '--target', target, '--identity', board.identity, '--host-key', 'any', '--keep', '--filter', '^reclaim\\.', '--output', join(dir, 'keep1')]);
  assert.equal(k1.code, 0, k1.stderr.slice(-2000));
  assert.match(k1.stderr, /pushing the bundle/);
  assert.match(board.ssh('ls -d /tmp/reclaim-harness-*'), /reclaim-harness-[0-9a-f]{24}/);
  const k2 = await cli(['run', '--target', target, '--identity', board.identity, '--host-key', 'any', '--filter', '^reclaim\\.', '--output', join(dir, 'keep2')]);
  assert.equal(k2.code, 0, k2.stderr.slice(-2000));
  assert.match(k2.stderr, /already on the board/);
  assert.equal(boardState(board), before, 'without --keep the bundle is removed');

  // a board that goes away mid-suite: an ERROR naming the lost connection, exit 1
  const p = spawn(process.execPath, [join(packageRoot, 'dist', 'src', 'cli', 'index.js'), 'run', '--target', target, '--identity', board.identity, '--host-key', 'any', '--output', join(dir, 'lost')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  await new Promise<void>((resolve) => p.stderr.on('data', (d) => ((err += d), /^PASS /m.test(err) && resolve())));
  board.vm.kill();
  const code = await new Promise((res) => p.on('exit', res));
  assert.equal(code, 1, err.slice(-2000));
  const lost = report(join(dir, 'lost'));
  const errors = lost.results.filter((x) => x.status === 'error');
  assert.ok(errors.length >= 1, `an ERROR; summary ${JSON.stringify(lost.summary)}; stderr: ${err.slice(-1500)}`);
  assert.match(errors[0]!.reason ?? '', /ssh connection to root@127\.0\.0\.1:\d+ was lost.*console is not visible over ssh/s);
  assert.equal(lost.results.filter((x) => x.status === 'fail').length, 0, 'no FAIL from a lost board');
});

test('--target ssh:// to a board that is not there: a guest.boot ERROR that names it, at once', async (t) => {
  const dir = scratchDir(t, 'reclaim-ssh-none-');
  const r = await cli(['run', '--target', 'ssh://root@127.0.0.1:1', '--host-key', 'any', '--output', dir]);
  assert.equal(r.code, 1);
  const rep = report(dir);
  assert.deepEqual(rep.results.map((x) => [x.id, x.status]), [['guest.boot', 'error']]);
  assert.match(rep.results[0]!.reason!, /ssh to root@127\.0\.0\.1:1: .*Connection refused/);
  assert.ok(r.ms < 10_000, `${r.ms} ms`);
});

test('--target ssh://: a malformed address and ssh-only options are refused before anything runs', async () => {
  const bad = await cli(['run', '--target', 'ssh://board']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--target ssh:\/\/board: want ssh:\/\/USER@HOST\[:PORT\]/);
  const port = await cli(['run', '--target', 'ssh://root@10.0.0.1:70000']);
  assert.match(port.stderr, /port 70000: want 1 to 65535/);
  const only = await cli(['run', '--identity', '/etc/passwd', '--keep']);
  assert.match(only.stderr, /--identity, --keep: only with --target ssh:\/\/USER@HOST\[:PORT\]/);
  const kernel = await cli(['run', '--target', 'ssh://root@10.0.0.1', '--kernel', '/etc/passwd', '--host-key', 'maybe']);
  assert.match(kernel.stderr, /--target ssh runs on the board's kernel: --kernel do not apply/);
  assert.match(kernel.stderr, /--host-key maybe: want check, new, any/);
});
