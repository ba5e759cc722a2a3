// The cache checks what it serves: each entry against the manifest it was published with; a
// corrupt one is built again, with a line that says so. A full disk is said as such.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from '../helpers/cli.js';
import { diskFull, entryProblem, publishDir, usableEntry } from '../../src/builds/cache.js';
import { debKernel } from '../../src/builds/modules.js';

/** Runs fn with the cache in a directory of its own, and what it said on stderr. */
async function withCache<T>(t: { after(fn: () => void): void }, fn: (root: string) => Promise<T>): Promise<{ value: T; said: string }> {
  const root = scratchDir(t, 'reclaim-cache-');
  const before = process.env.RECLAIM_HARNESS_CACHE;
  const write = process.stderr.write.bind(process.stderr);
  let said = '';
  process.env.RECLAIM_HARNESS_CACHE = root;
  process.stderr.write = ((s: string) => ((said += s), true)) as typeof process.stderr.write;
  try {
    return { value: await fn(root), said };
  } finally {
    process.stderr.write = write;
    if (before === undefined) delete process.env.RECLAIM_HARNESS_CACHE;
    else process.env.RECLAIM_HARNESS_CACHE = before;
  }
}

test('cache: an entry holds what its manifest says; a changed, missing or extra file, or no manifest, is named', async (t) => {
  await withCache(t, async (root) => {
    const dir = join(root, 'images', 'k');
    await publishDir(dir, async (tmp) => {
      writeFileSync(join(tmp, 'Image'), 'kernel');
      mkdirSync(join(tmp, 'sub'));
      writeFileSync(join(tmp, 'sub', 'config'), 'CONFIG_X=y');
      symlinkSync('Image', join(tmp, 'vmlinuz'));
    });
    assert.equal(entryProblem(dir), undefined);
    appendFileSync(join(dir, 'Image'), '!');
    assert.match(entryProblem(dir)!, /^Image differs from what was published \(6 bytes, sha256 [0-9a-f]{12}, now 7 bytes, sha256 [0-9a-f]{12}\)/);
    writeFileSync(join(dir, 'Image'), 'kernel');
    unlinkSync(join(dir, 'sub', 'config'));
    assert.equal(entryProblem(dir), 'sub/config is missing');
    writeFileSync(join(dir, 'sub', 'config'), 'CONFIG_X=y');
    writeFileSync(join(dir, 'stray'), '');
    assert.match(entryProblem(dir)!, /files it was not published with: stray/);
    rmSync(join(dir, 'stray'));
    assert.equal(entryProblem(dir), undefined);
    rmSync(join(dir, '.manifest.json'));
    assert.match(entryProblem(dir)!, /no manifest/);
  });
});

test('cache: a corrupt entry is removed with a line that says why, so it is built again', async (t) => {
  const { said } = await withCache(t, async (root) => {
    const dir = join(root, 'images-guest', 'x');
    await publishDir(dir, async (tmp) => writeFileSync(join(tmp, 'initramfs.cpio'), 'cpio'));
    assert.equal(usableEntry(dir, join(dir, 'initramfs.cpio')), true);
    writeFileSync(join(dir, 'initramfs.cpio'), 'CPIO');
    assert.equal(usableEntry(dir, join(dir, 'initramfs.cpio'), false), false, 'checked without a word (outside the lock)');
    assert.equal(usableEntry(dir, join(dir, 'initramfs.cpio')), false);
    await publishDir(dir, async (tmp) => writeFileSync(join(tmp, 'initramfs.cpio'), 'cpio'));
    assert.equal(usableEntry(dir, join(dir, 'initramfs.cpio')), true, 'published again whole');
  });
  assert.match(said, /cache: .*images-guest\/x is corrupt \(initramfs\.cpio differs from what was published \(4 bytes, sha256 \w+, now 4 bytes, sha256 \w+\)\): building it again/);
});

test('cache: the unpacked modules of a .deb are checked on use and unpacked again when corrupt', async (t) => {
  const { value, said } = await withCache(t, async (root) => {
    const pkg = join(root, 'pkg');
    mkdirSync(join(pkg, 'DEBIAN'), { recursive: true });
    mkdirSync(join(pkg, 'boot'));
    writeFileSync(join(pkg, 'DEBIAN', 'control'), 'Package: linux-image-test\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t.invalid>\nDescription: t\n');
    writeFileSync(join(pkg, 'boot', 'vmlinuz-6.12.0-test'), 'Image');
    const deb = join(root, 'linux-image-test.deb');
    execFileSync('dpkg-deb', ['--root-owner-group', '--build', pkg, deb], { stdio: 'ignore' });
    const first = await debKernel(deb);
    writeFileSync(first, 'evil');
    const again = await debKernel(deb);
    return { first, again, content: readFileSync(again, 'utf8') };
  });
  assert.equal(value.again, value.first);
  assert.equal(value.content, 'Image');
  assert.match(said, /is corrupt \(tree\/boot\/vmlinuz-6\.12\.0-test differs/);
});

test('cache: a full disk is said as such, with the entry being written', () => {
  const e = diskFull(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: 'ENOSPC' }), join(process.env.RECLAIM_HARNESS_CACHE ?? '/x', 'images', 'abc.tmp-12'));
  assert.match(e!.message, /^no space left on the disk of .*images\/abc\.tmp-12 while writing the cache entry .*images\/abc: free some space, or set RECLAIM_HARNESS_CACHE/);
  assert.match(diskFull(new Error('tar: x: Cannot write: No space left on device'), '/c/e')!.message, /no space left/);
  assert.equal(diskFull(new Error('EACCES'), '/c/e'), undefined);
});
