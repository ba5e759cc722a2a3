// Boot smoke test: the patched kernel and a --patches none kernel, each with
// qemu/smoke/probe.c as /init under qemu-system-aarch64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { packageRoot } from '../../src/native.js';
import { buildKernel } from '../../src/builds/kernel.js';
import { bootSmoke, type SmokeResult } from '../../src/target/smoke.js';

const PATCHED_ONLY = [
  'proc_reclaim_mode_0200',
  'proc_reclaim_anon_swaps_child',
  'proc_reclaim_ALL_is_EINVAL',
  'dev_shrinkmem_write_read',
  'process_madvise_PAGEOUT_FLAG_RANGE',
];
// in the probe's order
const ALL = ['proc_reclaim_mode_0200', 'zram_swap', ...PATCHED_ONLY.slice(1), 'process_madvise_DONTNEED_live_is_EINVAL'];

function describe(r: SmokeResult): string {
  return `console: ${r.consoleLog}\n${r.checks.map((c) => `${c.ok ? 'ok' : 'not ok'} ${c.name}${c.skip ? ' SKIP' : ''} ${c.reason}`).join('\n')}`;
}

function assertBootedClean(r: SmokeResult): void {
  assert.equal(r.boot.crash, undefined, `kernel crash:\n${r.boot.crash?.excerpt}`);
  assert.equal(r.boot.timedOut, false, `boot timed out; ${describe(r)}`);
  assert.ok(r.done, `probe did not finish; ${describe(r)}`);
  assert.deepEqual(r.checks.map((c) => c.name), ALL, describe(r));
}

test('patched kernel: every smoke check passes, none skipped', async () => {
  const k = await buildKernel();
  assert.equal((await buildKernel()).cached, true, 'second call comes from the cache');
  const r = await bootSmoke(k.image, join(packageRoot, 'out', 'smoke-patched'));
  assertBootedClean(r);
  for (const c of r.checks) assert.ok(c.ok && !c.skip, `${c.name}: ${c.reason}; ${describe(r)}`);
});

test('--patches none kernel: the patched interfaces are absent', async () => {
  const k = await buildKernel({ patches: 'none' });
  const r = await bootSmoke(k.image, join(packageRoot, 'out', 'smoke-none'));
  assertBootedClean(r);
  for (const c of r.checks) {
    if (PATCHED_ONLY.includes(c.name)) assert.ok(c.skip && /not present/.test(c.reason), `${c.name} should be absent: ${c.reason}`);
    else assert.ok(c.ok && !c.skip, `${c.name}: ${c.reason}`);
  }
});
