// The arm64 cross-build: AArch64 binaries that work, and a loader that refuses them here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { crossBuild } from '../../src/builds/crossbuild.js';
import { loadNative } from '../../src/native.js';
import { Subject } from '../../src/agent/subject.js';

const QEMU_USER = '/usr/bin/qemu-aarch64-static';

test('cross-build produces an AArch64 shim and a static AArch64 subject', async (t) => {
  const r = await crossBuild('arm64');
  const describe = (p: string) => execFileSync('file', ['-b', p], { encoding: 'utf8' });
  assert.match(describe(r.shim), /ELF 64-bit LSB shared object, ARM aarch64/);
  assert.match(describe(r.subject), /ELF 64-bit LSB executable, ARM aarch64.*statically linked/);
  assert.equal((await crossBuild('arm64')).cached, true, 'unchanged sources are not rebuilt');

  if (process.arch !== 'arm64') {
    assert.throws(() => loadNative(r.shim), /was built for arm64, but this Node\.js runs on x64/);
  }
  if (!existsSync(QEMU_USER)) return t.skip(`${QEMU_USER} missing: run 'reclaim-harness doctor --fix'`);
  const s = await Subject.spawn(QEMU_USER, {}, [r.subject]);
  const m = await s.map('anon-private', 4);
  await s.touch(m.id, 'write');
  assert.deepEqual(await s.verify(), { checked: 4, badCount: 0, bad: [] });
  await s.exit();
});

test('the loader names a missing shim and how to build it', () => {
  assert.throws(() => loadNative('/nonexistent/reclaim_shim.node'), /native shim not found at \/nonexistent\/reclaim_shim\.node; build it with/);
});
