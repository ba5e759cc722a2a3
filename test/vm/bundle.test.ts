// The target bundle: Debian's arm64 Node with its own loader and libraries, the agent, runner,
// shim and subject. It must run with none of this machine's libraries (here under qemu-user).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { execa } from 'execa';
import { targetBundle } from '../../src/builds/guest/target-bundle.js';
import { scratchDir } from '../helpers/cli.js';

test('target bundle: self-contained, cached by content, and Node starts from it alone', async (t) => {
  const b = await targetBundle();
  assert.equal((await targetBundle()).cached, true, 'the second call comes from the cache');
  assert.ok(b.bytes > 10 << 20 && b.bytes < 48 << 20, `${b.bytes} bytes`);
  const dir = scratchDir(t, 'reclaim-bundle-test-');
  await execa('tar', ['-xzf', b.tarball, '-C', dir]);
  const root = join(dir, 'reclaim');
  for (const f of ['node', 'node.bin', 'agent.cjs', 'runner.cjs', 'reclaim_shim.node', 'subject', 'lib/ld-linux-aarch64.so.1', 'lib/libnode.so.108', 'lib/libc.so.6']) assert.ok(existsSync(join(root, f)), f);
  assert.equal(readFileSync(join(root, 'BUNDLE'), 'utf8').trim(), b.key);
  // every library any ELF file in it needs is in it
  const have = new Set(readdirSync(join(root, 'lib')));
  for (const f of ['node.bin', 'reclaim_shim.node', ...[...have].map((l) => `lib/${l}`)]) {
    const { stdout } = await execa('readelf', ['-d', join(root, f)]);
    for (const m of stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)) assert.ok(have.has(m[1]!), `${f} needs ${m[1]}`);
  }
  assert.ok(!readFileSync(join(root, 'lib', 'libnode.so.108')).includes('/usr/share/nodejs/'), 'builtins relocated');
  // what the launcher does, with the loader run by qemu-user: fd 9 is js/, nothing from /usr
  const fd = openSync(join(root, 'js'), 'r');
  try {
    const stdio = ['ignore', 'pipe', 'pipe', ...Array<'ignore'>(6).fill('ignore'), fd] as const;
    const r = spawnSync('qemu-aarch64-static', [join(root, 'lib', 'ld-linux-aarch64.so.1'), '--library-path', join(root, 'lib'), join(root, 'node.bin'), '-e', 'console.log(JSON.stringify({ v: process.version, arch: process.arch, fetch: typeof fetch }))'], { stdio: [...stdio], encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { v: JSON.parse(r.stdout).v, arch: 'arm64', fetch: 'function' });
    assert.match(JSON.parse(r.stdout).v, /^v18\./);
  } finally {
    closeSync(fd);
  }
});
