// --modules without a guest: the three forms a kernel's modules come in, dependency order from
// modules.dep or from each module's own .modinfo, and what a kernel that lacks a driver is told.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { guestModules, modinfoDepends, modulesProblem } from '../../src/builds/modules.js';
import { imageRelease } from '../../src/builds/kernel-image.js';
import { scratchDir } from '../helpers/cli.js';

/** A fake module: a .modinfo-like run of NUL-separated key=value strings. */
const ko = (name: string, depends: string[], softdep = '') => Buffer.from(`\x7fELF\0name=${name}\0depends=${depends.join(',')}\0${softdep ? `softdep=${softdep}\0` : ''}vermagic=6.9.0 SMP\0`);

function fakeTree(root: string, release: string, o: { builtin?: string[]; without?: string[]; dep?: boolean } = {}): string {
  const dir = join(root, 'lib', 'modules', release);
  const mods: Record<string, [string, string[], string?]> = {
    virtio_ring: ['kernel/drivers/virtio/virtio_ring.ko', []],
    virtio: ['kernel/drivers/virtio/virtio.ko', ['virtio_ring']],
    virtio_mmio: ['kernel/drivers/virtio/virtio_mmio.ko', ['virtio', 'virtio_ring']],
    virtio_console: ['kernel/drivers/char/virtio_console.ko', ['virtio', 'virtio_ring']],
    virtio_blk: ['kernel/drivers/block/virtio_blk.ko', ['virtio', 'virtio_ring']],
    zsmalloc: ['kernel/mm/zsmalloc.ko', []],
    zram: ['kernel/drivers/block/zram/zram.ko', ['zsmalloc'], 'pre: lzo-rle'],
    lzo_rle: ['kernel/crypto/lzo-rle.ko', []],
  };
  for (const [name, [rel, deps, soft]] of Object.entries(mods)) {
    if (o.without?.includes(name) || o.builtin?.includes(name)) continue;
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), ko(name, deps, soft));
  }
  writeFileSync(join(dir, 'modules.order'), '');
  writeFileSync(join(dir, 'modules.builtin'), ['kernel/fs/ext4/ext4.ko', ...(o.builtin ?? []).map((b) => `kernel/x/${b}.ko`)].join('\n') + '\n');
  if (o.dep) writeFileSync(join(dir, 'modules.dep'), Object.entries(mods).filter(([n]) => !o.without?.includes(n)).map(([, [rel, deps]]) => `${rel}: ${deps.map((d) => mods[d]![0]).join(' ')}`).join('\n') + '\n');
  return dir;
}

test('modinfoDepends: depends= and softdep pre:, names with - as _', () => {
  assert.deepEqual(modinfoDepends(ko('zram', ['zsmalloc'], 'pre: lzo-rle crc32c post: foo')), ['zsmalloc', 'lzo_rle', 'crc32c']);
  assert.deepEqual(modinfoDepends(ko('virtio_ring', [])), []);
});

test('load order puts dependencies first, the same from .modinfo, modules.dep, the release dir, its root and a tarball', async (t) => {
  const root = scratchDir(t, 'reclaim-mods-');
  const dir = fakeTree(join(root, 'a'), '6.9.0');
  const want = ['virtio_ring', 'virtio', 'virtio_mmio', 'virtio_console', 'virtio_blk', 'zsmalloc', 'lzo_rle', 'zram'];
  const a = await guestModules(dir, '6.9.0', true);
  assert.deepEqual(a.load.map((m) => m.name), want);
  assert.deepEqual(a.load.map((m) => m.file).slice(0, 2), ['01-virtio_ring.ko', '02-virtio.ko']);
  const list = a.entries.find((e) => e.path.endsWith('load.list'));
  assert.equal(list && list.type === 'file' && String(list.data), a.load.map((m) => `${m.file}\n`).join(''));
  assert.equal((await guestModules(join(root, 'a'), undefined, true)).key, a.key, 'the tree above lib/modules');
  fakeTree(join(root, 'b'), '6.9.0', { dep: true });
  assert.deepEqual((await guestModules(join(root, 'b'), '6.9.0', true)).load.map((m) => m.name).filter((n) => n !== 'lzo_rle'), want.filter((n) => n !== 'lzo_rle'), 'modules.dep (no softdeps in it)');
  const tar = join(root, 'modules.tar.xz');
  execFileSync('tar', ['-cJf', tar, '-C', join(root, 'a'), 'lib']);
  assert.equal((await guestModules(tar, '6.9.0', true)).key, a.key, 'modules.tar.xz');
  assert.deepEqual((await guestModules(dir, '6.9.0', false)).load.map((m) => m.name), want.slice(0, 5), 'no zram without swap');
});

