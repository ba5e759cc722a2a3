// The on-target runner (runner.cjs) on this machine's kernel, with no host process: KTAP on
// stdout, the machine put back afterwards. Its LAVA signals are checked under lava --run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/native.js';
import { bundleRunner } from '../../src/builds/guest/agent-bundle.js';
import { stageProblem } from '../../src/agent/stage.js';
import type { RunReport } from '../../src/report/json.js';
import { scratchDir } from '../helpers/cli.js';

const problem = stageProblem();

test('runner.cjs on this machine: KTAP with every scenario, 0 FAIL, swap and knobs put back', { skip: problem }, async (t) => {
  const dir = scratchDir(t, 'reclaim-runner-');
  const scratch = join(packageRoot, 'out', 'runner-scratch'); // a disk file system, not tmpfs
  spawnSync('mkdir', ['-p', scratch]);
  const swaps = readFileSync('/proc/swaps', 'utf8');
  const thp = existsSync('/sys/kernel/mm/transparent_hugepage/enabled') ? readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8') : '';
  const release = join(packageRoot, 'build', 'Release');
  const env = { ...process.env, RECLAIM_SHIM: join(release, 'reclaim_shim.node'), RECLAIM_SUBJECT: join(release, 'subject') };
  const r = spawnSync(process.execPath, [await bundleRunner(), '--scratch', scratch, '--output', dir], { env, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  assert.match(r.stdout, /^KTAP version 1\n1\.\.\d+\n/);
  const rep = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunReport;
  assert.equal(r.stdout, readFileSync(join(dir, 'results.ktap'), 'utf8'));
  assert.equal((r.stdout.match(/^ {2}(not )?ok \d+ /gm) ?? []).length, rep.results.length);
  assert.equal(rep.summary.fail + rep.summary.error, 0);
  assert.ok(rep.summary.pass >= 80, `${rep.summary.pass} pass`);
  assert.equal(readFileSync('/proc/swaps', 'utf8'), swaps);
  if (thp) assert.equal(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'), thp);
  // --swap none: what needs swap is a SKIP that says how to get it, and nothing FAILs
  const noSwapDir = join(dir, 'noswap');
  const n = spawnSync(process.execPath, [await bundleRunner(), '--scratch', scratch, '--swap', 'none', '--output', noSwapDir], { env, encoding: 'utf8', timeout: 300_000 });
  assert.equal(n.status, 0, n.stderr.slice(-3000));
  const noSwap = JSON.parse(readFileSync(join(noSwapDir, 'results.json'), 'utf8')) as RunReport;
  assert.equal(noSwap.summary.fail + noSwap.summary.error, 0);
  const swapSkips = noSwap.results.filter((x) => x.status === 'skip' && /swap/.test(x.reason ?? ''));
  assert.ok(swapSkips.length > 0, 'scenarios that need swap are skipped');
  for (const x of swapSkips) assert.equal(x.reason, 'needs swap (run with --swap SIZE)', x.id);
  assert.equal(readFileSync('/proc/swaps', 'utf8'), swaps);
  // --expect: an interface this kernel lacks is a FAIL, not a SKIP (the lava command passes what it built)
  const exp = spawnSync(process.execPath, [await bundleRunner(), '--scratch', scratch, '--expect', 'proc-reclaim', '--filter', '^reclaim\\.mode-0200$'], { env, encoding: 'utf8', timeout: 300_000 });
  assert.equal(exp.status, 1, exp.stderr.slice(-3000));
  assert.match(exp.stdout, /# FAIL reclaim\.mode-0200: expected \/proc\/PID\/reclaim \(--expect\) but the target lacks \/proc\/PID\/reclaim\n\s+not ok 1 reclaim\.mode-0200\n/);
  assert.equal(readFileSync('/proc/swaps', 'utf8'), swaps);
  // a tmpfs scratch is refused, and says why
  const tmpfs = spawnSync(process.execPath, [await bundleRunner(), '--scratch', '/dev/shm'], { env, encoding: 'utf8' });
  assert.equal(tmpfs.status, 2);
  assert.match(tmpfs.stderr, /scratch \/dev\/shm is on tmpfs: file pages there are shmem/);
});