test('a driver neither built in nor a module is named with why; built-in ones are not loaded; the release must match', async (t) => {
  const root = scratchDir(t, 'reclaim-mods-');
  await assert.rejects(guestModules(fakeTree(join(root, 'a'), '6.9.0', { without: ['zram'] }), '6.9.0', true), /kernel 6\.9\.0 lacks what the guest needs[^]*\n  zram: swap, --swap \(CONFIG_ZRAM\)\n\(--swap none boots it without zram\)/);
  await assert.rejects(guestModules(fakeTree(join(root, 'b'), '6.9.0', { without: ['virtio'] }), '6.9.0', true), /virtio: needed by virtio_mmio/);
  const c = await guestModules(fakeTree(join(root, 'c'), '6.9.0', { builtin: ['virtio_console', 'virtio_blk'] }), '6.9.0', true);
  assert.ok(!c.load.some((m) => m.name === 'virtio_console' || m.name === 'virtio_blk'));
  await assert.rejects(guestModules(join(root, 'c'), '6.10.0', true), /no modules for the kernel's release 6\.10\.0; it has 6\.9\.0/);
});

test('modulesProblem: what --modules accepts, before any work', (t) => {
  const root = scratchDir(t, 'reclaim-mods-');
  assert.equal(modulesProblem(join(root, 'nope')), 'no such file or directory');
  assert.match(modulesProblem(root)!, /no lib\/modules\/RELEASE in it/);
  writeFileSync(join(root, 'x.deb'), 'not ar');
  assert.match(modulesProblem(join(root, 'x.deb'))!, /not a Debian package/);
  writeFileSync(join(root, 'x.zip'), '');
  assert.match(modulesProblem(join(root, 'x.zip'))!, /want a linux-image-\*\.deb/);
  fakeTree(root, '6.9.0');
  assert.equal(modulesProblem(root), undefined);
});

test('imageRelease reads the Linux version banner of an Image, also gzipped', (t) => {
  const root = scratchDir(t, 'reclaim-mods-');
  const img = Buffer.concat([Buffer.alloc(4096), Buffer.from('Linux version 6.9.0-3-arm64 (debian-kernel@lists.debian.org) #1 SMP\0')]);
  writeFileSync(join(root, 'Image'), img);
  assert.equal(imageRelease(join(root, 'Image')), '6.9.0-3-arm64');
  execFileSync('gzip', ['-k', join(root, 'Image')]);
  assert.equal(imageRelease(join(root, 'Image.gz')), '6.9.0-3-arm64');
});

test('imageRelease reads an x86 bzImage\'s release from its boot header (its banner is compressed)', (t) => {
  const root = scratchDir(t, 'reclaim-mods-');
  const bz = Buffer.alloc(0x1000);
  bz.write('HdrS', 0x202, 'latin1');
  bz.writeUInt16LE(0x300, 0x20e); // kernel_version: 0x300 + 0x200
  bz.write('6.12.57+deb13-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP\0', 0x500, 'latin1');
  bz.write('Linux version 9.9.9-not-this-one ', 0x800, 'latin1');
  writeFileSync(join(root, 'bzImage'), bz);
  assert.equal(imageRelease(join(root, 'bzImage')), '6.12.57+deb13-cloud-amd64');
});
